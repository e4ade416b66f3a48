"""Rides: along the streets, at e-bike speeds, stopping only at crossings, arriving where they were sent."""

from __future__ import annotations

import math
import random

import pytest
from firmware_sim.tracker.geo import Point, course_of, plane_distance
from firmware_sim.tracker.route import COMMUTER, THIEF, Ride, RideStyle
from firmware_sim.tracker.streets import StreetGrid

GRID = StreetGrid()


def on_a_street(point: Point) -> bool:
    def on_line(value: float) -> bool:
        offset = (value + (GRID.size - 1) * GRID.block_m / 2) / GRID.block_m
        return abs(offset - round(offset)) * GRID.block_m < 1e-6

    return on_line(point[0]) or on_line(point[1])


def is_crossing(point: Point) -> bool:
    return plane_distance(point, GRID.point(GRID.nearest(point))) < 1e-6


def ride_between(seed: int, style: RideStyle = COMMUTER) -> tuple[Ride, list[Point], float]:
    rng = random.Random(seed)
    start = GRID.random_crossing(rng)
    end = GRID.crossing_at_least(start, 8, rng)
    waypoints = [GRID.point(c) for c in GRID.path(start, end, rng)]
    return Ride(waypoints, rng, style), waypoints, sum(map(plane_distance, waypoints, waypoints[1:]))


@pytest.mark.parametrize("seed", range(8))
def test_a_ride_follows_the_streets_at_e_bike_speed_and_arrives(seed: int) -> None:
    ride, waypoints, length = ride_between(seed)
    seconds, previous = 0, ride.point
    top_speed = 0.0
    while not ride.arrived:
        ride.advance(1.0)
        seconds += 1
        point = ride.point
        assert on_a_street(point), point
        if ride.speed == 0.0:
            assert is_crossing(point), f"stopped between crossings at {point}"
        moved = plane_distance(previous, point)
        assert moved <= 25 / 3.6 + 1e-6  # never faster than the fastest cruise
        same_street = abs(point[0] - previous[0]) < 1e-6 or abs(point[1] - previous[1]) < 1e-6
        if moved > 0.5 and same_street:
            # Along a street the course is the direction of travel.
            assert ride.course == course_of(point[0] - previous[0], point[1] - previous[1])
        top_speed = max(top_speed, ride.speed_kmh)
        previous = point
        assert seconds < 3600, "the ride never arrived"
    assert ride.point == waypoints[-1]
    assert ride.speed == 0.0 and ride.remaining_m == 0.0
    average_kmh = length / seconds * 3.6
    assert 8.0 <= average_kmh <= 25.0  # red lights included
    assert 15.0 <= top_speed <= 25.0


def test_a_commuter_stops_at_some_crossings_a_thief_hardly_ever() -> None:
    def stops(style: RideStyle) -> int:
        total = 0
        for seed in range(10):
            ride, _, _ = ride_between(seed, style)
            standing = False
            while not ride.arrived:
                ride.advance(1.0)
                if ride.stopped_at_crossing and not standing:
                    total += 1
                standing = ride.stopped_at_crossing
        return total

    commuter, thief = stops(COMMUTER), stops(THIEF)
    assert commuter > 10  # about a third of some 100 crossings
    assert thief < commuter / 3


def test_the_thief_rides_faster() -> None:
    ride, _, length = ride_between(1, THIEF)
    seconds = 0
    while not ride.arrived:
        ride.advance(2.0)
        seconds += 2
    assert length / seconds * 3.6 > 18.0


def test_the_step_size_does_not_change_the_ride() -> None:
    # Integration runs in half-second steps whatever the caller asks: 10 s reports see the same motion as 1 s ones.
    coarse, _, _ = ride_between(5)
    fine, _, _ = ride_between(5)
    for _ in range(30):
        coarse.advance(10.0)
        for _ in range(10):
            fine.advance(1.0)
        assert math.dist(coarse.point, fine.point) < 1e-6


def test_a_ride_of_one_point_has_arrived() -> None:
    ride = Ride([(0.0, 0.0)], random.Random(1))
    assert ride.arrived and ride.remaining_m == 0.0
    ride.advance(10.0)
    assert ride.point == (0.0, 0.0)
    with pytest.raises(ValueError, match="starting point"):
        Ride([], random.Random(1))
