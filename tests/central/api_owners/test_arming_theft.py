"""Arming, disarming and confirming a theft through the API, over central's tracker actions: by the owner on their
own bike, by operators on any; the police get a dispatch with a live link that shows where the bike is."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from central.store.readings import insert_readings
from central.store.schema import positions, trackers, webhook_outbox
from shaobing.envelope import Envelope, Kind
from tests.central.api_owners.conftest import (
    GATEWAY,
    OPERATOR,
    VIEWER,
    Clock,
    assert_detail,
    claimed,
    owner_session,
)


async def fix(engine: AsyncEngine, number: str, seq: int, clock: Clock, *, lat: float, lon: float) -> None:
    """A GPS fix as central stores it: the reading, its position row, and the tracker's current position."""
    moment = clock.now() - timedelta(seconds=5)
    data = {"lat": lat, "lon": lon, "fix_time": moment.isoformat(), "valid": True, "satellites": 9,
            "speed_kmh": 18.0, "course": 45.0, "source": "gps"}
    envelope = Envelope(site=GATEWAY, seq=seq, device=number, kind=Kind.POSITION, ts=moment, rx=moment,
                        priority=5, data=data)
    async with engine.begin() as connection:
        await insert_readings(connection, [envelope], stored_at=moment)
        position_id = (
            await connection.execute(
                insert(positions)
                .values(imei=number, site=GATEWAY, seq=seq, fix_time=moment, rx=moment, stored_at=moment,
                        source="gps", approximate=False, valid=True, archived=False, lat=lat, lon=lon,
                        speed_kmh=18.0, course=45.0, satellites=9)
                .returning(positions.c.id)
            )
        ).scalar_one()
        await connection.execute(
            update(trackers)
            .where(trackers.c.imei == number)
            .values(site=GATEWAY, position_id=position_id, fix_time=moment, lat=lat, lon=lon, speed_kmh=18.0,
                    course=45.0, satellites=9, last_seen_at=moment)
        )


async def test_an_owner_arms_and_disarms_their_bike(client: httpx.AsyncClient, clock: Clock) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    armed = await client.post(f"/api/my/bikes/{number}/arm", headers=owner)
    assert armed.status_code == 200, armed.text
    assert (armed.json()["armed"], armed.json()["armed_at"]) == (True, "2026-11-24T06:00:00Z")
    staff_view = (await client.get(f"/api/trackers/{number}", headers=VIEWER)).json()
    assert (staff_view["armed"], staff_view["armed_by"]) == (True, "owner:1")
    clock.advance(minutes=1)
    disarmed = await client.post(f"/api/my/bikes/{number}/disarm", headers=owner)
    assert disarmed.status_code == 200, disarmed.text
    assert disarmed.json()["armed"] is False


async def test_operators_arm_any_tracker_and_are_named(client: httpx.AsyncClient) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    response = await client.post(f"/api/trackers/{number}/arm", headers=OPERATOR)
    assert response.status_code == 200, response.text
    assert (response.json()["armed"], response.json()["armed_by"]) == (True, "alice")
    assert (await client.get(f"/api/my/bikes/{number}", headers=owner)).json()["armed"] is True


async def test_releasing_an_armed_bike_disarms_it(client: httpx.AsyncClient) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    assert (await client.post(f"/api/my/bikes/{number}/arm", headers=owner)).status_code == 200
    assert (await client.delete(f"/api/my/bikes/{number}", headers=owner)).status_code == 204
    staff_view = (await client.get(f"/api/trackers/{number}", headers=VIEWER)).json()
    assert (staff_view["armed"], staff_view["owner"]) == (False, None)


async def test_a_theft_cannot_be_confirmed_before_any_position(client: httpx.AsyncClient) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    response = await client.post(f"/api/my/bikes/{number}/theft", headers=owner)
    assert_detail(response, 409)
    assert (await client.get(f"/api/my/bikes/{number}/shares", headers=owner)).json() == []  # no link left behind


async def test_a_confirmed_theft_goes_to_110_with_a_live_link_that_shows_the_bike(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    owner = await owner_session(client, "13812345678", name="Li Lei")
    number = await claimed(client, owner, 1, name="小蓝", plate="京A12345")
    await fix(engine, number, 1, clock, lat=39.9087, lon=116.3975)
    response = await client.post(f"/api/my/bikes/{number}/theft", headers=owner)
    assert response.status_code == 200, response.text
    answer = response.json()
    link = answer["link"]
    assert link["url"].startswith("https://alarm.example.com/share/")
    assert link["expires_at"] == "2026-11-25T06:00:00Z"  # live_link_ttl_s: a day

    dispatch = (await client.get(f"/api/dispatches/{answer['dispatch_id']}", headers=VIEWER)).json()
    assert (dispatch["alarm_class"], dispatch["escalated"], dispatch["zone"]) == ("theft", True, number)
    async with engine.connect() as connection:
        payloads = (
            await connection.execute(
                select(webhook_outbox.c.payload).where(webhook_outbox.c.recipient == "police-110")
            )
        ).scalars().all()
    assert any(link["url"] in str(payload) for payload in payloads)

    shown = await client.get(link["url"].replace("https://alarm.example.com/share/", "/api/share/"))
    assert shown.status_code == 200, shown.text
    assert (shown.json()["plate"], shown.json()["position"]["lat"]) == ("京A12345", 39.9087)
    assert "Li Lei" not in shown.text and "13812345678" not in shown.text
    bike = (await client.get(f"/api/my/bikes/{number}", headers=owner)).json()
    assert bike["theft_state"] == "confirmed"
    listed = (await client.get(f"/api/my/bikes/{number}/shares", headers=owner)).json()
    assert [(item["id"], item["created_by"]) for item in listed] == [(link["id"], "owner:1")]


async def test_the_police_live_link_is_made_even_beyond_the_limit_and_then_counts(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    await fix(engine, number, 1, clock, lat=39.9087, lon=116.3975)
    for _ in range(20):
        assert (await client.post(f"/api/my/bikes/{number}/share", headers=owner)).status_code == 201
    assert_detail(await client.post(f"/api/my/bikes/{number}/share", headers=owner), 409)
    confirmed = await client.post(f"/api/my/bikes/{number}/theft", headers=owner)
    assert confirmed.status_code == 200, confirmed.text  # the limit never refuses the police their link
    listed = (await client.get(f"/api/my/bikes/{number}/shares", headers=owner)).json()
    assert sum(item["active"] for item in listed) == 21
    live = confirmed.json()["link"]["id"]
    other = next(item["id"] for item in listed if item["id"] != live)
    assert (await client.delete(f"/api/my/bikes/{number}/shares/{other}", headers=owner)).status_code == 200
    # 20 active, the live link among them: still no room for another.
    assert_detail(await client.post(f"/api/my/bikes/{number}/share", headers=owner), 409)


async def test_operators_confirm_a_theft_too(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    await fix(engine, number, 1, clock, lat=39.9, lon=116.4)
    assert_detail(await client.post(f"/api/trackers/{number}/theft", headers=VIEWER), 403)
    response = await client.post(f"/api/trackers/{number}/theft", headers=OPERATOR)
    assert response.status_code == 200, response.text
    detail = (await client.get(f"/api/trackers/{number}", headers=VIEWER)).json()
    assert (detail["theft_state"], detail["theft_dispatch_id"]) == ("confirmed", response.json()["dispatch_id"])
