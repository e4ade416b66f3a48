"""Positions through the real batch store, on SQLite and PostgreSQL: every one stored, filtered ones with their
reason, the current position only ever moved forward by accepted GPS fixes, cell reports apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.store.schema import positions, readings, trackers
from central.trackers.settings import TrackerSettings
from shaobing.clock import format_ts
from shaobing.envelope import Envelope

from .feed import CELL, GATEWAY, HOME_LAT, HOME_LON, T0, Feed, imei, offset, position_rows, tracker

BIKE = imei(1)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


async def test_a_tracker_is_created_on_first_sight_with_its_gateway_and_current_position(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await feed.send([feed.position(BIKE, T0, speed_kmh=12.0, course=90.0, satellites=7)])
    row = await tracker(engine, BIKE)
    assert (row.site, row.armed, row.owner_id, row.name) == (GATEWAY, False, None, "")
    assert (row.lat, row.lon, row.fix_time, row.speed_kmh, row.course, row.satellites) == (
        HOME_LAT, HOME_LON, T0, 12.0, 90.0, 7
    )
    assert row.last_seen_at == T0
    stored = await position_rows(engine, BIKE)
    assert [(p.id, p.source, p.approximate, p.filtered, p.archived) for p in stored] == [
        (row.position_id, "gps", False, None, False)
    ]
    assert stored[0].cell == CELL


async def test_an_archived_older_fix_never_moves_the_current_position_back(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    far = offset(0, 500)
    await feed.send([feed.position(BIKE, T0 + seconds(100), *far)])
    # The buffer of the offline minutes arrives after, newest chunk first, out of order, marked archived.
    reupload = [feed.position(BIKE, T0 + seconds(s), *offset(0, 5 * s), archived=True, rx=T0 + seconds(110))
                for s in (60, 70, 80, 10, 20, 30)]
    await feed.send(reupload[:3])
    await feed.send(reupload[3:])
    row = await tracker(engine, BIKE)
    assert (row.fix_time, row.lat, row.lon) == (T0 + seconds(100), *far)
    stored = await position_rows(engine, BIKE)
    assert [(p.fix_time - T0).total_seconds() for p in stored] == [10, 20, 30, 60, 70, 80, 100]
    assert [p.archived for p in stored] == [True] * 6 + [False]
    assert all(p.filtered is None for p in stored)
    assert row.position_id == stored[-1].id
    assert row.last_seen_at == T0 + seconds(110)


async def test_a_gateways_late_backlog_does_not_take_the_tracker_back_from_the_gateway_it_reports_to_now(
    engine: AsyncEngine,
) -> None:
    old, new = Feed(engine, site="gw-old"), Feed(engine, site="gw-new")
    await old.send([old.position(BIKE, T0)])
    # The tracker moves to another gateway; the old one's uplink was down and its backlog arrives afterwards.
    await new.send([new.position(BIKE, T0 + seconds(60))])
    await old.send([old.status(BIKE, T0 + seconds(30))], now=T0 + seconds(120))
    row = await tracker(engine, BIKE)
    assert (row.site, row.last_seen_at) == ("gw-new", T0 + seconds(60))  # commands must go where it is now
    await old.send([old.position(BIKE, T0 + seconds(90))])  # it comes back to the old one
    assert (await tracker(engine, BIKE)).site == "gw-old"


async def test_within_a_batch_the_newest_fix_wins_whatever_the_order(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    newest = offset(30, 30)
    batch = [feed.position(BIKE, T0 + seconds(20), *newest), feed.position(BIKE, T0, *offset(10, 10)),
             feed.position(BIKE, T0 + seconds(10), *offset(20, 20))]
    await feed.send(batch)
    row = await tracker(engine, BIKE)
    assert (row.fix_time, row.lat, row.lon) == (T0 + seconds(20), *newest)


async def test_filtered_positions_are_stored_with_their_reason_and_used_for_nothing(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    now = T0 + seconds(3600)
    good = feed.position(BIKE, now - seconds(60))
    await feed.send([good], now=now)
    bad = [
        feed.position(BIKE, now - seconds(50), *offset(5, 5), valid=False),  # invalid
        feed.position(BIKE, now - seconds(45), 0.0, 0.0),  # zero
        feed.position(BIKE, now + seconds(3600)),  # future
        feed.position(BIKE, T0 - timedelta(days=9000)),  # stale: a reset clock
        feed.position(BIKE, now - seconds(60)),  # duplicate of `good` (a reply that was lost)
        feed.position(BIKE, now - seconds(40), *offset(0, 5000)),  # jump: 5 km in 20 s
        feed.position(BIKE, now - seconds(35), 95.0, 10.0),  # range
        feed.position(BIKE, now - seconds(30), satellites="nine"),  # malformed
    ]
    await feed.send(bad, now=now)
    stored = await position_rows(engine, BIKE)
    assert sorted(p.filtered or "accepted" for p in stored) == sorted(
        ["accepted", "invalid", "zero", "future", "stale", "duplicate", "jump", "range", "malformed"]
    )
    malformed = next(p for p in stored if p.filtered == "malformed")
    assert (malformed.lat, malformed.satellites) == (None, None)  # its data is in readings as it came
    row = await tracker(engine, BIKE)
    assert (row.fix_time, row.lat, row.lon) == (now - seconds(60), HOME_LAT, HOME_LON)
    async with engine.connect() as connection:
        kept = (await connection.execute(select(func.count()).select_from(readings))).scalar_one()
    assert kept == 1 + len(bad)  # every reading is kept as it came


async def test_duplicates_can_be_dropped_from_positions(engine: AsyncEngine) -> None:
    feed = Feed(engine, settings=TrackerSettings(duplicates="drop"))
    await feed.send([feed.position(BIKE, T0)])
    await feed.send([feed.position(BIKE, T0), feed.position(BIKE, T0)])
    assert [p.filtered for p in await position_rows(engine, BIKE)] == [None]


async def test_a_jump_does_not_lock_the_tracker_out(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    # After an hour without a fix the first one is 3 km off (a cold start); the true ones follow.
    await feed.send([feed.position(BIKE, T0)])
    await feed.send([feed.position(BIKE, T0 + seconds(3600), *offset(3000, 0))])
    await feed.send([feed.position(BIKE, T0 + seconds(3610), *offset(10, 0))])
    await feed.send([feed.position(BIKE, T0 + seconds(3620), *offset(12, 0))])
    await feed.send([feed.position(BIKE, T0 + seconds(3630), *offset(14, 0))])
    stored = await position_rows(engine, BIKE)
    assert [p.filtered for p in stored] == [None, None, "jump", None, None]
    row = await tracker(engine, BIKE)
    assert (row.lat, row.lon) == offset(14, 0)


async def test_an_archived_jump_is_judged_against_its_neighbours_in_the_track(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await feed.send([feed.position(BIKE, T0), feed.position(BIKE, T0 + seconds(100), *offset(0, 100))])
    await feed.send([
        feed.position(BIKE, T0 + seconds(50), *offset(0, 50), archived=True),
        feed.position(BIKE, T0 + seconds(60), *offset(0, 9000), archived=True),  # 9 km in 10 s
        feed.position(BIKE, T0 + seconds(70), *offset(0, 70), archived=True),
    ])
    stored = await position_rows(engine, BIKE)
    assert [((p.fix_time - T0).total_seconds(), p.filtered) for p in stored] == [
        (0, None), (50, None), (60, "jump"), (70, None), (100, None)
    ]


async def test_cell_reports_are_approximate_and_kept_apart_from_the_gps_position(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await feed.send([feed.position(BIKE, T0)])
    other_cell = {"mcc": 460, "mnc": 0, "lac": 9521, "cid": 4000}
    await feed.send([feed.cell_report(BIKE, T0 + seconds(30), cell=other_cell),
                     feed.cell_report(BIKE, T0 + seconds(20))])
    await feed.send([feed.cell_report(BIKE, T0 + seconds(25))])  # older than the newest: lbs_time stays
    row = await tracker(engine, BIKE)
    assert (row.fix_time, row.lat, row.lon) == (T0, HOME_LAT, HOME_LON)  # no GPS fix: the GPS position stays
    assert (row.lbs_time, row.lbs_cell) == (T0 + seconds(30), other_cell)
    cells = [p for p in await position_rows(engine, BIKE) if p.source == "lbs"]
    assert [(p.approximate, p.valid, p.lat, p.filtered) for p in cells] == [(True, False, None, None)] * 3


async def test_a_fix_without_gps_keeps_the_last_position_and_the_cell_shows_where(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    # A tracker that lost its fix repeats the last coordinates marked not positioned, with the serving cell.
    await feed.send([feed.position(BIKE, T0), feed.position(BIKE, T0 + seconds(10), valid=False)])
    row = await tracker(engine, BIKE)
    assert row.fix_time == T0
    assert [p.filtered for p in await position_rows(engine, BIKE)] == [None, "invalid"]


async def test_status_readings_update_the_tracker_status(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await feed.send([feed.status(BIKE, T0, voltage_level=3, charging=False, nested={"x": 1}, note="y" * 500)])
    await feed.send([feed.status(BIKE, T0 - seconds(60), voltage_level=6)])  # an older one changes nothing
    row = await tracker(engine, BIKE)
    assert {key: row.status.get(key) for key in ("voltage_level", "charging", "gsm", "acc", "at")} == {
        "voltage_level": 3, "charging": False, "gsm": 4, "acc": False, "at": format_ts(T0)
    }
    assert "nested" not in row.status
    assert "note" not in row.status  # only short scalar values are kept


async def test_a_position_that_names_no_imei_is_kept_in_readings_only(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    outcome = await feed.send([feed.position("not-an-imei", T0), feed.position("1" * 40, T0)])
    assert len(outcome.stored) == 2
    async with engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(positions))).scalar_one() == 0
        assert (await connection.execute(select(func.count()).select_from(trackers))).scalar_one() == 0


async def test_a_re_sent_reading_stores_no_second_position(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    envelope = feed.position(BIKE, T0)
    await feed.send([envelope])
    await feed.send([envelope])  # the same (site, seq) again: the ingest drops it before the hooks
    assert len(await position_rows(engine, BIKE)) == 1


async def test_a_batch_of_500_positions_of_200_trackers_in_one_transaction(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    bikes = [imei(100 + n) for n in range(200)]
    await feed.send([feed.position(bike, T0, *offset(n, 0)) for n, bike in enumerate(bikes[:50])])  # 50 known
    batch: list[Envelope] = []
    for step in range(3):
        for n, bike in enumerate(bikes):
            if len(batch) < 500:
                batch.append(feed.position(bike, T0 + seconds(10 * (step + 1)), *offset(n, 10 * (step + 1))))
    outcome = await feed.send(batch)
    assert len(outcome.stored) == 500
    async with engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(trackers))).scalar_one() == 200
        stored = (await connection.execute(select(func.count()).select_from(positions))).scalar_one()
        assert stored == 550
        rows = {row.imei: row for row in await connection.execute(select(trackers))}
    for n, bike in enumerate(bikes):
        last_step = 3 if n < 100 else 2  # 500 = 200 + 200 + 100: the first hundred got a third fix
        assert (rows[bike].fix_time, rows[bike].lat, rows[bike].lon) == (
            T0 + seconds(10 * last_step), *offset(n, 10 * last_step)
        )
    assert feed.hook.last.positions == 500


async def test_a_device_clock_in_the_far_future_does_not_freeze_status_or_ignition(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await feed.send([feed.status(BIKE, datetime(9999, 1, 1, tzinfo=UTC), rx=T0, acc=True, voltage_level=1)])
    later = T0 + seconds(60)
    await feed.send([feed.status(BIKE, T0, rx=later, acc=False, voltage_level=5)])
    row = await tracker(engine, BIKE)
    assert (row.status["voltage_level"], row.status["acc"], row.status["at"]) == (5, False, format_ts(later))


async def test_huge_numbers_are_malformed_not_a_crash(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    outcome = await feed.send([feed.position(BIKE, T0, speed_kmh=10**400), feed.position(BIKE, T0 + seconds(1),
                                                                                          lat=10**30)])
    assert len(outcome.stored) == 2
    assert [p.filtered for p in await position_rows(engine, BIKE)] == ["malformed", "range"]


HOSTILE: list[dict[str, object]] = [
    {"lat": {"deg": 22}},
    {"lon": [114, 3]},
    {"fix_time": ["2026-11-24"]},
    {"fix_time": "2026-13-45T99:99:99Z"},
    {"fix_time": "0001-01-01T00:00:00+05:00"},  # before year 1 in UTC
    {"source": 5},
    {"source": None, "lat": None, "lon": None, "cell": [460, 0]},
    {"valid": 1},
    {"archived": "x"},
    {"acc": "on"},
    {"satellites": -(2**40)},
    {"course": "north"},
    {"hdop": "good"},
    {"cell": {"mcc": 460, "mnc": 0, "lac": 2**62, "cid": 1}},
]


@pytest.mark.parametrize("fields", HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
async def test_hostile_position_data_is_stored_as_malformed(engine: AsyncEngine, fields: dict[str, object]) -> None:
    feed = Feed(engine)
    good = feed.position(BIKE, T0)
    hostile = feed.position(BIKE, T0 + seconds(10))
    hostile.data.update(fields)
    outcome = await feed.send([good, hostile])
    assert len(outcome.stored) == 2
    stored = await position_rows(engine, BIKE)
    assert [p.filtered for p in stored] == [None, "malformed"]
    assert (await tracker(engine, BIKE)).fix_time == T0  # the good fix is the current position
