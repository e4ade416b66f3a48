"""The theft rule without a database: drift never trips it, a bike taken away always does, once."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from firmware_sim.tracker.drift import DriftModel, ParkedDrift
from firmware_sim.tracker.geo import LatLon, LocalFrame

from central.trackers.filters import Fix
from central.trackers.settings import TrackerSettings
from central.trackers.theft import (
    ACC_ON,
    MOVED,
    LateFix,
    Trip,
    Watch,
    arm,
    device_signal,
    is_late,
    observe_fix,
    observe_late_fixes,
)
from shaobing.geo import distance_m

T0 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
FRAME = LocalFrame(LatLon(22.5431, 114.0579))
SETTINGS = TrackerSettings()
ARMED = Watch(armed=True, armed_at=T0, theft_state=None)


def at(east_m: float, north_m: float, seconds: float) -> Fix:
    point = FRAME.to_latlon((east_m, north_m))
    return Fix(T0 + timedelta(seconds=seconds), point.lat, point.lon)


def run(
    watch: Watch, fixes: list[Fix], settings: TrackerSettings = SETTINGS, *, speed: float = 1.0, first_id: int = 0
) -> tuple[Watch, list[Trip]]:
    """The fixes in order, each reported with `speed` (km/h); reading ids from `first_id` on."""
    trips: list[Trip] = []
    for index, fix in enumerate(fixes, start=first_id):
        watch, trip = observe_fix(watch, fix, reading_id=index, late=False, settings=settings, speed_kmh=speed)
        if trip is not None:
            trips.append(trip)
            watch = replace(watch, theft_state="alarmed")
    return watch, trips


def parked_fixes(seed: int, hours: float, model: DriftModel, min_satellites: int) -> list[Fix]:
    """A parked receiver's reports every 10 s, as the simulated trackers make them; those the rule counts."""
    rng = random.Random(seed)
    drift = ParkedDrift(rng, model)
    fixes = []
    for step in range(int(hours * 360)):
        sample = drift.step(10.0, rng)
        if sample.satellites >= min_satellites:
            fixes.append(at(sample.offset[0], sample.offset[1], 10.0 * (step + 1)))
    return fixes


@pytest.mark.parametrize("seed", range(8))
def test_a_day_of_parked_drift_with_frequent_multipath_never_trips_it(seed: int) -> None:
    # Ten times the simulator's multipath rate, jumps up to 80 m lasting up to 40 s (four fixes in a row).
    nasty = DriftModel(jumps_per_hour=30.0, jump_m=(50.0, 80.0), jump_satellites=(4, 5))
    fixes = parked_fixes(seed, 24, nasty, SETTINGS.min_satellites)
    watch, trips = run(ARMED, fixes)
    assert trips == []
    assert watch.anchor_lat is not None
    assert watch.anchor_lon is not None
    # the anchor sits within a few metres of the true spot
    assert distance_m(watch.anchor_lat, watch.anchor_lon, FRAME.origin.lat, FRAME.origin.lon) < 15


def test_one_multipath_jump_of_80_m_with_four_satellites_does_not_trip_it() -> None:
    fixes = [at(2, -1, 10), at(3, 1, 20), at(80, 0, 30), at(1, 2, 40), at(79, 3, 50), at(2, 2, 60)]
    _, trips = run(ARMED, fixes)
    assert trips == []


def test_single_fixes_beyond_the_radius_reset_by_one_inside_do_not_trip_it() -> None:
    fixes = [at(0, 0, 10)] + [at(150 if i % 2 == 0 else 5, 0, 20 + 10 * i) for i in range(20)]
    watch, trips = run(ARMED, fixes)
    assert trips == []
    assert watch.moving_fixes == 0


def test_consecutive_fixes_moving_away_trip_it_once() -> None:
    rng = random.Random(5)
    parked = [at(rng.gauss(0, 4), rng.gauss(0, 4), 10 * i) for i in range(1, 31)]  # five minutes
    ride = [at(0, 40 * i, 300 + 10 * i) for i in range(1, 30)]  # pushed away north at 14 km/h
    watch, parked_trips = run(ARMED, parked)
    watch, trips = run(watch, ride, speed=14.0, first_id=len(parked))
    assert parked_trips == []
    assert len(trips) == 1
    trip = trips[0]
    assert (trip.reason, trip.late) == (MOVED, False)
    assert trip.distance_m is not None
    assert trip.distance_m > SETTINGS.theft_distance_m
    # the first fix beyond 100 m is the 3rd of the ride (120 m); the second in a row trips it: the 4th
    assert trip.reading_id == len(parked) + 3
    assert watch.theft_state == "alarmed"


