"""Positions of a batch into the store: filtered (central.trackers.filters), inserted in one multi-row INSERT, and
each tracker's current position moved forward.

- The current position is the newest ACCEPTED GPS fix by fix time: an archived re-upload older than it is stored in
  its place in the track and never moves it back. Cell-tower reports go to `lbs_time` / `lbs_cell` (the newest by fix
  time), never into `lat` / `lon`.
- A tracker's positions of a batch are filtered in fix-time order. Those newer than its current fix are compared
  with the fix accepted just before them (the current fix, then each newly accepted one); older ones (re-uploads)
  with the accepted fix before them in the stored track, read once per tracker and batch, only when there are any.
- Queries per batch: one for duplicates of the whole batch, one INSERT; per tracker only when a re-upload or a jump
  needs the stored neighbours.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.schema import positions
from central.trackers.filters import DUPLICATE, JUMP, Fix, fix_of, implied_speed_kmh, is_jump, static_reason
from central.trackers.reports import GPS, PositionReport
from central.trackers.rows import TrackerRow
from central.trackers.settings import TrackerSettings

Key = tuple[str, str, datetime]  # (imei, source, fix_time)


@dataclass(frozen=True, slots=True)
class Judged:
    """A position and the filters' verdict: None when accepted, else the reason."""

    report: PositionReport
    filtered: str | None

    @property
    def accepted_gps(self) -> bool:
        return self.filtered is None and self.report.is_gps


def key_of(report: PositionReport) -> Key:
    return (report.imei, report.source, report.fix_time)


async def stored_keys(connection: AsyncConnection, reports: Sequence[PositionReport]) -> set[Key]:
    """Which of these positions are stored already (same IMEI, source and fix time): one query for the batch."""
    if not reports:
        return set()
    imeis = sorted({report.imei for report in reports})
    times = sorted({report.fix_time for report in reports})
    rows = await connection.execute(
        select(positions.c.imei, positions.c.source, positions.c.fix_time).where(
            positions.c.imei.in_(imeis), positions.c.fix_time.in_(times)
        )
    )
    return {(row.imei, row.source, row.fix_time) for row in rows}


def _accepted_gps() -> tuple[Any, ...]:
    return (positions.c.filtered.is_(None), positions.c.source == GPS, positions.c.lat.is_not(None))


async def _accepted_around(connection: AsyncConnection, imei: str, start: datetime, end: datetime) -> list[Fix]:
    """The stored accepted fixes in [start, end] and the newest one before `start`, in fix-time order."""
    columns = (positions.c.fix_time, positions.c.lat, positions.c.lon)
    before = (
        await connection.execute(
            select(*columns)
            .where(positions.c.imei == imei, positions.c.fix_time < start, *_accepted_gps())
            .order_by(positions.c.fix_time.desc())
            .limit(1)
        )
    ).all()
    inside = (
        await connection.execute(
            select(*columns)
            .where(positions.c.imei == imei, positions.c.fix_time >= start, positions.c.fix_time <= end,
                   *_accepted_gps())
            .order_by(positions.c.fix_time)
        )
    ).all()
    return [Fix(row.fix_time, row.lat, row.lon) for row in (*before, *inside)]


