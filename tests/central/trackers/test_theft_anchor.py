"""The theft rule's anchor behaves the same whatever the report interval (no database: the rule is pure).

A bike reporting every second and armed during a multipath episode must not stay anchored on the episode: six fixes
are six seconds then, shorter than the episode. The anchor settles over a minute of fix time, follows the last few
fixes while it settles, and once settled is a mean over fix time, not over a count of fixes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from firmware_sim.tracker.geo import LatLon, LocalFrame

from central.trackers.filters import Fix
from central.trackers.settings import TrackerSettings
from central.trackers.theft import Trip, Watch, arm, observe_fix
from shaobing.geo import distance_m

T0 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
FRAME = LocalFrame(LatLon(22.5431, 114.0579))
SETTINGS = TrackerSettings()


def at(east_m: float, north_m: float, seconds: float) -> Fix:
    point = FRAME.to_latlon((east_m, north_m))
    return Fix(T0 + timedelta(seconds=seconds), point.lat, point.lon)


def wobble(index: int) -> float:
    """A parked receiver's few metres of wander, deterministic."""
    return float((index * 7) % 5 - 2)


def run(watch: Watch, fixes: list[Fix], *, speed: float = 1.0) -> tuple[Watch, list[Trip]]:
    trips: list[Trip] = []
    for index, fix in enumerate(fixes):
        watch, trip = observe_fix(watch, fix, reading_id=index, late=False, settings=SETTINGS, speed_kmh=speed)
        if trip is not None:
            trips.append(trip)
            watch = replace(watch, theft_state="alarmed")
    return watch, trips


def anchor_from(watch: Watch, east_m: float, north_m: float) -> float:
    assert watch.anchor_lat is not None and watch.anchor_lon is not None
    spot = FRAME.to_latlon((east_m, north_m))
    return distance_m(watch.anchor_lat, watch.anchor_lon, spot.lat, spot.lon)


def armed_in_multipath() -> Watch:
    """Armed at T0 while the current fix is a multipath fix 75 m east of where the bike stands (at the origin)."""
    return arm(Watch(armed=False, armed_at=None, theft_state=None), now=T0, current=at(75, 0, 0), settings=SETTINGS)


def test_a_bike_armed_in_multipath_reporting_every_second_is_not_anchored_on_it() -> None:
    watch = armed_in_multipath()
    episode = [at(75 + wobble(i), wobble(i + 1), 1 + i) for i in range(10)]  # 10 s more of the episode
    clear = [at(wobble(i), wobble(i + 2), 11 + i) for i in range(12)]  # the sky clears for 12 s
    watch, trips = run(watch, [*episode, *clear])
    assert trips == []
    assert anchor_from(watch, 0, 0) < 15  # the episode is forgotten once the sky is clear
    other_way = [at(-75 + wobble(i), wobble(i + 3), 23 + i) for i in range(20)]  # an episode the other way
    back = [at(wobble(i), wobble(i + 4), 43 + i) for i in range(300)]  # then five minutes parked
    watch, trips = run(watch, [*other_way, *back])
    assert trips == []
    assert anchor_from(watch, 0, 0) < 10
    # and a later episode, once settled, is measured from where the bike stands: 90 m, inside the radius
    watch, trips = run(watch, [at(-90, 0, 400 + i) for i in range(30)])
    assert trips == []


def test_an_anchor_settled_in_multipath_is_pulled_back_to_where_the_bike_stands() -> None:
    watch = armed_in_multipath()
    episode = [at(75 + wobble(i), 0, 1 + i) for i in range(70)]  # the episode outlasts the settling minute
    watch, trips = run(watch, episode)
    assert trips == [] and anchor_from(watch, 0, 0) > 60
    watch, trips = run(watch, [at(wobble(i), 0, 71 + i) for i in range(600)])  # ten minutes where it stands
    assert trips == []
    assert anchor_from(watch, 0, 0) < 20
    watch, trips = run(watch, [at(-75, 0, 700 + i) for i in range(30)])  # an episode the other way
    assert trips == []


def test_at_10_s_the_anchor_is_still_the_mean_of_its_first_fixes() -> None:
    fixes = [at(80 if i == 0 else wobble(i), wobble(i + 1), 10 * (i + 1)) for i in range(20)]
    watch = Watch(armed=True, armed_at=T0, theft_state=None)
    for n in range(1, len(fixes) + 1):
        watch, trips = run(watch, [fixes[n - 1]])
        assert trips == []
        assert watch.anchor_lat is not None and watch.anchor_lon is not None
        mean_lat = sum(fix.lat for fix in fixes[:n]) / n
        mean_lon = sum(fix.lon for fix in fixes[:n]) / n
        assert distance_m(watch.anchor_lat, watch.anchor_lon, mean_lat, mean_lon) < 0.01, n
    assert anchor_from(watch, 0, 0) < 6  # the 80 m first fix, outvoted


def test_a_theft_during_settling_trips_on_the_second_fix_beyond_the_radius() -> None:
    watch = arm(Watch(armed=False, armed_at=None, theft_state=None), now=T0, current=at(0, 0, 0), settings=SETTINGS)
    watch, trips = run(watch, [at(wobble(i), 0, 1 + i) for i in range(10)])
    assert trips == []
    ridden = [at(0, 4.2 * i, 10 + i) for i in range(1, 40)]  # 15 km/h north from t = 10 s
    watch, trips = run(watch, ridden, speed=15.0)
    assert [(trip.reason, trip.reading_id) for trip in trips] == [("moved", 24)]  # 100.8 m, then 105 m
    assert trips[0].at < T0 + timedelta(seconds=SETTINGS.anchor_settling_s)  # still settling


def test_a_bike_walked_off_at_parked_noise_speed_during_settling_is_still_caught() -> None:
    watch = arm(Watch(armed=False, armed_at=None, theft_state=None), now=T0, current=at(0, 0, 0), settings=SETTINGS)
    walked = [at(0, 1.1 * i, 10 + i) for i in range(1, 900)]  # 4 km/h, reported as 4 km/h: it refines the anchor
    watch, trips = run(watch, walked, speed=4.0)
    assert len(trips) == 1
    assert trips[0].distance_m is not None and trips[0].distance_m > SETTINGS.theft_distance_m
    assert trips[0].at < T0 + timedelta(seconds=400)  # within a few minutes, not dragged along for good


def test_fixes_reported_moving_never_move_the_anchor_settling_or_settled() -> None:
    for start in (0, 120):  # while settling, and once settled
        watch = arm(Watch(armed=False, armed_at=None, theft_state=None), now=T0, current=at(0, 0, 0),
                    settings=SETTINGS)
        watch, _ = run(watch, [at(wobble(i), 0, 1 + i) for i in range(start)])
        anchored = (watch.anchor_lat, watch.anchor_lon)
        # a thief circling inside the radius, every second, reported at 8 km/h
        circling = [at(90 * (i % 2) - 45, 45 * ((i // 2) % 2), start + 1 + i) for i in range(300)]
        watch, trips = run(watch, circling, speed=8.0)
        assert trips == []
        assert (watch.anchor_lat, watch.anchor_lon) == anchored
        watch, trips = run(watch, [at(0, 150, start + 302), at(0, 160, start + 303)], speed=8.0)
        assert [trip.distance_m is not None and trip.distance_m > 100 for trip in trips] == [True]
