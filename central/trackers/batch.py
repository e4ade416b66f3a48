"""The ingest's tracker hook: a batch's tracker readings into positions, tracker rows, thefts and notifications.

`TrackerHook.on_stored` runs inside the ingest's transaction, before the alarm rules (so a tracker seen for the first
time has its row, and its arming, before the rules look its alarms up):

1. the IMEIs the batch speaks for (positions and statuses by device, tracker alarms by zone); a row is created for
   each tracker seen for the first time, then all of them are locked in IMEI order;
2. positions: parsed, filtered per tracker in fix-time order, inserted in one statement; current positions moved;
3. statuses: the newest one merged into `status`; ACC from statuses and real-time positions;
4. the theft rule per armed tracker: the device's alarms (power cut, motion), ACC on, then the fixes;
5. a theft raises the bike's theft dispatch and the owner's notification;
6. every changed tracker row written back by one UPDATE statement.

`armed_of` and `alarm_dispatched` are the alarm rules' hooks: a tracker's alarm is judged by the bike's arming, and
its owner is told when it raises a dispatch (not of its repeats).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.dispatch.repository import Dispatch
from central.model import StoredReading
from central.rules import DISPATCHING_QUALIFIERS, is_tracker_alarm
from central.store.schema import trackers
from central.trackers import filters, notify, positions, rows, theft
from central.trackers.dispatching import raise_theft, theft_dispatch
from central.trackers.policy import TrackerPolicy
from central.trackers.reports import PositionReport, parse_position, tracker_imei
from central.trackers.rows import TrackerRow
from central.trackers.webhooks import tracker_details
from shaobing.clock import format_ts, parse_ts
from shaobing.envelope import Kind

MAX_STATUS_KEYS = 32
MAX_STATUS_TEXT = 64


@dataclass
class BatchFigures:
    """What one batch did (for logs and tests)."""

    trackers: int = 0
    created: int = 0
    positions: int = 0
    filtered: Counter[str] = field(default_factory=Counter)
    thefts: list[tuple[str, int]] = field(default_factory=list)  # (IMEI, dispatch id)
    notified: int = 0


def alarm_fix(data: dict[str, Any], moment: datetime) -> filters.Fix | None:
    """The position an alarm carries, when the device had a fix."""
    lat, lon = data.get("lat"), data.get("lon")
    if data.get("valid") is not True or isinstance(lat, bool) or isinstance(lon, bool):
        return None
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or lat == lon == 0:
        return None
    raw_time = data.get("fix_time")
    try:
        fix_time = parse_ts(raw_time) if isinstance(raw_time, str) and len(raw_time) <= 64 else moment
    except (ValueError, OverflowError):
        fix_time = moment
    return filters.Fix(fix_time, float(lat), float(lon))


def _status_values(data: dict[str, Any]) -> dict[str, Any]:
    """The scalar fields of a status reading, bounded: what the tracker row keeps of it."""
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if len(kept) >= MAX_STATUS_KEYS or len(key) > MAX_STATUS_TEXT:
            break
        if value is None or isinstance(value, bool | int | float) or (
            isinstance(value, str) and len(value) <= MAX_STATUS_TEXT
        ):
            kept[key] = value
    return kept


def _stamp(status: dict[str, Any], key: str) -> datetime | None:
    raw = status.get(key)
    try:
        return parse_ts(raw) if isinstance(raw, str) else None
    except (ValueError, OverflowError):
        return None


@dataclass
class _TrackerBatch:
    """One tracker's readings of a batch."""

    row: TrackerRow
    readings: list[StoredReading] = field(default_factory=list)
    reports: list[PositionReport] = field(default_factory=list)
    judged: list[positions.Judged] = field(default_factory=list)


