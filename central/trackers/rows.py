"""Tracker rows as the ingest works on them: created on first sight, locked for the batch, written back once.

A batch reads the rows of every tracker it touches in one SELECT ... FOR UPDATE (in IMEI order, so two batches or a
batch and an owner arming the bike never deadlock: the owner's action waits for the batch, then sees its effect),
creating first those it has never seen. It changes them in memory and writes back each changed row once, only the
columns that changed: rows with the same changed columns (in steady state nearly all: the position and last seen)
share one executemany UPDATE. Never written here: the owner, name, plate, bind code and arming, which the API changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.dialect import insert_ignoring_conflicts
from central.store.schema import trackers
from central.trackers.filters import Fix
from central.trackers.theft import Watch

WATCH_COLUMNS = tuple(item.name for item in fields(Watch) if item.name not in ("armed", "armed_at"))


@dataclass
class TrackerRow:
    """The columns of one tracker the ingest reads and writes (mutable: a batch's working copy)."""

    imei: str
    site: str | None
    name: str
    plate: str | None
    watch: Watch
    theft_dispatch_id: int | None
    theft_at: datetime | None
    position_id: int | None
    fix_time: datetime | None
    lat: float | None
    lon: float | None
    speed_kmh: float | None
    course: float | None
    satellites: int | None
    lbs_time: datetime | None
    lbs_cell: dict[str, Any] | None
    status: dict[str, Any]
    last_seen_at: datetime | None
    loaded: dict[str, Any] = field(default_factory=dict, compare=False)  # `written()` as read

    def __post_init__(self) -> None:
        self.loaded = self.written()

    @property
    def current_fix(self) -> Fix | None:
        if self.fix_time is None or self.lat is None or self.lon is None:
            return None
        return Fix(self.fix_time, self.lat, self.lon)

    def written(self) -> dict[str, Any]:
        """The ingest's columns, named for the UPDATE's bind parameters."""
        values = {
            "site": self.site,
            "theft_dispatch_id": self.theft_dispatch_id,
            "theft_at": self.theft_at,
            "position_id": self.position_id,
            "fix_time": self.fix_time,
            "lat": self.lat,
            "lon": self.lon,
            "speed_kmh": self.speed_kmh,
            "course": self.course,
            "satellites": self.satellites,
            "lbs_time": self.lbs_time,
            "lbs_cell": self.lbs_cell,
            "status": self.status,
            "last_seen_at": self.last_seen_at,
        }
        values.update({column: getattr(self.watch, column) for column in WATCH_COLUMNS})
        return values

    def changes(self) -> dict[str, Any]:
        """The columns whose value differs from what was read."""
        return {column: value for column, value in self.written().items() if self.loaded.get(column) != value}


def watch_of(row: Any) -> Watch:
    return Watch(
        armed=bool(row.armed),
        armed_at=row.armed_at,
        theft_state=row.theft_state,
        anchor_lat=row.anchor_lat,
        anchor_lon=row.anchor_lon,
        anchor_time=row.anchor_time,
        anchor_fixes=row.anchor_fixes or 0,
        moving_fixes=row.moving_fixes or 0,
        counted_fix_time=row.counted_fix_time,
    )


def _row(row: Any) -> TrackerRow:
    return TrackerRow(
        imei=row.imei,
        site=row.site,
        name=row.name or "",
        plate=row.plate,
        watch=watch_of(row),
        theft_dispatch_id=row.theft_dispatch_id,
        theft_at=row.theft_at,
        position_id=row.position_id,
        fix_time=row.fix_time,
        lat=row.lat,
        lon=row.lon,
        speed_kmh=row.speed_kmh,
        course=row.course,
        satellites=row.satellites,
        lbs_time=row.lbs_time,
        lbs_cell=dict(row.lbs_cell) if isinstance(row.lbs_cell, dict) else None,
        status=dict(row.status) if isinstance(row.status, dict) else {},
        last_seen_at=row.last_seen_at,
    )


# What a batch reads: not the owner, bind code or bookkeeping columns.
READ_COLUMNS = tuple(
    column for column in trackers.columns
    if column.name not in ("owner_id", "bind_code_hash", "armed_by", "created_at", "updated_at")
)


async def _locked(connection: AsyncConnection, imeis: list[str]) -> dict[str, TrackerRow]:
    query = select(*READ_COLUMNS).where(trackers.c.imei.in_(imeis)).order_by(trackers.c.imei).with_for_update()
    return {row.imei: _row(row) for row in await connection.execute(query)}


async def lock(
    connection: AsyncConnection, sites: Mapping[str, str], *, now: datetime
) -> tuple[dict[str, TrackerRow], int]:
    """The rows of the IMEIs of `sites` (IMEI -> the gateway it came through), locked until the transaction ends
    (PostgreSQL; SQLite has one writer anyway); a row is created first for each one never seen. Also returns how many
    were created."""
    wanted = sorted(sites)
    if not wanted:
        return {}, 0
    found = await _locked(connection, wanted)
    missing = [imei for imei in wanted if imei not in found]
    if missing:
        new = [{"imei": imei, "site": sites[imei], "name": "", "armed": False, "created_at": now, "updated_at": now}
               for imei in missing]
        await connection.execute(insert_ignoring_conflicts(connection.dialect.name, trackers, ["imei"]), new)
        found |= await _locked(connection, missing)
    return found, len(missing)


async def write_back(connection: AsyncConnection, rows: Iterable[TrackerRow], *, now: datetime) -> int:
    """Each changed row once, its changed columns only, one executemany UPDATE per set of changed columns; the number
    of rows written."""
    groups: dict[tuple[str, ...], list[tuple[str, dict[str, Any]]]] = {}
    for row in rows:
        changes = row.changes()
        if changes:
            groups.setdefault(tuple(sorted(changes)), []).append((row.imei, changes))
    for columns, members in groups.items():
        statement = (
            update(trackers)
            .where(trackers.c.imei == bindparam("key_imei"))
            .values({column: bindparam(f"new_{column}") for column in columns} | {"updated_at": bindparam("new_at")})
        )
        parameters = [
            {"key_imei": imei, "new_at": now} | {f"new_{column}": value for column, value in changes.items()}
            for imei, changes in members
        ]
        await connection.execute(statement, parameters)
    return sum(len(members) for members in groups.values())
