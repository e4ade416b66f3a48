"""Reading a bike's track from `positions`: in fix-time order (archived re-uploads fall in their place), in parts.

Which positions make up what:
- `gps`: accepted GPS fixes (`filtered` IS NULL, not approximate) — the track itself;
- `cells`: accepted cell-tower positions — approximate, kept apart, never drawn into the GPS line;
- `filtered`: positions the filters set aside (staff only, on request), with the reason;
- `all`: every accepted position (and with `include_filtered`, the filtered ones too), for tables that mark each row.

Order is (fix_time, id), and parts are read by keyset after the last (fix_time, id) seen, each part with its own short
connection: a client that downloads slowly never holds a database connection, and rows arriving meanwhile with a
later fix time are simply read too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central.store.schema import positions

Part = Literal["gps", "cells", "filtered", "all"]
CHUNK = 2000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class TrackPoint:
    id: int
    fix_time: datetime
    lat: float | None
    lon: float | None
    speed_kmh: float | None
    course: float | None
    satellites: int | None
    source: str
    approximate: bool
    archived: bool
    filtered: str | None
    cell: dict[str, Any] | None

    @property
    def has_coordinates(self) -> bool:
        return self.lat is not None and self.lon is not None


@dataclass(frozen=True, slots=True)
class TrackQuery:
    imei: str
    start: datetime  # inclusive
    end: datetime  # exclusive
    include_filtered: bool = False


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page stopped: its last (fix_time, id)."""

    fix_time: datetime
    id: int

    def encode(self) -> str:
        return f"{(self.fix_time - EPOCH) // timedelta(microseconds=1)}:{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Raises ValueError for anything `encode` did not make."""
        micros, _, ident = text.partition(":")
        if not micros.isdigit() or not ident.isdigit() or len(micros) > 17 or len(ident) > 19:
            raise ValueError("not a track cursor")
        if int(ident) > MAX_ID:  # 19 digits go beyond the id column (a 64-bit integer): the database would refuse it
            raise ValueError("not a track cursor: id out of range")
        return cls(EPOCH + timedelta(microseconds=int(micros)), int(ident))


_COLUMNS = (
    positions.c.id,
    positions.c.fix_time,
    positions.c.lat,
    positions.c.lon,
    positions.c.speed_kmh,
    positions.c.course,
    positions.c.satellites,
    positions.c.source,
    positions.c.approximate,
    positions.c.archived,
    positions.c.filtered,
    positions.c.cell,
)


def _where(query: TrackQuery, part: Part) -> list[Any]:
    conditions: list[Any] = [
        positions.c.imei == query.imei,
        positions.c.fix_time >= query.start,
        positions.c.fix_time < query.end,
    ]
    if part == "filtered":
        return [*conditions, positions.c.filtered.is_not(None)]
    if part == "gps":
        conditions.append(positions.c.approximate.is_(False))
    elif part == "cells":
        conditions.append(positions.c.approximate.is_(True))
    if not query.include_filtered:
        conditions.append(positions.c.filtered.is_(None))
    return conditions


def _point(row: Any) -> TrackPoint:
    cell = row.cell if isinstance(row.cell, dict) else None
    return TrackPoint(
        id=int(row.id),
        fix_time=row.fix_time,
        lat=row.lat,
        lon=row.lon,
        speed_kmh=row.speed_kmh,
        course=row.course,
        satellites=row.satellites,
        source=row.source,
        approximate=bool(row.approximate),
        archived=bool(row.archived),
        filtered=row.filtered,
        cell=cell,
    )


async def read_page(
    connection: AsyncConnection, query: TrackQuery, part: Part, *, after: Cursor | None, limit: int
) -> list[TrackPoint]:
    """Up to `limit` points of `part` after `after`, in (fix_time, id) order."""
    conditions = _where(query, part)
    if after is not None:
        conditions.append(
            or_(
                positions.c.fix_time > after.fix_time,
                and_(positions.c.fix_time == after.fix_time, positions.c.id > after.id),
            )
        )
    rows = await connection.execute(
        select(*_COLUMNS).where(*conditions).order_by(positions.c.fix_time, positions.c.id).limit(limit)
    )
    return [_point(row) for row in rows]


async def iter_points(
    engine: AsyncEngine, query: TrackQuery, part: Part, *, chunk: int = CHUNK
) -> AsyncIterator[list[TrackPoint]]:
    """Every point of `part`, `chunk` at a time, each chunk read on a connection of its own."""
    after: Cursor | None = None
    while True:
        async with engine.connect() as connection:
            points = await read_page(connection, query, part, after=after, limit=chunk)
        if points:
            yield points
        if len(points) < chunk:
            return
        after = Cursor(points[-1].fix_time, points[-1].id)
