"""A riding tracker loses its network, comes back and re-uploads what it kept, out of order, through the real gateway,
broker and central, on SQLite and on PostgreSQL.

Every report the tracker made (its journal) arrives in `positions`; those made offline are marked archived and take
their place in the track by fix time; and the bike's current position is the newest fix by fix time all along: it never
goes back while the archived fixes arrive (watched from the owner's API during the re-upload and after it), and it is
the newest accepted fix stored at every moment (read in one statement, so the two agree by construction of the
snapshot, not by luck of timing).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from firmware_sim.tracker.device import Report
from firmware_sim.tracker.device import TrackerSettings as SimTrackerSettings
from sqlalchemy import func, select

from central.store.schema import positions, trackers
from shaobing.clock import parse_ts
from tests.conftest import MakeBroker
from tests.e2e.conftest import (
    EdgeProcess,
    Owner,
    RunningCentral,
    bike_recipients,
    bike_site,
    carrying,
    eventually,
    positions_of,
    provision_and_claim,
    running_trackers,
    settled,
    sign_up,
    sim_tracker,
)

# A report a second (fix times are whole seconds: faster would give two reports one fix time); re-uploaded one frame at
# a time, the newest group of 4 first, so the re-upload takes a while and comes out of order.
TRACKER = SimTrackerSettings(interval_s=1.0, heartbeat_s=30.0, reconnect_min_s=0.2, reconnect_max_s=1.0,
                             reupload="chunks", reupload_chunk=4, reupload_window=1)
OFFLINE_S = 20.0


@dataclass(frozen=True)
class Look:
    at: datetime  # when the statement was sent (central stamps `stored_at` by the same system clock)
    api_fix_time: datetime | None  # the owner's view of the current position
    current: datetime | None  # trackers.fix_time ...
    newest_accepted: datetime | None  # ... and the newest accepted GPS fix, in the same statement


async def _look(central: RunningCentral, owner: Owner, imei: str) -> Look:
    position = (await owner.bike(imei))["position"]
    newest = (select(func.max(positions.c.fix_time))
              .where(positions.c.imei == imei, positions.c.source == "gps", positions.c.filtered.is_(None))
              .scalar_subquery())
    async with central.engine.connect() as connection:
        at = datetime.now(UTC)
        row = (await connection.execute(select(trackers.c.fix_time, newest).where(trackers.c.imei == imei))).one()
    return Look(at, parse_ts(position["fix_time"]) if position else None, row[0], row[1])


async def test_offline_reports_are_re_uploaded_out_of_order_and_never_move_the_bike_back(
    make_broker: MakeBroker, database_url: str, tmp_path: Path, edges: list[EdgeProcess]
) -> None:
    journal: list[Report] = []
    events: list[str] = []
    looks: list[Look] = []
    async with bike_recipients() as to, bike_site(make_broker, database_url, tmp_path, edges, to) as (
        central, gateway, port
    ):
        watch = [gateway]
        owner = await sign_up(central, "13800138000", "张伟")
        tracker = sim_tracker(0, port, settings=TRACKER, seed=5, journal=journal, events=events)
        imei = tracker.imei
        await provision_and_claim(central, owner, imei, name="小蓝")
        tracker.ride(min_blocks=14)  # moving: every report at a different place, a few minutes of riding

        async def keep_looking() -> None:
            """Ten looks a second; as many as central answers while the tracker re-uploads."""
            while True:
                looks.append(await _look(central, owner, imei))
                re_uploading = any(text.startswith("back online") for text in events) and not settled(tracker)
                await asyncio.sleep(0 if re_uploading else 0.1)

        async with running_trackers([tracker]):
            async def riding_reports_stored() -> bool:
                return len(await positions_of(central, imei)) >= 3

            await eventually("the first positions at central", riding_reports_stored, watch=watch)
            looking = asyncio.create_task(keep_looking())
            try:
                went_offline = len(journal)
                tracker.go_offline(OFFLINE_S)

                async def back_and_settled() -> bool:
                    assert not looking.done(), looking
                    return any(text.startswith("back online") for text in events) and settled(tracker)

                await eventually("the tracker back online with its buffer re-uploaded", back_and_settled,
                                 within=OFFLINE_S + 30, watch=watch)
                made = len(journal)

                async def all_stored() -> bool:
                    rows = await positions_of(central, imei)
                    return all(carrying(report, rows) for report in journal[:made])

                await eventually("every report of the journal at central", all_stored, watch=watch)
                # A few more looks after the re-upload, as new real-time fixes keep coming.
                await eventually("two more fixes after the re-upload", lambda: _grown(journal, made + 2))
                seen = len(looks)
                await eventually("looks after the re-upload", lambda: _more(looks, seen + 5))
            finally:
                looking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await looking
        async def at_rest() -> Look | None:  # the tracker stopped: the last fix stored is the current position
            look = await _look(central, owner, imei)
            return look if look.api_fix_time == look.newest_accepted == look.current else None

        final = await eventually("the current position at rest", at_rest)
        rows = await positions_of(central, imei)
        track = await owner.call("GET", f"/api/my/bikes/{imei}/track")
        assert track.status_code == 200, track.text

    came_back = next(i for i in range(went_offline, len(journal)) if not journal[i].archived)
    offline_reports = journal[went_offline:came_back]  # made while the network was gone
    assert len(offline_reports) >= OFFLINE_S - 3, len(offline_reports)
    fix_times = [report.fix_time for report in journal[:made]]
    for report in journal[:made]:
        carried = carrying(report, rows)
        assert carried, f"lost: {report}"
        if fix_times.count(report.fix_time) == 1:  # two reports in one second share a fix time: one is a duplicate
            assert any(row["filtered"] is None for row in carried), carried
    for report in offline_reports:
        assert all(row["archived"] for row in carrying(report, rows)), report
    # They came out of order (the newest group first) ...
    archived = [row["fix_time"] for row in rows if row["archived"]]
    assert len(archived) >= len(offline_reports) and archived != sorted(archived)
    # ... and took their place in the track by fix time, marked archived.
    points = track.json()["points"]
    assert [parse_ts(p["fix_time"]) for p in points] == sorted(parse_ts(p["fix_time"]) for p in points)
    in_track = {parse_ts(p["fix_time"]) for p in points if p["archived"]}
    assert {report.fix_time for report in offline_reports} <= in_track | _shared_seconds(fix_times)

    # The current position, all along: never back in time, and always the newest accepted fix stored.
    first_archived_at = min(row["stored_at"] for row in rows if row["archived"])
    last_archived_at = max(row["stored_at"] for row in rows if row["archived"])
    during = [look for look in looks if first_archived_at <= look.at <= last_archived_at]
    assert during, "no look fell inside the re-upload"
    assert all(look.current == look.newest_accepted for look in looks), [
        look for look in looks if look.current != look.newest_accepted][:3]
    shown = [look.api_fix_time for look in looks if look.api_fix_time is not None]
    assert shown == sorted(shown), "the owner saw the bike's position go back in time"
    assert final.api_fix_time == max(row["fix_time"] for row in rows if row["filtered"] is None)
    assert final.api_fix_time is not None and final.api_fix_time > max(r.fix_time for r in offline_reports)
    print(f"{len(offline_reports)} reports re-uploaded; {len(looks)} looks, {len(during)} during the re-upload")


def _shared_seconds(fix_times: list[datetime]) -> set[datetime]:
    return {moment for moment in fix_times if fix_times.count(moment) > 1}


async def _grown(journal: list[Report], length: int) -> bool:
    return len(journal) >= length


async def _more(looks: list[Look], count: int) -> bool:
    return len(looks) >= count
