"""The local plane and the street grid: coordinates round-trip, courses point the right way, paths follow streets."""

from __future__ import annotations

import itertools
import random

import pytest
from firmware_sim.tracker.geo import FUTIAN, LatLon, LocalFrame, course_of, distance_m
from firmware_sim.tracker.streets import StreetGrid


def test_local_frame_round_trips_and_agrees_with_haversine() -> None:
    frame = LocalFrame(FUTIAN)
    for point in [(0.0, 0.0), (1500.0, -800.0), (-2000.0, 2000.0)]:
        back = frame.to_point(frame.to_latlon(point))
        assert back == pytest.approx(point, abs=1e-6)
    east = frame.to_latlon((1000.0, 0.0))
    north = frame.to_latlon((0.0, 1000.0))
    assert distance_m(FUTIAN, east) == pytest.approx(1000.0, abs=0.5)
    assert distance_m(FUTIAN, north) == pytest.approx(1000.0, abs=0.5)
    assert north.lat > FUTIAN.lat and east.lon > FUTIAN.lon


def test_distance_of_a_known_pair() -> None:
    # Shenzhen Futian to Guangzhou Tianhe: about 105 km as the crow flies.
    assert distance_m(FUTIAN, LatLon(23.1291, 113.3240)) == pytest.approx(100_300, rel=0.02)


@pytest.mark.parametrize(("dx", "dy", "course"), [(0, 1, 0), (1, 1, 45), (1, 0, 90), (0, -1, 180), (-1, 0, 270),
                                                   (-1, 1, 315)])
def test_course_is_clockwise_from_north(dx: float, dy: float, course: int) -> None:
    assert course_of(dx, dy) == course


def test_grid_points_and_nearest_crossing() -> None:
    grid = StreetGrid(block_m=200.0, size=11)
    assert grid.point((5, 5)) == (0.0, 0.0)  # centred on the origin
    assert grid.point((0, 0)) == (-1000.0, -1000.0)
    assert grid.nearest((90.0, -110.0)) == (5, 4)
    assert grid.nearest((99_999.0, -99_999.0)) == (10, 0)  # clamped to the district
    with pytest.raises(ValueError, match="2 x 2"):
        StreetGrid(size=1)


@pytest.mark.parametrize("seed", range(20))
def test_paths_step_one_block_at_a_time_with_at_most_two_turns(seed: int) -> None:
    rng = random.Random(seed)
    grid = StreetGrid()
    start, end = grid.random_crossing(rng), grid.random_crossing(rng)
    path = grid.path(start, end, rng)
    assert path[0] == start and path[-1] == end
    steps = [(b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(path)]
    assert all(abs(di) + abs(dj) == 1 for di, dj in steps)
    assert len(steps) == abs(end[0] - start[0]) + abs(end[1] - start[1])  # never a detour
    turns = sum(1 for a, b in itertools.pairwise(steps) if a != b)
    assert turns <= 2


def test_crossing_at_least_keeps_its_distance() -> None:
    rng = random.Random(3)
    grid = StreetGrid(size=5)
    for _ in range(50):
        start = grid.random_crossing(rng)
        far = grid.crossing_at_least(start, 4, rng)
        assert abs(far[0] - start[0]) + abs(far[1] - start[1]) >= 4
    # No crossing is 100 blocks away: the farthest corner is taken instead.
    assert grid.crossing_at_least((0, 0), 100, rng) == (4, 4)
