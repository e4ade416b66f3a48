"""Scenario scripts drive a tracker's behaviours on their timetable (no network needed to see what they do)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from firmware_sim.tracker.bike import Bike
from firmware_sim.tracker.device import SimTracker, State
from firmware_sim.tracker.scenarios import (
    MIXED_WEIGHTS,
    Interruptions,
    RideAround,
    StealAfter,
    Together,
    script_for,
)
from firmware_sim.tracker.streets import StreetGrid

GRID = StreetGrid()


def idle_tracker(seed: int = 1) -> SimTracker:
    """A tracker that is never run: its behaviours still change its bike and its state."""
    rng = random.Random(seed)
    return SimTracker("864717003664409", ("127.0.0.1", 9), Bike(GRID, GRID.point((8, 8)), rng), rng)


async def test_ride_around_rides_then_parks_on_arrival_then_rides_again() -> None:
    tracker = idle_tracker()
    script = RideAround(park_s=(30.0, 60.0))
    assert script.act(tracker, 0.0) == 10.0  # set off; look again after a report interval
    assert tracker.bike.riding and tracker.acc and not tracker.armed
    while tracker.bike.riding:
        tracker.bike.advance(5.0, tracker.rng)
    parked_until = script.act(tracker, 1000.0)
    assert parked_until is not None and 1030.0 <= parked_until <= 1060.0
    assert tracker.armed and not tracker.acc and tracker.bike.standing
    script.act(tracker, parked_until)
    assert tracker.bike.riding


async def test_ride_around_waits_while_the_relay_holds_the_bike() -> None:
    tracker = idle_tracker()
    script = RideAround()
    script.act(tracker, 0.0)
    tracker.bike.cut_engine(tracker.rng)
    assert script.act(tracker, 10.0) == 20.0
    assert tracker.bike.engine_cut and not tracker.armed  # not parked by the script: the owner did not park it


async def test_steal_after_waits_then_steals_once() -> None:
    tracker = idle_tracker()
    script = StealAfter(25.0, power_cut=False)
    assert script.act(tracker, 100.0) == 125.0
    assert tracker.theft_mark is None
    assert script.act(tracker, 125.0) is None  # nothing more to do
    assert tracker._theft is not None
    steps = [step for _, step in tracker._theft.steps]
    assert steps == ["vibration", "vibration", "ride"]  # no power cut on this one


async def test_network_interruptions_take_the_tracker_offline_for_a_while() -> None:
    tracker = idle_tracker()
    script = Interruptions("network", every_s=(60.0, 60.0), lasting_s=(20.0, 20.0))
    assert script.act(tracker, 0.0) == 60.0
    assert script.act(tracker, 60.0) == pytest.approx(140.0)
    assert tracker.state is State.OFFLINE


async def test_fix_interruptions_lose_and_regain_the_fix() -> None:
    tracker = idle_tracker()
    script = Interruptions("fix", every_s=(100.0, 100.0), lasting_s=(30.0, 30.0))
    assert script.act(tracker, 0.0) == 100.0
    assert script.act(tracker, 100.0) == 130.0 and not tracker.bike.has_fix
    assert script.act(tracker, 130.0) == 230.0 and tracker.bike.has_fix
    with pytest.raises(ValueError, match="unknown interruption"):
        Interruptions("weather")


async def test_together_keeps_each_timetable() -> None:
    tracker = idle_tracker()
    script = Together(StealAfter(50.0), Interruptions("fix", every_s=(30.0, 30.0), lasting_s=(5.0, 5.0)))
    assert script.act(tracker, 0.0) == 30.0
    assert script.act(tracker, 30.0) == 35.0 and not tracker.bike.has_fix
    assert script.act(tracker, 35.0) == 50.0 and tracker.bike.has_fix
    assert script.act(tracker, 50.0) == 65.0  # stolen; only the fix losses remain
    assert tracker._theft is not None


def test_the_mixed_scenario_draws_in_its_proportions() -> None:
    rng = random.Random(5)
    kinds: Counter[str] = Counter()
    for _ in range(10_000):
        script = script_for("mixed", rng)
        if script is None:
            kinds["park"] += 1
        elif isinstance(script, RideAround):
            kinds["ride"] += 1
        else:
            assert isinstance(script, Together)
            kinds["interrupted"] += 1
    total = sum(MIXED_WEIGHTS.values())
    assert kinds["park"] / 10_000 == pytest.approx(MIXED_WEIGHTS["park"] / total, abs=0.02)
    assert kinds["ride"] / 10_000 == pytest.approx(MIXED_WEIGHTS["ride"] / total, abs=0.02)
    assert kinds["interrupted"] / 10_000 == pytest.approx(0.10, abs=0.02)
    with pytest.raises(ValueError, match="unknown scenario"):
        script_for("party", rng)
