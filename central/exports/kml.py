"""KML 2.2 (OGC 07-147r2), written while the track is read.

Layout: a Document with three styles and up to three Folders: "track" holds one Placemark with the GPS fixes as a
LineString, then one Placemark per fix (a Point with its TimeStamp, so a time slider can replay the ride, and
ExtendedData with speed, course, satellites and whether it was re-uploaded); "cell positions (approximate)" holds the
cell-tower positions as Points styled apart, never on the line; "filtered" (staff, on request) the positions the
filters set aside, with the reason. The line and the points are read in two passes rather than kept in memory.

The stdlib writes it: simplekml builds the whole document in memory and is no longer maintained.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime

from central.exports.track import Part, TrackPoint
from central.exports.xmltext import number, text, when

MEDIA_TYPE = "application/vnd.google-earth.kml+xml"
KML_NS = "http://www.opengis.net/kml/2.2"

PartReader = Callable[[Part], AsyncIterator[list[TrackPoint]]]

_STYLES = (
    '<Style id="line"><LineStyle><color>ff0000ff</color><width>3</width></LineStyle></Style>\n'
    '<Style id="gps"><IconStyle><scale>0.4</scale></IconStyle></Style>\n'
    '<Style id="approximate"><IconStyle><color>7f00ffff</color><scale>0.6</scale></IconStyle></Style>\n'
    '<Style id="filtered"><IconStyle><color>7f7f7f7f</color><scale>0.4</scale></IconStyle></Style>\n'
)


def _coordinates(point: TrackPoint) -> str:
    assert point.lat is not None
    assert point.lon is not None
    return f"{number(point.lon, 7)},{number(point.lat, 7)}"


def _data(point: TrackPoint, reason: str | None) -> str:
    fields: list[tuple[str, str]] = []
    if point.speed_kmh is not None:
        fields.append(("speed_kmh", number(point.speed_kmh, 1)))
    if point.course is not None:
        fields.append(("course", number(point.course, 1)))
    if point.satellites is not None:
        fields.append(("satellites", str(point.satellites)))
    fields.append(("source", text(point.source)))
    fields.append(("approximate", "true" if point.approximate else "false"))
    fields.append(("archived", "true" if point.archived else "false"))
    if reason is not None:
        fields.append(("filtered", text(reason)))
    inner = "".join(f'<Data name="{name}"><value>{value}</value></Data>' for name, value in fields)
    return f"<ExtendedData>{inner}</ExtendedData>"


def _placemark(point: TrackPoint, style: str, name: str) -> str:
    return (
        f"<Placemark><name>{text(name)}</name><TimeStamp><when>{when(point.fix_time)}</when></TimeStamp>"
        f"<styleUrl>#{style}</styleUrl>{_data(point, point.filtered)}"
        f"<Point><coordinates>{_coordinates(point)}</coordinates></Point></Placemark>\n"
    )


async def kml_document(
    title: str, read: PartReader, *, include_filtered: bool, generated: datetime
) -> AsyncIterator[str]:
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<kml xmlns="{KML_NS}"><Document><name>{text(title)}</name>\n'
        f"<description>exported {when(generated)}</description>\n{_STYLES}"
        "<Folder><name>track</name>\n"
        "<Placemark><name>track</name><styleUrl>#line</styleUrl><LineString><tessellate>1</tessellate>"
        "<coordinates>"
    )
    async for points in read("gps"):
        yield " ".join(_coordinates(point) for point in points if point.has_coordinates) + " "
    yield "</coordinates></LineString></Placemark>\n"
    async for points in read("gps"):
        yield "".join(_placemark(point, "gps", when(point.fix_time)) for point in points if point.has_coordinates)
    yield "</Folder>\n<Folder><name>cell positions (approximate)</name>\n"
    async for points in read("cells"):
        yield "".join(
            _placemark(point, "approximate", "approximate") for point in points if point.has_coordinates
        )
    yield "</Folder>\n"
    if include_filtered:
        yield "<Folder><name>filtered</name>\n"
        async for points in read("filtered"):
            yield "".join(
                _placemark(point, "filtered", f"filtered: {point.filtered}")
                for point in points
                if point.has_coordinates
            )
        yield "</Folder>\n"
    yield "</Document></kml>\n"
