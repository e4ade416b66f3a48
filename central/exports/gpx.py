"""GPX 1.1 (topografix.com/GPX/1/1), written while the track is read.

Layout: cell-tower positions first as waypoints (`<wpt>` with `<type>approximate</type>`; GPX wants waypoints before
tracks), then the GPS fixes as one track segment (`<trk><trkseg><trkpt>`), each with its time and satellites; speed
(m/s, as GPX tools expect) and course (degrees) in Garmin's TrackPointExtension v2, which most tools read. A fix
re-uploaded from the device's buffer has `<type>archived</type>`. Positions set aside by the filters (staff, on
request) form a second track named "filtered", each point typed with the reason: never part of the real track.

The stdlib writes it (no GPX library streams: gpxpy builds the whole document in memory before it serialises).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime

from central.exports.track import Part, TrackPoint
from central.exports.xmltext import attr, number, text, when

MEDIA_TYPE = "application/gpx+xml"
GPX_NS = "http://www.topografix.com/GPX/1/1"
TPX_NS = "http://www.garmin.com/xmlschemas/TrackPointExtension/v2"

PartReader = Callable[[Part], AsyncIterator[list[TrackPoint]]]


def _position(point: TrackPoint) -> str:
    assert point.lat is not None
    assert point.lon is not None
    return f"lat={attr(number(point.lat, 7))} lon={attr(number(point.lon, 7))}"


def _extensions(point: TrackPoint) -> str:
    inner = ""
    if point.speed_kmh is not None:
        inner += f"<gpxtpx:speed>{number(point.speed_kmh / 3.6, 2)}</gpxtpx:speed>"
    if point.course is not None:
        inner += f"<gpxtpx:course>{number(point.course, 1)}</gpxtpx:course>"
    if not inner:
        return ""
    return f"<extensions><gpxtpx:TrackPointExtension>{inner}</gpxtpx:TrackPointExtension></extensions>"


def _point(tag: str, point: TrackPoint, kind: str | None) -> str:
    # GPX 1.1 fixes the order of children: time, name, type, sat, extensions.
    body = f"<time>{when(point.fix_time)}</time>"
    if tag == "wpt":
        body += "<name>cell position (approximate)</name>"
    if kind is not None:
        body += f"<type>{text(kind)}</type>"
    if point.satellites is not None:
        body += f"<sat>{max(point.satellites, 0)}</sat>"
    return f"<{tag} {_position(point)}>{body}{_extensions(point)}</{tag}>\n"


def _gps_kind(point: TrackPoint) -> str | None:
    return "archived" if point.archived else None


async def gpx_document(
    title: str, read: PartReader, *, include_filtered: bool, generated: datetime
) -> AsyncIterator[str]:
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<gpx version="1.1" creator="shaobing" xmlns="{GPX_NS}" xmlns:gpxtpx="{TPX_NS}">\n'
        f"<metadata><name>{text(title)}</name><time>{when(generated)}</time></metadata>\n"
    )
    async for points in read("cells"):
        yield "".join(_point("wpt", point, "approximate") for point in points if point.has_coordinates)
    yield f"<trk><name>{text(title)}</name><type>gps</type><trkseg>\n"
    async for points in read("gps"):
        yield "".join(_point("trkpt", point, _gps_kind(point)) for point in points if point.has_coordinates)
    yield "</trkseg></trk>\n"
    if include_filtered:
        yield "<trk><name>filtered</name><type>filtered</type><trkseg>\n"
        async for points in read("filtered"):
            yield "".join(
                _point("trkpt", point, f"filtered: {point.filtered}") for point in points if point.has_coordinates
            )
        yield "</trkseg></trk>\n"
    yield "</gpx>\n"
