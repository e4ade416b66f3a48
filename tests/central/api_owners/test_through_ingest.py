"""The owners' API over what central's tracker ingest stored: readings fed through the real batch store and the
service's hook chain (positions filtered and kept, the current position, the theft rule), then read back by the owner
and by staff."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.central.api_owners.conftest import OPERATOR, VIEWER, Clock, owner_session
from tests.central.trackers.feed import T0, Feed, imei, offset

BIKE = imei(7)
GPX = "{http://www.topografix.com/GPX/1/1}"


def at(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


async def owned(client: httpx.AsyncClient) -> dict[str, str]:
    owner = await owner_session(client, "13812345678")
    provisioned = await client.post(
        "/api/trackers", headers=OPERATOR, json={"imei": BIKE, "bind_code": "K7P2Q9", "plate": "粤B12345"}
    )
    assert provisioned.status_code in (200, 201), provisioned.text
    claimed = await client.post("/api/my/bikes", headers=owner, json={"imei": BIKE, "bind_code": "K7P2Q9"})
    assert claimed.status_code == 201, claimed.text
    return owner


async def test_a_ride_with_a_jump_a_reupload_and_a_cell_report_reads_back_as_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    owner = await owned(client)
    feed = Feed(engine)
    ride = [feed.position(BIKE, T0 + at(10 * i), *offset(0, 40 * i), speed_kmh=14.0) for i in range(6)]
    jump = feed.position(BIKE, T0 + at(55), *offset(30_000, 0), speed_kmh=14.0)  # 30 km in 5 s
    late = feed.position(BIKE, T0 + at(25), *offset(0, 100), speed_kmh=14.0, archived=True)
    cell = feed.cell_report(BIKE, T0 + at(70))
    await feed.send_each([*ride[:4], jump, *ride[4:], cell])
    await feed.send([late])  # re-uploaded from the device's buffer after the rest
    await feed.send([feed.status(BIKE, T0 + at(75), voltage_level=3, acc=False)])
    clock.moment = T0 + at(80)

    bike = (await client.get(f"/api/my/bikes/{BIKE}", headers=owner)).json()
    assert bike["position"]["fix_time"] == "2026-11-24T04:00:50Z"  # the newest accepted fix; not the late one
    assert bike["position"]["age_s"] == 30.0
    assert (bike["cell"]["approximate"], bike["cell"]["time"]) == (True, "2026-11-24T04:01:10Z")
    assert (bike["status"]["voltage_level"], bike["status"]["acc"]) == (3, False)

    window = {"from": "2026-11-24T04:00:00Z", "to": "2026-11-24T04:05:00Z"}
    track = (await client.get(f"/api/my/bikes/{BIKE}/track", headers=owner, params=window)).json()
    assert [(p["fix_time"][14:19], p["archived"]) for p in track["points"]] == [
        ("00:00", False),
        ("00:10", False),
        ("00:20", False),
        ("00:25", True),  # in its place by fix time
        ("00:30", False),
        ("00:40", False),
        ("00:50", False),
    ]
    cells = (await client.get(f"/api/my/bikes/{BIKE}/track", headers=owner, params={**window, "source": "cells"}))
    assert [p["fix_time"][14:19] for p in cells.json()["points"]] == ["01:10"]

    staff = await client.get(
        f"/api/trackers/{BIKE}/positions", headers=VIEWER, params={**window, "include_filtered": "true"}
    )
    assert [p["filtered"] for p in staff.json()["points"] if p["filtered"]] == ["jump"]

    gpx = await client.get(f"/api/my/bikes/{BIKE}/track.gpx", headers=owner, params=window)
    times = [point.findtext(f"{GPX}time", "")[14:19] for point in ET.fromstring(gpx.content).iter(f"{GPX}trkpt")]
    assert times == ["00:00", "00:10", "00:20", "00:25", "00:30", "00:40", "00:50"]


async def test_an_armed_bike_ridden_away_shows_the_theft_and_its_confirmation_reaches_110(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    owner = await owned(client)
    feed = Feed(engine)
    await feed.send_each([feed.position(BIKE, T0 + at(10 * i)) for i in range(3)])
    clock.moment = T0 + at(25)
    assert (await client.post(f"/api/my/bikes/{BIKE}/arm", headers=owner)).json()["armed"] is True
    start = T0 + at(30)
    await feed.send_each(
        [feed.position(BIKE, start + at(10 * i), *offset(0, 60 * i), speed_kmh=20.0) for i in range(1, 6)]
    )
    clock.moment = start + at(60)
    bike = (await client.get(f"/api/my/bikes/{BIKE}", headers=owner)).json()
    assert bike["theft_state"] == "alarmed"
    confirmed = await client.post(f"/api/my/bikes/{BIKE}/theft", headers=owner)
    assert confirmed.status_code == 200, confirmed.text
    dispatch = (await client.get(f"/api/dispatches/{confirmed.json()['dispatch_id']}", headers=VIEWER)).json()
    assert (dispatch["alarm_class"], dispatch["escalated"], dispatch["escalation_reason"]) == (
        "theft",
        True,
        "confirmed",
    )
    assert "police-110" in dispatch["recipients"]
    link = confirmed.json()["link"]["url"]  # the page's address; its data answers under /api/share/
    shared = (await client.get(link.replace("https://alarm.example.com/share/", "/api/share/"))).json()
    assert shared["theft_state"] == "confirmed"
    assert shared["position"]["fix_time"] == "2026-11-24T04:01:20Z"
    assert len(shared["track"]) == 8  # the hour up to the newest fix: parked, then ridden away
