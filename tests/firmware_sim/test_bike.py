"""A bike: parked it drifts around its spot, riding it moves along the streets, a cut relay stops it, no fix freezes
the reported position."""

from __future__ import annotations

import math
import random

from firmware_sim.tracker.bike import Bike
from firmware_sim.tracker.geo import plane_distance
from firmware_sim.tracker.streets import StreetGrid

GRID = StreetGrid()


def parked_bike(seed: int = 1) -> tuple[Bike, random.Random]:
    rng = random.Random(seed)
    return Bike(GRID, GRID.point((8, 8)), rng), rng


def test_a_parked_bike_reports_around_its_spot_and_does_not_move() -> None:
    bike, rng = parked_bike()
    spot = bike.point
    for _ in range(1000):
        seen = bike.advance(10.0, rng)
        assert seen.valid and plane_distance(seen.point, spot) < 90.0
        assert seen.speed_kmh <= 4
    assert bike.point == spot and bike.standing


def test_a_ride_moves_along_the_streets_then_parks_at_its_destination() -> None:
    bike, rng = parked_bike(2)
    bike.ride_to((12, 3), rng)
    assert bike.riding
    seen_speeds = []
    for _ in range(2000):
        seen = bike.advance(5.0, rng)
        seen_speeds.append(seen.speed_kmh)
        if bike.standing:
            break
    assert bike.point == GRID.point((12, 3))
    assert max(seen_speeds) >= 15
    assert not bike.riding
    # Parked again: the next reports drift around the destination.
    assert plane_distance(bike.advance(10.0, rng).point, GRID.point((12, 3))) < 90.0


def test_a_cut_relay_stops_the_bike_where_it_is_and_restoring_lets_it_go_on() -> None:
    bike, rng = parked_bike(3)
    bike.ride_to(None, rng, min_blocks=10)
    for _ in range(20):
        bike.advance(5.0, rng)
    bike.cut_engine(rng)
    held = bike.point
    for _ in range(30):
        seen = bike.advance(10.0, rng)
        assert seen.speed_kmh <= 4
    assert bike.point == held and bike.engine_cut and bike.standing
    bike.restore_engine()
    for _ in range(10):
        bike.advance(5.0, rng)
    assert plane_distance(bike.point, held) > 50.0


def test_without_a_fix_the_last_good_position_is_reported_invalid() -> None:
    bike, rng = parked_bike(4)
    bike.ride_to(None, rng, min_blocks=10)
    last_good = bike.advance(5.0, rng)
    bike.lose_fix()
    for _ in range(20):
        seen = bike.advance(5.0, rng)
        assert not seen.valid and seen.point == last_good.point and seen.satellites <= 3
    assert plane_distance(bike.point, last_good.point) > 50.0  # the bike went on meanwhile
    bike.regain_fix()
    seen = bike.advance(5.0, rng)
    assert seen.valid and math.dist(seen.point, bike.point) < 10.0