async def _stored_jump(connection: AsyncConnection, imei: str, after: datetime, before: datetime) -> Fix | None:
    """The newest fix filtered as a jump between two times (the one a later fix may agree with)."""
    row = (
        await connection.execute(
            select(positions.c.fix_time, positions.c.lat, positions.c.lon)
            .where(positions.c.imei == imei, positions.c.filtered == JUMP, positions.c.fix_time > after,
                   positions.c.fix_time < before, positions.c.lat.is_not(None), positions.c.lon.is_not(None))
            .order_by(positions.c.fix_time.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else Fix(row.fix_time, row.lat, row.lon)


class _LateTrack:
    """The accepted fixes around a tracker's re-uploads: loaded once, extended as re-uploads are accepted."""

    def __init__(self, fixes: list[Fix]) -> None:
        self._fixes = fixes
        self._times = [fix.fix_time for fix in fixes]

    def before(self, moment: datetime) -> Fix | None:
        index = bisect.bisect_left(self._times, moment)
        return self._fixes[index - 1] if index else None

    def add(self, fix: Fix) -> None:
        index = bisect.bisect_right(self._times, fix.fix_time)
        self._times.insert(index, fix.fix_time)
        self._fixes.insert(index, fix)


async def judge_tracker(
    connection: AsyncConnection,
    row: TrackerRow,
    reports: Sequence[PositionReport],
    *,
    stored: set[Key],
    settings: TrackerSettings,
    now: datetime,
) -> list[Judged]:
    """The filters' verdict on one tracker's positions of a batch, in fix-time order."""
    ordered = sorted(reports, key=lambda report: (report.fix_time, report.seq))
    newest = row.fix_time  # the current fix's time when the batch began: later fixes are fresh, others re-uploads
    accepted = row.current_fix
    fresh_jump: Fix | None = None
    fresh_jump_looked_up = False
    late_track: _LateTrack | None = None
    late_jump: Fix | None = None
    seen: set[Key] = set()
    judged: list[Judged] = []
    for report in ordered:
        reason = static_reason(report, now=now, settings=settings)
        key = key_of(report)
        if reason is None and (key in stored or key in seen):
            reason = DUPLICATE
        seen.add(key)
        fix = fix_of(report)
        if reason is None and report.is_gps and fix is not None:
            if newest is None or fix.fix_time > newest:
                plain_jump = accepted is not None and implied_speed_kmh(accepted, fix) > settings.max_speed_kmh
                if plain_jump and fresh_jump is None and not fresh_jump_looked_up and accepted is not None:
                    fresh_jump = await _stored_jump(connection, row.imei, accepted.fix_time, fix.fix_time)
                    fresh_jump_looked_up = True
                if is_jump(fix, accepted, fresh_jump, max_speed_kmh=settings.max_speed_kmh):
                    reason, fresh_jump = JUMP, fix
                else:
                    accepted, fresh_jump = fix, None
            else:
                if late_track is None:
                    late_times = [r.fix_time for r in ordered if r.is_gps and r.fix_time <= newest]
                    late_track = _LateTrack(await _accepted_around(connection, row.imei, late_times[0], late_times[-1]))
                neighbour = late_track.before(fix.fix_time)
                if is_jump(fix, neighbour, late_jump, max_speed_kmh=settings.max_speed_kmh):
                    reason, late_jump = JUMP, fix
                else:
                    late_track.add(fix)
                    late_jump = None
        judged.append(Judged(report, reason))
    return judged


def _position_row(judged: Judged, stored_at: datetime) -> dict[str, Any]:
    report = judged.report
    return {
        "imei": report.imei,
        "site": report.site,
        "seq": report.seq,
        "fix_time": report.fix_time,
        "rx": report.rx,
        "stored_at": stored_at,
        "source": report.source,
        "approximate": not report.is_gps,
        "valid": report.valid,
        "archived": report.archived,
        "lat": report.lat,
        "lon": report.lon,
        "speed_kmh": report.speed_kmh,
        "course": report.course,
        "satellites": report.satellites,
        "cell": report.cell,
        "filtered": judged.filtered,
    }


async def insert_positions(
    connection: AsyncConnection, judged: Sequence[Judged], *, stored_at: datetime, settings: TrackerSettings
) -> dict[tuple[str, int], int]:
    """One multi-row INSERT for the batch; the new ids by the reading's (site, seq). Duplicates are left out when
    the settings say `duplicates = "drop"`."""
    rows = [
        _position_row(item, stored_at)
        for item in judged
        if not (item.filtered == DUPLICATE and settings.duplicates == "drop")
    ]
    if not rows:
        return {}
    result = await connection.execute(
        insert(positions).returning(positions.c.id, positions.c.site, positions.c.seq), rows
    )
    return {(row.site, row.seq): int(row.id) for row in result}


def advance_current(row: TrackerRow, judged: Sequence[Judged], ids: dict[tuple[str, int], int]) -> None:
    """Move the tracker's current position and newest cell report forward (never back)."""
    for item in judged:
        report = item.report
        if item.filtered is not None:
            continue
        if report.is_gps and (row.fix_time is None or report.fix_time > row.fix_time):
            row.position_id = ids.get((report.site, report.seq))
            row.fix_time, row.lat, row.lon = report.fix_time, report.lat, report.lon
            row.speed_kmh, row.course, row.satellites = report.speed_kmh, report.course, report.satellites
        elif not report.is_gps and (row.lbs_time is None or report.fix_time > row.lbs_time):
            row.lbs_time, row.lbs_cell = report.fix_time, report.cell
