"""Parked, armed bikes whose GPS only drifts raise nothing, through the real gateway, broker and central.

The simulated trackers' receivers wander as a parked receiver does (firmware_sim/tracker/drift.py: a correlated wander
of a few metres and, at its usual rate, multipath jumps). A third of the bikes are given instead one multipath episode
more than usual, once their anchor has settled: 75 m away with 5 satellites (within the simulator's 30-80 m and 3-5
satellites) for over ten fixes. The simulator draws its episodes at random times; here their timing is forced (a
`DriftModel` whose next episode starts at once and lasts until the test ends it), and so is their direction (the
tracker's random generator is seeded for the episode), so each test plays the same episodes every run. Those bikes
have no episodes at random besides (one of them overlapping the forced one, the other way, would make a test of two
episodes at once, which is not what this one claims).

The second test arms a bike while its receiver is in a multipath episode, reporting every second: the anchor must not
stay on the multipath fixes (it settles over a minute of fix time, not over six fixes), so a later episode the other
way raises nothing.
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from pathlib import Path
from typing import Any

from firmware_sim.tracker.device import Report, SimTracker
from firmware_sim.tracker.device import TrackerSettings as SimTrackerSettings
from firmware_sim.tracker.drift import PARKED, DriftModel, ParkedDrift
from firmware_sim.tracker.geo import LatLon, distance_m
from sqlalchemy import select

from central.store.schema import trackers
from shaobing.clock import parse_ts
from tests.conftest import MakeBroker
from tests.e2e.conftest import (
    GATEWAY,
    BikeRecipients,
    EdgeProcess,
    Owner,
    RunningCentral,
    bike_recipients,
    bike_site,
    eventually,
    positions_of,
    provision_and_claim,
    running_trackers,
    sign_up,
    sim_tracker,
)

TRACKER = SimTrackerSettings(interval_s=1.0, heartbeat_s=30.0, reconnect_min_s=0.2, reconnect_max_s=1.0)
OWNERS = 3
BIKES_EACH = 6
EPISODE_M = 75.0
EPISODE_SATELLITES = 5  # enough for a fix to count for the theft rule (at least 4)
CLEAR_SKY = DriftModel(jumps_per_hour=0.0)  # the usual wander, no multipath


def _episode(metres: float) -> DriftModel:
    """The simulator's drift whose multipath episode starts at the next fix and lasts until the test ends it."""
    return DriftModel(jumps_per_hour=3.6e9, jump_m=(metres, metres), jump_s=(3600.0, 3600.0),
                      jump_satellites=(EPISODE_SATELLITES, EPISODE_SATELLITES))


def _episode_bearing(seed: int, metres: float) -> float:
    """Where an episode drawn with `seed` throws the fixes (radians): the simulator's own drift, replayed."""
    probe = random.Random(seed)
    sample = ParkedDrift(probe, _episode(metres)).step(1.0, probe)
    return math.atan2(sample.offset[1], sample.offset[0])


def _opposite_seed(seed: int, metres: float) -> int:
    """A seed whose episode throws the fixes at least 160 degrees away from the episode of `seed`."""
    first = _episode_bearing(seed, metres)
    for other in range(seed + 1, seed + 10_000):
        turn = abs(math.remainder(_episode_bearing(other, metres) - first, math.tau))
        if turn >= math.radians(160):
            return other
    raise AssertionError("no opposite episode found")


def start_episode(tracker: SimTracker, seed: int, metres: float = EPISODE_M) -> None:
    """From its next fix on, the tracker's receiver is in a multipath episode (seeded: its direction is known)."""
    tracker.rng = random.Random(seed)
    tracker.bike.drift_model = _episode(metres)
    tracker.bike.park(tracker.rng)


def end_episode(tracker: SimTracker) -> None:
    tracker.bike.drift_model = CLEAR_SKY
    tracker.bike.park(tracker.rng)


def spot(tracker: SimTracker) -> LatLon:
    """Where the bike really stands."""
    return tracker.bike.grid.frame.to_latlon(tracker.bike.point)


def away_m(tracker: SimTracker, row: dict[str, Any]) -> float:
    return distance_m(spot(tracker), LatLon(row["lat"], row["lon"]))


