"""Scenarios: what happens to a tracker over time, as small state machines the tracker's own task runs.

A script's `act(tracker, now)` does what is due and says when to be called next, so a scenario costs no task of
its own (ten thousand trackers, ten thousand tasks, not twenty). The fleet's `--scenario` names map to scripts:

| scenario | what the trackers do |
| --- | --- |
| park | stay parked and armed (the GPS drifts) |
| ride | ride to a crossing a few blocks away, park there a while (30 s - 5 min), ride on |
| steal | parked; after 10-60 s a thief takes the bike (vibration alarms, a power cut on half of them, a fast ride) |
| offline | ride as above, and lose the network for 20-90 s every 1-4 min |
| nofix | ride as above, and lose the GPS fix for 30-90 s every 1-4 min |
| mixed | 70 % park, 20 % ride, 5 % offline, 5 % nofix |
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from firmware_sim.tracker.device import Script, SimTracker

SCENARIOS = ("park", "ride", "steal", "offline", "nofix", "mixed")
MIXED_WEIGHTS = {"park": 70, "ride": 20, "offline": 5, "nofix": 5}


class RideAround:
    """Ride to a random crossing, park there for `park_s`, ride again."""

    __slots__ = ("_riding", "park_s")

    def __init__(self, park_s: tuple[float, float] = (30.0, 300.0)) -> None:
        self.park_s = park_s
        self._riding = False

    def act(self, tracker: SimTracker, now: float) -> float | None:
        check_again = now + tracker.settings.interval_s
        bike = tracker.bike
        if bike.riding or bike.engine_cut:  # on the way, or held by the relay until restored
            return check_again
        if self._riding:  # arrived
            self._riding = False
            tracker.park()
            return now + tracker.rng.uniform(*self.park_s)
        tracker.ride()
        self._riding = True
        return check_again


class StealAfter:
    """Parked, then stolen `delay_s` after the tracker started (with or without cutting its power wire)."""

    __slots__ = ("_waiting", "delay_s", "power_cut")

    def __init__(self, delay_s: float, *, power_cut: bool = True) -> None:
        self.delay_s = delay_s
        self.power_cut = power_cut
        self._waiting = False

    def act(self, tracker: SimTracker, now: float) -> float | None:
        if not self._waiting:
            self._waiting = True
            return now + self.delay_s
        tracker.steal(power_cut=self.power_cut)
        return None


class Interruptions:
    """Every `every_s` the tracker loses its network (`what="network"`) or its GPS fix (`what="fix"`) for
    `lasting_s`."""

    __slots__ = ("_back_at", "every_s", "lasting_s", "what")

    def __init__(self, what: str, every_s: tuple[float, float] = (60.0, 240.0),
                 lasting_s: tuple[float, float] = (20.0, 90.0)) -> None:
        if what not in ("network", "fix"):
            raise ValueError(f"unknown interruption {what!r}")
        self.what = what
        self.every_s = every_s
        self.lasting_s = lasting_s
        self._back_at: float | None = None

    def act(self, tracker: SimTracker, now: float) -> float | None:
        rng = tracker.rng
        if self._back_at is None:
            self._back_at = now + rng.uniform(*self.every_s)  # the first interruption starts then
            return self._back_at
        lasting = rng.uniform(*self.lasting_s)
        if self.what == "network":
            tracker.go_offline(lasting)
            return now + lasting + rng.uniform(*self.every_s)
        if tracker.bike.has_fix:
            tracker.lose_fix()
            return now + lasting
        tracker.regain_fix()
        return now + rng.uniform(*self.every_s)


class Together:
    """Several scripts on one tracker, each on its own timetable."""

    __slots__ = ("_due", "_scripts")

    def __init__(self, *scripts: Script) -> None:
        self._scripts = scripts
        self._due = [-math.inf] * len(scripts)  # each acts at once the first time; math.inf: finished

    def act(self, tracker: SimTracker, now: float) -> float | None:
        for index, script in enumerate(self._scripts):
            if self._due[index] <= now:
                due = script.act(tracker, now)
                self._due[index] = math.inf if due is None else due
        due = min(self._due)
        return None if due == math.inf else due


def script_for(scenario: str, rng: random.Random) -> Script | None:
    """A fresh script for one tracker of `scenario` (see the table above); `mixed` draws one of the others."""
    if scenario == "mixed":
        names, weights = zip(*MIXED_WEIGHTS.items(), strict=True)
        scenario = rng.choices(names, weights)[0]
    if scenario == "park":
        return None
    if scenario == "ride":
        return RideAround()
    if scenario == "steal":
        return StealAfter(rng.uniform(10.0, 60.0), power_cut=rng.random() < 0.5)
    if scenario == "offline":
        return Together(RideAround(), Interruptions("network"))
    if scenario == "nofix":
        return Together(RideAround(), Interruptions("fix", lasting_s=(30.0, 90.0)))
    raise ValueError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
