"""CSV, one position a row in fix-time order, written while the track is read.

Columns: fix_time (UTC, ISO 8601), lat, lon, speed_kmh, course, satellites, source (gps | lbs), approximate, archived
(true | false), and `filtered` (the reason, empty when accepted) when filtered positions were asked for. GPS fixes and
cell positions share the table, each row saying which it is, so a spreadsheet can sort or filter them. Nothing a person
typed is written; the two text columns that come from the wire are guarded anyway, so that no cell can start a
spreadsheet formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from central.exports.track import TrackPoint
from central.exports.xmltext import number, when

MEDIA_TYPE = "text/csv; charset=utf-8"
COLUMNS = ("fix_time", "lat", "lon", "speed_kmh", "course", "satellites", "source", "approximate", "archived")


def _plain(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _optional(value: float | None, places: int) -> str:
    return "" if value is None else number(value, places)


def _row(point: TrackPoint, include_filtered: bool) -> list[str]:
    row = [
        when(point.fix_time),
        _optional(point.lat, 7),
        _optional(point.lon, 7),
        _optional(point.speed_kmh, 1),
        _optional(point.course, 1),
        "" if point.satellites is None else str(point.satellites),
        _plain(point.source),
        "true" if point.approximate else "false",
        "true" if point.archived else "false",
    ]
    if include_filtered:
        row.append(_plain(point.filtered or ""))
    return row


async def csv_document(points: AsyncIterator[list[TrackPoint]], *, include_filtered: bool) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*COLUMNS, "filtered"] if include_filtered else COLUMNS)
    yield buffer.getvalue()
    async for chunk in points:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(_row(point, include_filtered) for point in chunk)
        yield buffer.getvalue()