async def _counting_fixes(central: RunningCentral, tracker: SimTracker, since: datetime) -> list[dict[str, Any]]:
    """Stored fixes the theft rule counts (accepted, positioned, 4 satellites or more) made after `since`."""
    rows = await positions_of(central, tracker.imei)
    return [row for row in rows if row["fix_time"] > since and row["filtered"] is None and row["valid"]
            and row["source"] == "gps" and (row["satellites"] or 0) >= 4]


async def _anchors(central: RunningCentral) -> dict[str, LatLon]:
    """Where the theft rule has anchored each armed bike."""
    async with central.engine.connect() as connection:
        rows = await connection.execute(select(trackers.c.imei, trackers.c.anchor_lat, trackers.c.anchor_lon)
                                        .where(trackers.c.anchor_lat.is_not(None)))
    return {imei: LatLon(lat, lon) for imei, lat, lon in rows}


async def _nothing_raised(central: RunningCentral, to: BikeRecipients, owners: list[Owner],
                          bikes: dict[str, int]) -> None:
    assert [d["alarm_class"] for d in await central.dispatches(GATEWAY)] == []
    assert to.texts() == [] and to.guards.received == [] and to.police.received == []
    for imei, owner in bikes.items():
        bike = await owners[owner].bike(imei)
        assert (bike["armed"], bike["theft_state"]) == (True, None), bike


async def test_parked_armed_bikes_whose_gps_drifts_raise_nothing(
    make_broker: MakeBroker, database_url: str, tmp_path: Path, edges: list[EdgeProcess]
) -> None:
    journals: dict[str, list[Report]] = {}
    async with bike_recipients() as to, bike_site(make_broker, database_url, tmp_path, edges, to) as (
        central, gateway, port
    ):
        watch = [gateway]
        owners = [await sign_up(central, f"1380013800{n}", f"车主{n}") for n in range(OWNERS)]
        fleet: list[SimTracker] = []
        bikes: dict[str, int] = {}  # IMEI -> its owner's index
        for n in range(OWNERS * BIKES_EACH):
            journal: list[Report] = []
            drift = CLEAR_SKY if n % 3 == 0 else PARKED  # every third bike gets the forced episode
            tracker = sim_tracker(n, port, settings=TRACKER, seed=100 + n, journal=journal, drift=drift)
            journals[tracker.imei] = journal
            fleet.append(tracker)
            bikes[tracker.imei] = n % OWNERS
            await provision_and_claim(central, owners[n % OWNERS], tracker.imei, name=f"车{n}")

        async with running_trackers(fleet):
            async def all_positioned() -> bool:
                return all([(await owners[bikes[t.imei]].bike(t.imei))["position"] for t in fleet])

            await eventually("every bike's first position at central", all_positioned, within=30, watch=watch)
            armed_at: dict[str, datetime] = {}
            for tracker in fleet:
                armed = await owners[bikes[tracker.imei]].call("POST", f"/api/my/bikes/{tracker.imei}/arm")
                assert armed.status_code == 200, armed.text
                armed_at[tracker.imei] = parse_ts(armed.json()["armed_at"])

            async def anchors_settled() -> bool:
                counted = [len(await _counting_fixes(central, t, armed_at[t.imei])) for t in fleet]
                return min(counted) >= 10

            await eventually("ten counting fixes of every bike after arming", anchors_settled, within=40,
                             watch=watch)
            # One multipath episode more than usual for a third of the bikes, each its own way, once their anchor
            # is where they stand.
            jumpers = fleet[::3]
            anchors = await _anchors(central)
            assert all(distance_m(spot(t), anchors[t.imei]) < 25.0 for t in jumpers), anchors
            episode_from = {t.imei: max(row["fix_time"] for row in await positions_of(central, t.imei))
                            for t in jumpers}
            for n, tracker in enumerate(jumpers):
                start_episode(tracker, seed=n)

            async def episodes_counted() -> bool:
                for tracker in jumpers:
                    fixes = await _counting_fixes(central, tracker, episode_from[tracker.imei])
                    if sum(1 for row in fixes if away_m(tracker, row) > EPISODE_M - 10) < 10:
                        return False
                return True

            await eventually("ten counting fixes of each multipath episode", episodes_counted, watch=watch)
            for tracker in jumpers:
                end_episode(tracker)
            back_from = {t.imei: max(row["fix_time"] for row in await positions_of(central, t.imei))
                         for t in jumpers}

            async def back_in_place() -> bool:
                return all([len(await _counting_fixes(central, t, back_from[t.imei])) >= 3 for t in jumpers])

            await eventually("fixes back where the bikes stand", back_in_place, watch=watch)
            await _nothing_raised(central, to, owners, bikes)
            stored = {t.imei: await positions_of(central, t.imei) for t in fleet}

    for tracker in fleet:
        fixes = [row for row in stored[tracker.imei] if row["filtered"] is None and row["fix_time"] > armed_at[
            tracker.imei]]
        assert len(fixes) >= 10
        assert any(away_m(tracker, row) > 1.0 for row in fixes)  # the receiver did wander
        assert all(report.speed_kmh <= 4 for report in journals[tracker.imei])  # the bike never moved
    for tracker in jumpers:
        assert max(away_m(tracker, row) for row in stored[tracker.imei] if row["filtered"] is None) > EPISODE_M - 10


