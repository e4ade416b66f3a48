"""What a parked tracker's GPS reports: a wander of a few metres, and now and then a multipath jump.

This is what makes naive servers raise false "moving" alarms, so the model is deliberately nasty but honest:

- Each axis is a first-order Gauss-Markov process (an Ornstein-Uhlenbeck wander): stationary standard deviation
  `sigma_m` (5 m), correlation time `tau_s` (30 s). Consecutive fixes are close to each other, fixes minutes apart
  are independent, and the process is pulled back to the true position: there is never a consistent displacement.
- Multipath jumps arrive as a Poisson process (`jumps_per_hour`, 3): for `jump_s` (5-40 s) the fix sits 30-80 m
  away in one direction while the satellites in view drop to 3-5, then it snaps back.
- The reported speed is Doppler noise of 0-4 km/h and the course is random, as receivers report when standing.
- Satellites in view wander between 6 and 12 otherwise.

Steps are exact for any interval (the Gauss-Markov update uses exp(-dt/tau)), so the statistics do not depend on
how often the tracker reports.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from firmware_sim.tracker.geo import Point


@dataclass(frozen=True, slots=True)
class DriftModel:
    sigma_m: float = 5.0
    tau_s: float = 30.0
    jumps_per_hour: float = 3.0
    jump_m: tuple[float, float] = (30.0, 80.0)
    jump_s: tuple[float, float] = (5.0, 40.0)
    satellites: tuple[int, int] = (6, 12)
    jump_satellites: tuple[int, int] = (3, 5)
    max_speed_kmh: float = 4.0


PARKED = DriftModel()


@dataclass(frozen=True, slots=True)
class DriftSample:
    offset: Point  # metres from the true position
    speed_kmh: int
    course: int
    satellites: int
    jumping: bool


class ParkedDrift:
    """The error process of one standing receiver; `step(dt, rng)` moves it on by `dt` seconds."""

    __slots__ = ("_jump", "_jump_left", "_satellites", "_x", "_y", "model")

    def __init__(self, rng: random.Random, model: DriftModel = PARKED) -> None:
        self.model = model
        # Start from the stationary distribution: a fix taken just after parking is already off by a few metres.
        self._x = rng.gauss(0.0, model.sigma_m)
        self._y = rng.gauss(0.0, model.sigma_m)
        self._jump: Point = (0.0, 0.0)
        self._jump_left = 0.0
        self._satellites = rng.randint(*model.satellites)

    def step(self, dt: float, rng: random.Random) -> DriftSample:
        model = self.model
        keep = math.exp(-dt / model.tau_s)
        spread = model.sigma_m * math.sqrt(1.0 - keep * keep)
        self._x = self._x * keep + spread * rng.gauss(0.0, 1.0)
        self._y = self._y * keep + spread * rng.gauss(0.0, 1.0)
        self._jump_left = max(0.0, self._jump_left - dt)
        if self._jump_left == 0.0 and rng.random() < 1.0 - math.exp(-model.jumps_per_hour * dt / 3600):
            distance, angle = rng.uniform(*model.jump_m), rng.uniform(0.0, 2 * math.pi)
            self._jump = (distance * math.sin(angle), distance * math.cos(angle))
            self._jump_left = rng.uniform(*model.jump_s)
        jumping = self._jump_left > 0.0
        if jumping:
            # While jumped, the fix is the reflected path's: the wander of the direct signal hardly shows.
            offset = (self._jump[0] + rng.gauss(0.0, 1.0), self._jump[1] + rng.gauss(0.0, 1.0))
            satellites = rng.randint(*model.jump_satellites)
        else:
            offset = (self._x, self._y)
            low, high = model.satellites
            self._satellites = min(high, max(low, self._satellites + rng.choice((-1, 0, 0, 0, 1))))
            satellites = self._satellites
        speed = round(min(model.max_speed_kmh, abs(rng.gauss(0.0, 1.5))))
        return DriftSample(offset, speed, rng.randrange(360), satellites, jumping)