def test_theft_fixes_sets_how_many_in_a_row() -> None:
    fixes = [at(0, 0, 10), at(0, 150, 20), at(0, 200, 30), at(0, 250, 40)]
    _, with_two = run(ARMED, fixes)
    _, with_three = run(ARMED, fixes, TrackerSettings(theft_fixes=3))
    _, with_four = run(ARMED, fixes, TrackerSettings(theft_fixes=4))
    assert [trip.reading_id for trip in with_two] == [2]
    assert [trip.reading_id for trip in with_three] == [3]
    assert with_four == []


def test_a_bike_taken_right_after_arming_does_not_drag_its_anchor_along() -> None:
    watch, _ = run(ARMED, [at(0, 0, 10)])
    _, trips = run(watch, [at(0, 40 * i, 10 + 10 * i) for i in range(1, 30)], speed=14.0, first_id=1)
    assert [trip.reading_id for trip in trips] == [4]  # 120 m, then 160 m: two in a row
    # pushed at walking pace (reported speed within the parked noise) it drags a settling anchor a little
    _, slow = run(watch, [at(0, 40 * i, 10 + 10 * i) for i in range(1, 30)], speed=4.0, first_id=1)
    assert [trip.reading_id for trip in slow] == [6]  # 240 m


def test_an_outlier_as_first_fix_is_corrected_by_the_fixes_that_follow() -> None:
    first = at(80, 0, 10)  # a multipath fix right after arming
    true_spot = [at(0, 0, 20 + 10 * i) for i in range(10)]
    watch, trips = run(ARMED, [first, *true_spot])
    assert trips == []
    assert watch.anchor_lat is not None
    assert watch.anchor_lon is not None
    assert distance_m(watch.anchor_lat, watch.anchor_lon, FRAME.origin.lat, FRAME.origin.lon) < 10
    # a later jump the other way is measured from the corrected anchor: 85 m, inside
    _, later = run(watch, [at(-85, 0, 200), at(-85, 0, 210)])
    assert later == []


def test_nothing_counts_while_disarmed_before_arming_or_during_a_theft() -> None:
    away = [at(0, 0, 10), at(0, 500, 20), at(0, 900, 30)]
    assert run(Watch(armed=False, armed_at=None, theft_state=None), away)[1] == []
    assert run(replace(ARMED, theft_state="alarmed"), away)[1] == []
    later_arming = replace(ARMED, armed_at=T0 + timedelta(seconds=25))
    watch, trips = run(later_arming, away)
    assert trips == []
    assert watch.anchor_time == T0 + timedelta(seconds=30)  # the first fix after arming is the anchor


def test_late_fixes_are_judged_among_themselves_and_marked_late() -> None:
    watch, _ = run(ARMED, [at(0, 0, 10), at(1, 0, 1000)])
    assert watch.counted_fix_time == T0 + timedelta(seconds=1000)
    gone = [LateFix(at(0, 300, 500 + i), 900 + i) for i in range(2)]
    trip = observe_late_fixes(watch, gone, settings=SETTINGS)
    assert trip is not None
    assert (trip.reason, trip.late, trip.reading_id) == (MOVED, True, 901)
    interrupted = [LateFix(at(0, 300, 500), 1), LateFix(at(0, 2, 505), 2), LateFix(at(0, 300, 510), 3)]
    assert observe_late_fixes(watch, interrupted, settings=SETTINGS) is None
    assert observe_late_fixes(watch, gone, settings=TrackerSettings(archived_thefts=False)) is None


def test_device_signals_count_only_while_armed_and_after_arming() -> None:
    assert device_signal(ARMED, "power_cut", reading_id=7, at=T0, late=False, fix=None) == Trip(
        "power_cut", 7, T0, False
    )
    assert device_signal(ARMED, ACC_ON, reading_id=7, at=T0 - timedelta(seconds=1), late=False, fix=None) is None
    disarmed = Watch(armed=False, armed_at=None, theft_state=None)
    assert device_signal(disarmed, "power_cut", reading_id=7, at=T0, late=False, fix=None) is None


def test_arming_anchors_at_a_fresh_fix_only() -> None:
    disarmed = Watch(armed=False, armed_at=None, theft_state=None)
    now = T0 + timedelta(minutes=10)
    fresh = at(3, 4, 600 - 30)
    armed = arm(disarmed, now=now, current=fresh, settings=SETTINGS)
    assert (armed.armed, armed.armed_at, armed.anchor_lat, armed.anchor_fixes) == (True, now, fresh.lat, 1)
    stale = at(3, 4, 600 - 3600)
    waiting = arm(disarmed, now=now, current=stale, settings=SETTINGS)
    assert (waiting.anchor_lat, waiting.anchor_fixes, waiting.counted_fix_time) == (None, 0, None)
    assert arm(disarmed, now=now, current=None, settings=SETTINGS).anchor_lat is None


def test_lateness() -> None:
    assert is_late(T0, archived=True, received=T0, settings=SETTINGS)
    assert not is_late(T0, archived=False, received=T0 + timedelta(seconds=120), settings=SETTINGS)
    assert is_late(T0, archived=False, received=T0 + timedelta(seconds=121), settings=SETTINGS)