async def test_a_bike_armed_during_multipath_raises_nothing_when_a_later_multipath_goes_the_other_way(
    make_broker: MakeBroker, sqlite_url: str, tmp_path: Path, edges: list[EdgeProcess]
) -> None:
    first_seed = 7
    second_seed = _opposite_seed(first_seed, EPISODE_M)
    async with bike_recipients() as to, bike_site(make_broker, sqlite_url, tmp_path, edges, to) as (
        central, gateway, port
    ):
        watch = [gateway]
        owner = await sign_up(central, "13800138000", "张伟")
        tracker = sim_tracker(0, port, settings=TRACKER, seed=1)
        tracker.bike.drift_model = CLEAR_SKY
        tracker.bike.park(tracker.rng)
        await provision_and_claim(central, owner, tracker.imei, name="小蓝")

        async def current_away(low: float, high: float) -> dict[str, Any] | None:
            position = (await owner.bike(tracker.imei))["position"]
            if position is None:
                return None
            away = distance_m(spot(tracker), LatLon(position["lat"], position["lon"]))
            return position if low <= away <= high else None

        async def counted_since(since: datetime, count: int, low: float, high: float) -> bool:
            fixes = await _counting_fixes(central, tracker, since)
            return sum(1 for row in fixes if low <= away_m(tracker, row) <= high) >= count

        async with running_trackers([tracker]):
            await eventually("the parked bike's position", lambda: current_away(0, 30), watch=watch)
            start_episode(tracker, first_seed)  # the owner arms the bike while its receiver is in multipath
            await eventually("a multipath fix as the current position",
                             lambda: current_away(EPISODE_M - 10, EPISODE_M + 10), watch=watch)
            armed = await owner.call("POST", f"/api/my/bikes/{tracker.imei}/arm")
            assert armed.status_code == 200, armed.text
            armed_at = parse_ts(armed.json()["armed_at"])
            await eventually("8 counting fixes of the episode after arming",
                             lambda: counted_since(armed_at, 8, EPISODE_M - 10, EPISODE_M + 10), watch=watch)
            end_episode(tracker)  # the sky clears: a dozen fixes where the bike stands
            cleared = (await owner.bike(tracker.imei))["position"]
            await eventually("12 counting fixes where the bike stands",
                             lambda: counted_since(parse_ts(cleared["fix_time"]), 12, 0, 30), within=30, watch=watch)
            start_episode(tracker, second_seed)  # another episode, the other way
            second = (await owner.bike(tracker.imei))["position"]
            await eventually("5 counting fixes of the second episode",
                             lambda: counted_since(parse_ts(second["fix_time"]), 5, EPISODE_M - 10, EPISODE_M + 10),
                             watch=watch)
            end_episode(tracker)
            rows = await positions_of(central, tracker.imei)
            raised = await central.dispatches(GATEWAY)
            texts = to.texts()

    episodes = [row for row in rows if row["filtered"] is None and away_m(tracker, row) > EPISODE_M - 10]
    first, last = LatLon(episodes[0]["lat"], episodes[0]["lon"]), LatLon(episodes[-1]["lat"], episodes[-1]["lon"])
    assert distance_m(first, last) > 2 * EPISODE_M * 0.9  # two episodes, on either side of the bike
    assert raised == [] and texts == [], f"a bike that never moved raised {raised} and texted {texts}"
