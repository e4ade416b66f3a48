"""A bike's track: in fix-time order with re-uploads in their place, filtered positions left out, cell positions
apart; paging; the time window; and the GPX, KML and CSV downloads read back with ElementTree and the csv module."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from central.exports.track import TrackQuery, iter_points
from tests.central.api_owners.conftest import (
    OPERATOR,
    T0,
    Clock,
    add_positions,
    assert_detail,
    claimed,
    owner_session,
)
from tests.central.app_kit import served

GPX = "{http://www.topografix.com/GPX/1/1}"
TPX = "{http://www.garmin.com/xmlschemas/TrackPointExtension/v2}"
KML = "{http://www.opengis.net/kml/2.2}"
WINDOW = {"from": "2026-11-24T12:00:00+08:00", "to": "2026-11-24T05:00:00Z"}  # 04:00Z to 05:00Z


def at(minutes: float) -> Any:
    return T0 + timedelta(minutes=minutes)


# Stored in arrival order: the archived ones (re-uploaded from the device's buffer) arrive late.
POSITIONS: list[dict[str, Any]] = [
    {"fix_time": at(1), "lat": 39.90, "lon": 116.40},
    {"fix_time": at(2), "lat": 39.91, "lon": 116.41},
    {"fix_time": at(5), "lat": 39.94, "lon": 116.44},
    {"fix_time": at(3), "lat": 39.92, "lon": 116.42, "archived": True},
    {"fix_time": at(4), "lat": 39.93, "lon": 116.43, "archived": True},
    {"fix_time": at(2.5), "lat": 0.0, "lon": 0.0, "filtered": "zero"},
    {"fix_time": at(4.5), "lat": 41.0, "lon": 118.0, "filtered": "jump"},
    {
        "fix_time": at(3.5),
        "lat": 39.925,
        "lon": 116.425,
        "source": "lbs",
        "approximate": True,
        "satellites": None,
        "speed_kmh": None,
        "course": None,
        "cell": {"mcc": 460, "mnc": 0, "lac": 1, "cid": 2},
    },
    {"fix_time": at(3.6), "lat": None, "lon": None, "source": "lbs", "approximate": True, "satellites": None},
    {"fix_time": at(-30), "lat": 39.0, "lon": 116.0},  # before the window
    {"fix_time": at(60), "lat": 39.99, "lon": 116.49},  # at its end: not in [from, to)
]
GPS_TIMES = ["04:01:00", "04:02:00", "04:03:00", "04:04:00", "04:05:00"]


async def bike_with_track(client: httpx.AsyncClient, engine: AsyncEngine, **claim: Any) -> tuple[dict[str, str], str]:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1, **claim)
    await add_positions(engine, number, POSITIONS)
    return owner, number


async def test_the_track_is_in_fix_time_order_with_reuploads_in_their_place(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    owner, number = await bike_with_track(client, engine)
    response = await client.get(f"/api/my/bikes/{number}/track", headers=owner, params=WINDOW)
    assert response.status_code == 200, response.text
    track = response.json()
    assert (track["from"], track["to"], track["source"], track["next_cursor"]) == (
        "2026-11-24T04:00:00Z",
        "2026-11-24T05:00:00Z",
        "gps",
        None,
    )
    assert [point["fix_time"][11:19] for point in track["points"]] == GPS_TIMES
    assert [point["archived"] for point in track["points"]] == [False, False, True, True, False]
    assert {point["approximate"] for point in track["points"]} == {False}
    assert all(point["filtered"] is None for point in track["points"])  # the filtered ones are not there at all
    assert track["points"][2] == {
        "fix_time": "2026-11-24T04:03:00Z",
        "lat": 39.92,
        "lon": 116.42,
        "speed_kmh": 12.5,
        "course": 90.0,
        "satellites": 8,
        "source": "gps",
        "approximate": False,
        "archived": True,
        "filtered": None,
    }


async def test_cell_positions_come_apart_and_marked(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    owner, number = await bike_with_track(client, engine)
    cells = (
        await client.get(f"/api/my/bikes/{number}/track", headers=owner, params={**WINDOW, "source": "cells"})
    ).json()
    assert [(p["fix_time"][11:19], p["lat"], p["approximate"]) for p in cells["points"]] == [
        ("04:03:30", 39.925, True),
        ("04:03:36", None, True),
    ]


async def test_a_long_track_pages_through_with_a_cursor(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    # Pairs of fixes with the same fix time: the cursor carries the id too, so none is skipped or repeated.
    await add_positions(engine, number, [{"fix_time": at(index // 2)} for index in range(25)])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {**WINDOW, "limit": 10}
        if cursor is not None:
            params["cursor"] = cursor
        page = (await client.get(f"/api/my/bikes/{number}/track", headers=owner, params=params)).json()
        seen += [point["fix_time"] for point in page["points"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == 25
    assert seen == sorted(seen)


async def test_the_window_defaults_to_the_last_day(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    owner, number = await bike_with_track(client, engine)
    track = (await client.get(f"/api/my/bikes/{number}/track", headers=owner)).json()
    assert (track["from"], track["to"]) == ("2026-11-23T06:00:00Z", "2026-11-24T06:00:00Z")
    assert len(track["points"]) == 7  # the five, the one before the window and the one at its end


BAD_WINDOWS: list[dict[str, Any]] = [
    {"from": "2026-11-24T05:00:00Z", "to": "2026-11-24T04:00:00Z"},  # from after to
    {"from": "2026-11-24T04:00:00Z", "to": "2026-11-24T04:00:00Z"},  # empty
    {"from": "2026-10-01T00:00:00Z", "to": "2026-11-24T00:00:00Z"},  # longer than 31 days
    {"from": "2026-11-24T04:00:00"},  # no offset: which zone?
    {"to": "2026-11-24"},
    {"from": "yesterday"},
    {"from": "2026-13-45T99:00:00Z"},
    {"from": "0001-01-01T00:00:00+08:00", "to": "0001-01-02T00:00:00+08:00"},
    {"from": "9999-12-31T23:00:00-08:00", "to": "9999-12-31T23:30:00-08:00"},
    {"from": "1" * 400},
    {"from": "2026-11-24T04:00:00Z' OR '1'='1"},
    {"limit": 0},
    {"limit": 10_001},
    {"limit": "lots"},
    {"cursor": "abc"},
    {"cursor": "1:2:3"},
    {"cursor": "9" * 18 + ":1"},
    {"cursor": "1:" + "9" * 19},  # an id beyond a 64-bit integer
    {"source": "wifi"},
]


async def test_bad_windows_and_queries_are_422(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    owner, number = await bike_with_track(client, engine)
    for params in BAD_WINDOWS:
        for suffix in ("track", "track.gpx", "track.kml", "track.csv"):
            response = await client.get(f"/api/my/bikes/{number}/{suffix}", headers=owner, params=params)
            if suffix != "track" and set(params) & {"limit", "cursor", "source"}:
                assert response.status_code == 200  # the downloads take no such parameters
                continue
            assert_detail(response, 422)


async def test_unknown_download_formats_are_4xx(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    owner, number = await bike_with_track(client, engine)
    for suffix in ("track.exe", "track.GPX", "track.", "track.gpx.zip", "track.%2e%2e"):
        response = await client.get(f"/api/my/bikes/{number}/{suffix}", headers=owner)
        assert 400 <= response.status_code < 500, (suffix, response.status_code)


async def test_gpx_reads_back_with_the_track_and_the_cell_positions_apart(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    owner, number = await bike_with_track(client, engine, name="Tom & <Jerry>", plate="京A-123")
    response = await client.get(f"/api/my/bikes/{number}/track.gpx", headers=owner, params=WINDOW)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/gpx+xml"
    root = ET.fromstring(response.content)
    assert root.tag == f"{GPX}gpx" and root.attrib["version"] == "1.1"
    [segment] = root.findall(f"{GPX}trk/{GPX}trkseg")
    points = segment.findall(f"{GPX}trkpt")
    assert [point.findtext(f"{GPX}time", "")[11:19] for point in points] == GPS_TIMES
    assert [(point.attrib["lat"], point.attrib["lon"]) for point in points][2] == ("39.92", "116.42")
    assert [point.findtext(f"{GPX}type") for point in points] == [None, None, "archived", "archived", None]
    assert points[0].findtext(f"{GPX}sat") == "8"
    extension = points[0].find(f"{GPX}extensions/{TPX}TrackPointExtension")
    assert extension is not None
    assert (extension.findtext(f"{TPX}speed"), extension.findtext(f"{TPX}course")) == ("3.47", "90")  # m/s
    [waypoint] = root.findall(f"{GPX}wpt")  # the cell report without coordinates cannot be drawn
    assert (waypoint.attrib["lat"], waypoint.findtext(f"{GPX}type")) == ("39.925", "approximate")
    assert root.findtext(f"{GPX}metadata/{GPX}name") == "京A-123"


async def test_kml_reads_back_with_a_line_timed_points_and_the_cell_positions_apart(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    owner, number = await bike_with_track(client, engine)
    response = await client.get(f"/api/my/bikes/{number}/track.kml", headers=owner, params=WINDOW)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.google-earth.kml+xml"
    root = ET.fromstring(response.content)
    folders = root.findall(f"{KML}Document/{KML}Folder")
    assert [folder.findtext(f"{KML}name") for folder in folders] == ["track", "cell positions (approximate)"]
    line = folders[0].findtext(f"{KML}Placemark/{KML}LineString/{KML}coordinates", "")
    assert line.split() == ["116.4,39.9", "116.41,39.91", "116.42,39.92", "116.43,39.93", "116.44,39.94"]
    timed = folders[0].findall(f"{KML}Placemark/{KML}TimeStamp/{KML}when")
    assert [when.text[11:19] for when in timed if when.text] == GPS_TIMES
    archived = [
        data.findtext(f"{KML}value")
        for data in folders[0].iter(f"{KML}Data")
        if data.attrib["name"] == "archived"
    ]
    assert archived == ["false", "false", "true", "true", "false"]
    cells = folders[1].findall(f"{KML}Placemark/{KML}Point/{KML}coordinates")
    assert [cell.text for cell in cells] == ["116.425,39.925"]


async def test_csv_reads_back_with_every_accepted_position_marked(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    owner, number = await bike_with_track(client, engine)
    response = await client.get(f"/api/my/bikes/{number}/track.csv", headers=owner, params=WINDOW)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == [
        "fix_time", "lat", "lon", "speed_kmh", "course", "satellites", "source", "approximate", "archived"
    ]
    assert [(row["fix_time"][11:19], row["source"], row["approximate"], row["archived"]) for row in rows] == [
        ("04:01:00", "gps", "false", "false"),
        ("04:02:00", "gps", "false", "false"),
        ("04:03:00", "gps", "false", "true"),
        ("04:03:30", "lbs", "true", "false"),
        ("04:03:36", "lbs", "true", "false"),
        ("04:04:00", "gps", "false", "true"),
        ("04:05:00", "gps", "false", "false"),
    ]
    assert rows[0] == {
        "fix_time": "2026-11-24T04:01:00.000Z",
        "lat": "39.9",
        "lon": "116.4",
        "speed_kmh": "12.5",
        "course": "90",
        "satellites": "8",
        "source": "gps",
        "approximate": "false",
        "archived": "false",
    }
    assert (rows[4]["lat"], rows[4]["satellites"]) == ("", "")


async def test_downloads_are_named_by_plate_and_dates_only(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    owner, number = await bike_with_track(client, engine, name="Li Lei's bike", plate="京A12345")
    for extension in ("gpx", "kml", "csv"):
        response = await client.get(f"/api/my/bikes/{number}/track.{extension}", headers=owner, params=WINDOW)
        disposition = response.headers["content-disposition"]
        ascii_part, utf8_part = disposition.split("; filename*=UTF-8''")
        assert ascii_part == f'attachment; filename="track-A12345-20261124T0400Z-20261124T0500Z.{extension}"'
        assert unquote(utf8_part) == f"track-京A12345-20261124T0400Z-20261124T0500Z.{extension}"
        assert "Li" not in disposition and "13812345678" not in disposition


async def test_hostile_names_do_not_break_the_files_or_their_names(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    hostile = '</name><script>&amp;"\'\u202e'
    owner, number = await bike_with_track(client, engine, name=hostile, plate='../"x\\')
    for extension in ("gpx", "kml"):
        response = await client.get(f"/api/my/bikes/{number}/track.{extension}", headers=owner, params=WINDOW)
        root = ET.fromstring(response.content)
        names = [element.text for element in root.iter() if element.tag.endswith("}name")]
        assert '../"x\\' in names  # the plate names the track, as it was typed
        disposition = response.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="track-x-2026')
        assert "/" not in disposition.split(";")[1] and "\\" not in disposition


async def test_a_large_track_streams_in_parts_and_arrives_whole(
    client: httpx.AsyncClient, engine: AsyncEngine, app: FastAPI
) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    count = 4500  # more than two parts of 2,000
    await add_positions(engine, number, [{"fix_time": T0 + timedelta(seconds=index)} for index in range(count)])
    query = TrackQuery(number, T0, T0 + timedelta(hours=2))
    parts = [len(points) async for points in iter_points(engine, query, "gps")]
    assert parts == [2000, 2000, 500]
    params = {"from": "2026-11-24T04:00:00Z", "to": "2026-11-24T06:00:00Z"}
    # Over a real socket (the in-process transport would gather the body first): sent chunked, as it is written.
    path = f"/api/my/bikes/{number}/track.gpx"
    async with (
        served(app) as base_url,
        httpx.AsyncClient(base_url=base_url) as http,
        # identity: the raw chunks are the GPX itself (a client asking for gzip gets it compressed, as it streams)
        http.stream("GET", path, headers={**owner, "Accept-Encoding": "identity"}, params=params) as response,
    ):
        assert response.status_code == 200
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        chunks = [chunk async for chunk in response.aiter_raw()]
    root = ET.fromstring(b"".join(chunks))
    times = [point.findtext(f"{GPX}time", "") for point in root.iter(f"{GPX}trkpt")]
    assert len(times) == count
    assert times == sorted(times)
    rows = (await client.get(f"/api/my/bikes/{number}/track.csv", headers=owner, params=params)).text.splitlines()
    assert len(rows) == count + 1


async def test_a_new_owner_sees_nothing_of_the_previous_owners_rides(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    first = await owner_session(client, "13812345678")
    second = await owner_session(client, "13912345678")
    number = await claimed(client, first, 1)
    # The first owner's rides: six fixes from T0 (04:00Z) on, ten seconds apart.
    await add_positions(engine, number, [{} for _ in range(6)])
    assert (await client.delete(f"/api/my/bikes/{number}", headers=first)).status_code == 204  # at 06:00Z
    clock.advance(minutes=1)  # 06:01Z: the second owner claims the bike
    assert (await client.post("/api/my/bikes", headers=second,
                              json={"imei": number, "bind_code": "BIND1234"})).status_code == 201
    later = clock.now() + timedelta(minutes=5)
    await add_positions(engine, number, [{"fix_time": later, "seq": 5000}])
    clock.advance(minutes=10)
    window = {"from": "2026-11-24T00:00:00Z", "to": clock.now().isoformat()}
    track = (await client.get(f"/api/my/bikes/{number}/track", headers=second, params=window)).json()
    assert [point["fix_time"] for point in track["points"]] == [later.isoformat().replace("+00:00", "Z")]
    gpx = await client.get(f"/api/my/bikes/{number}/track.gpx", headers=second, params=window)
    assert len(ET.fromstring(gpx.content).findall(f".//{GPX}trkpt")) == 1
    staff = (await client.get(f"/api/trackers/{number}/positions", headers=OPERATOR, params=window)).json()
    assert len(staff["points"]) == 7  # the operators see the bike's whole history