class TrackerHook:
    """The tracker core as the ingest and the alarm rules call it; `last` holds the figures of the latest batch."""

    def __init__(
        self, policy: TrackerPolicy, *, logger: logging.Logger, wake_sender: Callable[[], None] | None = None
    ) -> None:
        self.policy = policy
        self._settings = policy.settings
        self._logger = logger
        self._wake_sender = wake_sender
        self._enqueued = False  # set when a batch wrote webhook deliveries; a rolled-back one only costs a wake-up
        self.last: BatchFigures = BatchFigures()

    # -- the ingest's hooks ------------------------------------------------------------------------------------------

    async def on_stored(self, connection: AsyncConnection, stored: list[StoredReading]) -> None:
        figures = BatchFigures()
        self.last = figures
        by_imei: dict[str, list[StoredReading]] = {}
        strays: list[StoredReading] = []
        for reading in stored:
            imei = tracker_imei(reading.envelope)
            if imei is not None:
                by_imei.setdefault(imei, []).append(reading)
            elif reading.envelope.kind is Kind.POSITION:
                strays.append(reading)
        if strays:  # once per batch, however many: a misconfigured gateway must not flood the log
            first = strays[0].envelope
            self._logger.warning("%d position(s) of devices that are not IMEIs kept in readings only, e.g. %s/%d "
                                 "device %r", len(strays), first.site, first.seq, first.device[:40])
        if not by_imei:
            return
        now = stored[0].stored_at
        # A tracker's gateway is the site of its latest reading (by the gateway's receipt time).
        sites = {imei: max(items, key=lambda r: r.envelope.rx).envelope.site for imei, items in by_imei.items()}
        locked, figures.created = await rows.lock(connection, sites, now=now)
        batches = {imei: _TrackerBatch(locked[imei], items) for imei, items in by_imei.items() if imei in locked}
        figures.trackers = len(batches)

        await self._positions(connection, batches, now=now, figures=figures)
        for imei, batch in batches.items():
            self._seen(batch, sites[imei])
            self._statuses(batch)
            await self._theft(connection, batch, now=now, figures=figures)
        await rows.write_back(connection, (batch.row for batch in batches.values()), now=now)

    async def after_commit(self, stored: list[StoredReading]) -> None:
        if self._enqueued and self._wake_sender is not None:
            self._wake_sender()
        self._enqueued = False

    async def armed_of(self, connection: AsyncConnection, imei: str) -> bool | None:
        """The alarm rules' `device_armed`: the bike's arming; None for an unknown tracker."""
        armed = (await connection.execute(select(trackers.c.armed).where(trackers.c.imei == imei))).scalar()
        return armed if isinstance(armed, bool) else None

    async def alarm_dispatched(
        self, connection: AsyncConnection, reading: StoredReading, dispatch: Dispatch, created: bool
    ) -> None:
        """The alarm rules' `on_dispatch`: the owner hears of their bike's alarm once, when it is raised."""
        envelope = reading.envelope
        imei = tracker_imei(envelope)
        if not created or imei is None or not is_tracker_alarm(envelope):
            return
        notice = notify.Notice(notify.ALARM, imei, dispatch.alarm_class, dispatch.id,
                               position=alarm_fix(envelope.data, envelope.ts))
        if await notify.notify_owner(connection, notice, policy=self.policy, now=reading.stored_at):
            self._enqueued = True

    # -- the steps ---------------------------------------------------------------------------------------------------

    async def _positions(
        self, connection: AsyncConnection, batches: dict[str, _TrackerBatch], *, now: datetime, figures: BatchFigures
    ) -> None:
        for imei, batch in batches.items():
            batch.reports = [parse_position(r, imei) for r in batch.readings if r.envelope.kind is Kind.POSITION]
        every = [report for batch in batches.values() for report in batch.reports]
        if not every:
            return
        malformed = [report for report in every if report.problem is not None]
        if malformed:  # once per batch; each reading is kept as it came, with its site and seq to find it
            first = malformed[0]
            self._logger.warning("%d malformed position(s) stored as such, e.g. %s/%d of %s: %s", len(malformed),
                                 first.site, first.seq, first.imei, first.problem)
        stored = await positions.stored_keys(connection, every)
        for batch in batches.values():
            if batch.reports:
                batch.judged = await positions.judge_tracker(connection, batch.row, batch.reports, stored=stored,
                                                             settings=self._settings, now=now)
        judged = [item for batch in batches.values() for item in batch.judged]
        ids = await positions.insert_positions(connection, judged, stored_at=now, settings=self._settings)
        figures.positions = len(ids)
        figures.filtered.update(item.filtered for item in judged if item.filtered is not None)
        for batch in batches.values():
            positions.advance_current(batch.row, batch.judged, ids)

    def _seen(self, batch: _TrackerBatch, site: str) -> None:
        row = batch.row
        latest = max(reading.envelope.rx for reading in batch.readings)
        if row.last_seen_at is None or latest >= row.last_seen_at:
            # the gateway it reports through now; a gateway's backlog arriving late does not take it back there
            row.site = site
            row.last_seen_at = latest

    def _statuses(self, batch: _TrackerBatch) -> None:
        row = batch.row
        statuses = [r for r in batch.readings if r.envelope.kind is Kind.STATUS]
        if not statuses:
            return
        newest = max(statuses, key=lambda r: (r.envelope.rx, r.envelope.seq))
        known_at = _stamp(row.status, "at")
        if known_at is not None and newest.envelope.rx < known_at:
            return
        keep = {key: row.status[key] for key in ("acc", "acc_at") if key in row.status}
        row.status = _status_values(newest.envelope.data) | keep | {"at": format_ts(newest.envelope.rx)}

    def _acc_trip(self, batch: _TrackerBatch, watch: theft.Watch) -> theft.Trip | None:
        """Follow ACC (ignition) through statuses and real-time positions in the order the gateway received them
        (a device's clock could put one in the year 9999 and hide every later change); on while armed: a theft."""
        row = batch.row
        events: list[tuple[datetime, int, bool, StoredReading, filters.Fix | None]] = []
        for reading in batch.readings:
            envelope = reading.envelope
            acc = envelope.data.get("acc")
            if not isinstance(acc, bool):
                continue
            if envelope.kind is Kind.STATUS:
                events.append((envelope.rx, envelope.seq, acc, reading, None))
            elif envelope.kind is Kind.POSITION and envelope.data.get("archived") is not True:
                events.append((envelope.rx, envelope.seq, acc, reading, alarm_fix(envelope.data, envelope.ts)))
        if not events:
            return None
        previous = row.status.get("acc")
        known_at = _stamp(row.status, "acc_at")
        trip: theft.Trip | None = None
        for moment, _, acc, reading, fix in sorted(events, key=lambda event: (event[0], event[1])):
            if known_at is not None and moment <= known_at:
                continue
            if acc and previous is not True and trip is None:
                late = theft.is_late(reading.envelope.ts, archived=False, received=moment, settings=self._settings)
                trip = theft.device_signal(watch, theft.ACC_ON, reading_id=reading.id, at=moment, late=late, fix=fix)
            previous, known_at = acc, moment
        if known_at is not None and known_at != _stamp(row.status, "acc_at"):
            row.status = row.status | {"acc": previous, "acc_at": format_ts(known_at)}
        return trip

    def _signal_trip(self, batch: _TrackerBatch, watch: theft.Watch) -> theft.Trip | None:
        """The device's own alarms that say an armed bike is being taken."""
        for reading in batch.readings:
            envelope = reading.envelope
            if not is_tracker_alarm(envelope) or envelope.data.get("qualifier") not in DISPATCHING_QUALIFIERS:
                continue
            raw_class = envelope.data.get("class")
            alarm_class = raw_class.strip().lower() if isinstance(raw_class, str) else ""
            if alarm_class not in theft.THEFT_SIGNALS:
                continue
            late = theft.is_late(envelope.ts, archived=False, received=envelope.rx, settings=self._settings)
            trip = theft.device_signal(watch, alarm_class, reading_id=reading.id, at=envelope.ts, late=late,
                                       fix=alarm_fix(envelope.data, envelope.ts))
            if trip is not None:
                return trip
        return None

    def _fix_trip(self, batch: _TrackerBatch, watch: theft.Watch) -> tuple[theft.Watch, theft.Trip | None]:
        settings = self._settings
        late_fixes: list[theft.LateFix] = []
        trip: theft.Trip | None = None
        for item in batch.judged:  # in fix-time order
            report = item.report
            fix = filters.fix_of(report)
            if fix is None or not theft.counts(report, item.filtered, settings):
                continue
            if watch.counted_fix_time is None or fix.fix_time > watch.counted_fix_time:
                late = theft.is_late(fix.fix_time, archived=report.archived, received=report.rx, settings=settings)
                watch, trip = theft.observe_fix(watch, fix, reading_id=report.reading_id, late=late, settings=settings,
                                                speed_kmh=report.speed_kmh)
                if trip is not None:
                    return watch, trip
            else:
                late_fixes.append(theft.LateFix(fix, report.reading_id))
        return watch, theft.observe_late_fixes(watch, late_fixes, settings=settings)

    async def _theft(
        self, connection: AsyncConnection, batch: _TrackerBatch, *, now: datetime, figures: BatchFigures
    ) -> None:
        row = batch.row
        watch = row.watch
        trip = self._signal_trip(batch, watch)
        acc_trip = self._acc_trip(batch, watch)
        trip = trip or acc_trip
        if trip is None:
            watch, trip = self._fix_trip(batch, watch)
        if trip is not None:
            watch = await self._raise(connection, row, watch, trip, now=now, figures=figures)
        row.watch = watch

    async def _raise(
        self,
        connection: AsyncConnection,
        row: TrackerRow,
        watch: theft.Watch,
        trip: theft.Trip,
        *,
        now: datetime,
        figures: BatchFigures,
    ) -> theft.Watch:
        assert row.site is not None  # set from this batch's readings
        position = trip.fix or row.current_fix
        details = tracker_details(imei=row.imei, name=row.name, plate=row.plate, reason=trip.reason, late=trip.late,
                                  position=position, distance_m=trip.distance_m)
        new = theft_dispatch(site=row.site, imei=row.imei, reading_id=trip.reading_id, policy=self.policy, at=now)
        dispatch, created = await raise_theft(connection, new, tracker=details, at=now)
        self._enqueued = True
        row.theft_dispatch_id, row.theft_at = dispatch.id, now
        figures.thefts.append((row.imei, dispatch.id))
        self._logger.warning(
            "theft of %s (%s%s): dispatch %d %s", row.imei, trip.reason, ", found late" if trip.late else "",
            dispatch.id, "raised" if created else "folded (still open from an earlier episode)",
        )
        notice = notify.Notice(notify.THEFT, row.imei, "theft", dispatch.id, position=position, reason=trip.reason,
                               late=trip.late)
        if await notify.notify_owner(connection, notice, policy=self.policy, now=now):
            figures.notified += 1
        return replace(watch, theft_state="alarmed")
