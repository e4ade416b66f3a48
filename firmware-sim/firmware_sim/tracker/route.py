"""A ride along the streets at e-bike speed: cruise, slow for turns, stop at some crossings, arrive.

Kinematics are integrated in steps of at most half a second whatever the caller's interval, so a report every 10 s
sees the same motion as one every second. The rider cruises at a speed drawn per stretch (15-25 km/h by default, the
legal e-bike limit being 25), accelerates and brakes at comfortable rates, slows to about 10 km/h to turn, and stops
at a share of the crossings for a red light. A thief's style rides faster and hardly stops.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from firmware_sim.tracker.geo import Point, course_of, plane_distance

STEP_S = 0.5
TURN_SPEED_MS = 10 / 3.6
CREEP_MS = 0.8  # the slowest a rider rolls towards a crossing, so a stop is reached rather than approached forever
LOOKAHEAD = 4  # crossings ahead considered for braking


@dataclass(frozen=True, slots=True)
class RideStyle:
    speed_kmh: tuple[float, float] = (15.0, 25.0)  # cruise speed, drawn for each stretch between stops
    accel_ms2: float = 1.0
    brake_ms2: float = 1.5
    stop_chance: float = 0.35  # at each crossing passed (the end of the ride is always a stop)
    stop_s: tuple[float, float] = (5.0, 45.0)  # how long a red light holds the rider


COMMUTER = RideStyle()
THIEF = RideStyle(speed_kmh=(24.0, 32.0), accel_ms2=1.5, stop_chance=0.05, stop_s=(2.0, 8.0))


class Ride:
    """Motion along `waypoints` (metres); `advance(dt)` moves it on, `point`/`speed_kmh`/`course` report it."""

    __slots__ = ("_along", "_cruise", "_leg", "_points", "_rng", "_stop_left", "_stops", "_style", "course", "speed")

    def __init__(self, waypoints: list[Point], rng: random.Random, style: RideStyle = COMMUTER) -> None:
        if len(waypoints) < 1:
            raise ValueError("a ride needs at least its starting point")
        self._points = waypoints
        self._rng = rng
        self._style = style
        self._leg = 0  # index of the waypoint the current leg starts from
        self._along = 0.0  # metres ridden on the current leg
        self._stop_left = 0.0
        self._cruise = self._draw_cruise()
        last = len(waypoints) - 1
        self._stops = frozenset(i for i in range(1, last) if rng.random() < style.stop_chance) | {last}
        self.speed = 0.0  # m/s
        self.course = self._leg_course(0) if last else 0

    def _draw_cruise(self) -> float:
        low, high = self._style.speed_kmh
        return self._rng.uniform(low, high) / 3.6

    def _leg_length(self, leg: int) -> float:
        return plane_distance(self._points[leg], self._points[leg + 1])

    def _leg_course(self, leg: int) -> int:
        (x0, y0), (x1, y1) = self._points[leg], self._points[leg + 1]
        return course_of(x1 - x0, y1 - y0)

    @property
    def arrived(self) -> bool:
        return self._leg >= len(self._points) - 1

    @property
    def stopped_at_crossing(self) -> bool:
        return self._stop_left > 0

    @property
    def point(self) -> Point:
        if self.arrived:
            return self._points[-1]
        (x0, y0), (x1, y1) = self._points[self._leg], self._points[self._leg + 1]
        length = self._leg_length(self._leg)
        share = self._along / length if length else 1.0
        return x0 + (x1 - x0) * share, y0 + (y1 - y0) * share

    @property
    def speed_kmh(self) -> float:
        return self.speed * 3.6

    @property
    def remaining_m(self) -> float:
        if self.arrived:
            return 0.0
        return (self._leg_length(self._leg) - self._along
                + sum(self._leg_length(leg) for leg in range(self._leg + 1, len(self._points) - 1)))

    def _allowed_speed(self) -> float:
        """The fastest speed from which every crossing ahead (stop: 0, turn: ~10 km/h) can still be met braking."""
        allowed = math.inf
        distance = self._leg_length(self._leg) - self._along
        last = len(self._points) - 1
        for crossing in range(self._leg + 1, min(last, self._leg + LOOKAHEAD) + 1):
            if crossing in self._stops:
                limit = 0.0
            elif self._leg_course(crossing - 1) != self._leg_course(crossing):
                limit = TURN_SPEED_MS
            else:
                limit = math.inf
            allowed = min(allowed, math.sqrt(limit * limit + 2 * self._style.brake_ms2 * distance))
            if limit == 0.0 or crossing == last:
                break
            distance += self._leg_length(crossing)
        return allowed

    def advance(self, dt: float) -> None:
        while dt > 1e-9 and not self.arrived:
            step = min(dt, STEP_S)
            dt -= step
            if self._stop_left > 0:
                self._stop_left = max(0.0, self._stop_left - step)
                self.speed = 0.0
                continue
            target = max(min(self._cruise, self._allowed_speed()), CREEP_MS)
            if self.speed < target:
                self.speed = min(target, self.speed + self._style.accel_ms2 * step)
            else:
                self.speed = max(target, self.speed - self._style.brake_ms2 * step)
            self._move(self.speed * step)

    def _move(self, metres: float) -> None:
        self.course = self._leg_course(self._leg)
        left = self._leg_length(self._leg) - self._along
        if metres < left:
            self._along += metres
            return
        self._leg += 1
        self._along = 0.0
        if self._leg in self._stops:
            self.speed = 0.0
            if not self.arrived:
                low, high = self._style.stop_s
                self._stop_left = self._rng.uniform(low, high)
                self._cruise = self._draw_cruise()
        # Whatever was left of this step's distance is dropped at the crossing: under a metre, and it keeps the
        # rider from sailing through a stop.
