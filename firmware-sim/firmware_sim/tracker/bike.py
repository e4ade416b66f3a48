"""One e-bike as its tracker's GPS sees it: parked (drifting), riding the streets, or held by a cut relay.

The bike knows its true position and produces what the receiver reports (`Observation`). Standing still (parked, or
stopped by the relay) the report wanders by the drift model; riding, it follows the ride. Losing the fix (a garage,
a basement, a thief's foil bag) freezes the last good coordinates and marks them invalid, as GT06 devices do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from firmware_sim.tracker.drift import PARKED, DriftModel, ParkedDrift
from firmware_sim.tracker.geo import Point
from firmware_sim.tracker.route import COMMUTER, Ride, RideStyle
from firmware_sim.tracker.streets import Crossing, StreetGrid

NO_FIX_SATELLITES = (0, 3)
RIDING_SATELLITES = (7, 12)


@dataclass(frozen=True, slots=True)
class Observation:
    """One report of the receiver: where it says the bike is, how fast, and whether it trusts that."""

    point: Point
    speed_kmh: int
    course: int
    satellites: int
    valid: bool


class Bike:
    __slots__ = (
        "_drift",
        "_engine_cut",
        "_last_fix",
        "_ride",
        "_satellites",
        "drift_model",
        "grid",
        "has_fix",
        "point",
    )

    def __init__(self, grid: StreetGrid, point: Point, rng: random.Random,
                 drift_model: DriftModel = PARKED) -> None:
        self.grid = grid
        self.point = point  # the true position
        self.drift_model = drift_model
        self.has_fix = True
        self._ride: Ride | None = None
        self._engine_cut = False
        self._drift: ParkedDrift | None = ParkedDrift(rng, drift_model)
        self._last_fix: Observation = Observation(point, 0, 0, rng.randint(*RIDING_SATELLITES), True)
        self._satellites = self._last_fix.satellites

    @property
    def riding(self) -> bool:
        return self._ride is not None and not self._engine_cut

    @property
    def engine_cut(self) -> bool:
        return self._engine_cut

    @property
    def standing(self) -> bool:
        return not self.riding

    def park(self, rng: random.Random) -> None:
        self._ride = None
        self._drift = ParkedDrift(rng, self.drift_model)

    def ride_to(self, destination: Crossing | None, rng: random.Random, style: RideStyle = COMMUTER,
                *, min_blocks: int = 2) -> None:
        """Ride along the streets to `destination` (a random crossing at least `min_blocks` away when None)."""
        start = self.grid.nearest(self.point)
        if destination is None:
            destination = self.grid.crossing_at_least(start, min_blocks, rng)
        waypoints = [self.point] + [self.grid.point(c) for c in self.grid.path(start, destination, rng)]
        if waypoints[0] == waypoints[1]:
            waypoints.pop(0)
        self._ride = Ride(waypoints, rng, style)
        self._drift = None

    def cut_engine(self, rng: random.Random) -> None:
        """The relay cuts the motor: the bike stops where it is (and its receiver drifts there)."""
        if not self._engine_cut:
            self._engine_cut = True
            self._drift = ParkedDrift(rng, self.drift_model)

    def restore_engine(self) -> None:
        """Power is back: an interrupted ride may go on (`ride_to` again to send it somewhere else)."""
        self._engine_cut = False

    def lose_fix(self) -> None:
        self.has_fix = False

    def regain_fix(self) -> None:
        self.has_fix = True

    def advance(self, dt: float, rng: random.Random) -> Observation:
        """Move on by `dt` seconds and return what the receiver reports now."""
        ride = self._ride
        if ride is not None and not self._engine_cut:
            ride.advance(dt)
            self.point = ride.point
            observed = self._riding_observation(ride, rng)
            if ride.arrived:
                self.park(rng)
        else:
            if self._drift is None:
                self._drift = ParkedDrift(rng, self.drift_model)
            sample = self._drift.step(dt, rng)
            observed = Observation((self.point[0] + sample.offset[0], self.point[1] + sample.offset[1]),
                                   sample.speed_kmh, sample.course, sample.satellites, True)
        if not self.has_fix:
            last = self._last_fix
            return Observation(last.point, 0, last.course, rng.randint(*NO_FIX_SATELLITES), False)
        self._last_fix = observed
        return observed

    def _riding_observation(self, ride: Ride, rng: random.Random) -> Observation:
        low, high = RIDING_SATELLITES
        self._satellites = min(high, max(low, self._satellites + rng.choice((-1, 0, 0, 1))))
        # A moving receiver's own error is a metre or two: it tracks the street, as real traces do.
        x, y = ride.point
        return Observation((x + rng.gauss(0.0, 1.5), y + rng.gauss(0.0, 1.5)), round(ride.speed_kmh), ride.course,
                           self._satellites, True)
