"""A bike's track through the API: the time window of a query, one page of JSON, or the whole window as a GPX, KML
or CSV download (central.exports writes them while they are read). Shared by the owners' and the staff's routes.

Windows are `[from, to)` and their times must carry an offset (a phone in Beijing and a server in UTC must not guess
each other's zone); they are bounded in length (`max_track_days`) and in years, so a hostile date can neither ask for
a decade of positions nor overflow when it is turned into UTC.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from central.api.context import ApiContext
from central.api.schemas import TrackOut, TrackPointOut
from central.exports import csv_table, gpx, kml
from central.exports.download import content_disposition
from central.exports.track import Cursor, Part, TrackPoint, TrackQuery, iter_points, read_page
from central.store.owners import TrackerView

Format = Literal["gpx", "kml", "csv"]
Source = Annotated[
    Literal["gps", "cells"], Query(description="gps: the accepted fixes; cells: approximate cell-tower positions")
]
Limit = Annotated[int, Query(ge=1, le=10_000)]
CursorQuery = Annotated[str | None, Query(pattern=r"^[0-9]{1,17}:[0-9]{1,19}$", description="next_cursor")]
MEDIA_TYPES: dict[str, str] = {"gpx": gpx.MEDIA_TYPE, "kml": kml.MEDIA_TYPE, "csv": csv_table.MEDIA_TYPE}
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    def owners_part(self, view: TrackerView) -> Window:
        """The part of the window the bike's owner may see: its positions from before its last release belong to a
        previous owner. (An empty window reads nothing.)"""
        if view.history_from is None or view.history_from <= self.start:
            return self
        return Window(min(view.history_from, self.end), self.end)


def track_window(
    start: datetime | None, end: datetime | None, *, now: datetime, settings_days: int
) -> Window:
    """[from, to), both with their UTC offset; default the 24 hours before now; at most `settings_days` long."""
    for moment in (start, end):
        # Checked before any arithmetic: year 1 with a positive offset would overflow when turned into UTC.
        if moment is not None and not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
            raise HTTPException(422, detail=f"times must lie between {EARLIEST_YEAR} and {LATEST_YEAR}")
    end_utc = (end or now).astimezone(UTC)
    start_utc = start.astimezone(UTC) if start is not None else end_utc - timedelta(days=1)
    if start_utc >= end_utc:
        raise HTTPException(422, detail="'from' must be before 'to'")
    if end_utc - start_utc > timedelta(days=settings_days):
        raise HTTPException(422, detail=f"the window may be at most {settings_days} days long")
    return Window(start_utc, end_utc)


FromQuery = Annotated[
    AwareDatetime | None, Query(alias="from", description="ISO 8601 with its offset; default: 24 h before 'to'")
]
ToQuery = Annotated[AwareDatetime | None, Query(alias="to", description="ISO 8601 with its offset; default: now")]


def point_out(point: TrackPoint, include_filtered: bool) -> TrackPointOut:
    return TrackPointOut(
        fix_time=point.fix_time,
        lat=point.lat,
        lon=point.lon,
        speed_kmh=point.speed_kmh,
        course=point.course,
        satellites=point.satellites,
        source=point.source,
        approximate=point.approximate,
        archived=point.archived,
        filtered=point.filtered if include_filtered else None,
    )


async def track_page(
    context: ApiContext,
    view: TrackerView,
    window: Window,
    *,
    source: Literal["gps", "cells"],
    cursor: str | None,
    limit: int,
    include_filtered: bool = False,
) -> TrackOut:
    """One page of the track in fix-time order. With `include_filtered` (staff), filtered positions come too."""
    try:
        after = Cursor.decode(cursor) if cursor is not None else None
    except ValueError:
        raise HTTPException(422, detail="not a cursor this API gave") from None
    query = TrackQuery(view.imei, window.start, window.end, include_filtered=include_filtered)
    async with context.engine.connect() as connection:
        points = await read_page(connection, query, source, after=after, limit=limit + 1)
    more = len(points) > limit
    points = points[:limit]
    next_cursor = Cursor(points[-1].fix_time, points[-1].id).encode() if more and points else None
    return TrackOut(
        imei=view.imei,
        start=window.start,
        end=window.end,
        source=source,
        points=[point_out(point, include_filtered) for point in points],
        next_cursor=next_cursor,
    )


def track_download(
    context: ApiContext, view: TrackerView, window: Window, fmt: Format, *, include_filtered: bool = False
) -> StreamingResponse:
    """The whole window as a file, written while it is read. GPX and KML keep filtered positions (staff, on request)
    apart from the track; CSV marks them in a column."""
    accepted = TrackQuery(view.imei, window.start, window.end)
    table = TrackQuery(view.imei, window.start, window.end, include_filtered=include_filtered)

    def read(part: Part) -> AsyncIterator[list[TrackPoint]]:
        return iter_points(context.engine, accepted, part)

    title = view.plate or view.name or "bike"
    generated = context.clock.now()
    body: AsyncIterator[str]
    if fmt == "gpx":
        body = gpx.gpx_document(title, read, include_filtered=include_filtered, generated=generated)
    elif fmt == "kml":
        body = kml.kml_document(title, read, include_filtered=include_filtered, generated=generated)
    else:
        body = csv_table.csv_document(iter_points(context.engine, table, "all"), include_filtered=include_filtered)
    disposition = content_disposition(
        plate=view.plate, name=view.name, start=window.start, end=window.end, extension=fmt
    )
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )
