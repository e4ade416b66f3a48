"""Staff and trackers: provisioning (IMEI check digit), listing with filters and pages, the owner's phone masked by
role, positions with the filtered ones on request, downloads, and engine stop/resume reaching the gateway."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from central.store.owners import luhn_ok
from central.store.schema import trackers
from tests.central.api_owners.conftest import (
    ADMIN,
    GATEWAY,
    OPERATOR,
    SUPERVISOR,
    T0,
    VIEWER,
    RecordingSender,
    add_positions,
    assert_detail,
    claimed,
    imei,
    owner_session,
    provision,
    reported,
)

GPX = "{http://www.topografix.com/GPX/1/1}"
KML = "{http://www.opengis.net/kml/2.2}"


def test_the_test_imeis_carry_a_right_check_digit() -> None:
    assert luhn_ok("490154203237518")  # the example of 3GPP TS 23.003's check digit
    assert not luhn_ok("490154203237519")
    assert all(luhn_ok(imei(serial)) for serial in range(200))


async def test_provisioning_creates_then_updates_but_never_takes_a_bike_from_its_owner(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    number = imei(1)
    body = {"imei": number, "name": "stock 17", "plate": "京B00001", "bind_code": "CODE0001"}
    created = await client.post("/api/trackers", headers=OPERATOR, json=body)
    assert created.status_code == 201, created.text
    assert (created.json()["claimable"], created.json()["owner"], created.json()["name"]) == (True, None, "stock 17")
    again = await client.post("/api/trackers", headers=OPERATOR, json={**body, "bind_code": "CODE0002"})
    assert again.status_code == 200
    owner = await owner_session(client, "13812345678")
    old_code = await client.post("/api/my/bikes", headers=owner, json={"imei": number, "bind_code": "CODE0001"})
    assert old_code.status_code == 404  # the new code replaced it
    assert (
        await client.post("/api/my/bikes", headers=owner, json={"imei": number, "bind_code": "CODE0002"})
    ).status_code == 201
    assert_detail(await client.post("/api/trackers", headers=ADMIN, json={**body, "bind_code": "CODE0003"}), 409)


async def test_a_tracker_the_gateway_created_on_first_sight_is_provisioned_in_place(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    number = imei(5)
    async with engine.begin() as connection:
        await connection.execute(
            insert(trackers).values(imei=number, site=GATEWAY, created_at=T0, updated_at=T0, last_seen_at=T0)
        )
    response = await client.post(
        "/api/trackers", headers=OPERATOR, json={"imei": number, "name": "n", "bind_code": "CODE0001"}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["site"], response.json()["last_seen_at"]) == (GATEWAY, "2026-11-24T04:00:00Z")


BAD_PROVISIONS: list[Any] = [
    {"imei": "490154203237519", "bind_code": "CODE0001"},  # check digit wrong
    {"imei": "49015420323751", "bind_code": "CODE0001"},  # 14 digits
    {"imei": "4901542032375180", "bind_code": "CODE0001"},  # 16
    {"imei": "49015420323751X", "bind_code": "CODE0001"},
    {"imei": 490154203237518, "bind_code": "CODE0001"},
    {"imei": "490154203237518", "bind_code": "abc"},  # too short
    {"imei": "490154203237518", "bind_code": "code with spaces"},
    {"imei": "490154203237518", "bind_code": "C" * 33},
    {"imei": "490154203237518", "bind_code": "CODE0001", "owner_id": 1},
    {"imei": "490154203237518", "bind_code": "CODE0001", "plate": "P" * 17},
    {"imei": "490154203237518", "bind_code": "CODE0001", "name": "\x1b[31mred"},
    {"imei": "490154203237518"},
    {"imei": "' OR 1=1 --", "bind_code": "CODE0001"},
    [],
]


async def test_bad_provisions_are_422_and_only_actors_provision(client: httpx.AsyncClient) -> None:
    for body in BAD_PROVISIONS:
        assert_detail(await client.post("/api/trackers", headers=OPERATOR, json=body), 422)
    good = {"imei": "490154203237518", "bind_code": "CODE0001"}
    assert_detail(await client.post("/api/trackers", headers=VIEWER, json=good), 403)
    owner = await owner_session(client, "13812345678")
    assert_detail(await client.post("/api/trackers", headers=owner, json=good), 403)
    assert (await client.get("/api/trackers", headers=VIEWER)).json()["items"] == []


async def test_the_list_filters_and_pages(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    owner = await owner_session(client, "13812345678")
    owned = [await claimed(client, owner, serial) for serial in (1, 2)]
    free = [await provision(client, serial) for serial in range(3, 8)]
    async with engine.begin() as connection:
        await connection.execute(update(trackers).where(trackers.c.imei == free[0]).values(theft_state="alarmed"))
        await connection.execute(update(trackers).where(trackers.c.imei == owned[0]).values(armed=True))

    async def imeis(**params: Any) -> list[str]:
        response = await client.get("/api/trackers", headers=VIEWER, params=params)
        assert response.status_code == 200, response.text
        return [item["imei"] for item in response.json()["items"]]

    assert await imeis() == sorted(owned + free)
    assert await imeis(owned="true") == sorted(owned)
    assert await imeis(owned="false") == sorted(free)
    assert await imeis(owner_id=1) == sorted(owned)
    assert await imeis(owner_id=2) == []
    assert await imeis(theft_state="alarmed") == [free[0]]
    assert await imeis(theft_state="none") == sorted(owned + free[1:])
    assert await imeis(armed="true") == [owned[0]]
    assert await imeis(site="nowhere") == []

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/trackers", headers=VIEWER, params=params)).json()
        seen += [item["imei"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(owned + free)


BAD_LISTS: list[dict[str, Any]] = [
    {"limit": 0},
    {"limit": 501},
    {"owner_id": 0},
    {"owner_id": "me"},
    {"owner_id": 10**30},
    {"theft_state": "stolen"},
    {"armed": "perhaps"},
    {"cursor": "abc"},
    {"site": "../etc"},
]


async def test_bad_list_queries_are_422(client: httpx.AsyncClient) -> None:
    for params in BAD_LISTS:
        assert_detail(await client.get("/api/trackers", headers=VIEWER, params=params), 422)


@pytest.mark.parametrize(
    ("headers", "phone"),
    [
        (VIEWER, "+86138****5678"),
        (OPERATOR, "+86138****5678"),
        (SUPERVISOR, "+8613812345678"),
        (ADMIN, "+8613812345678"),
    ],
)
async def test_the_owners_phone_is_masked_below_supervisor(
    client: httpx.AsyncClient, headers: dict[str, str], phone: str
) -> None:
    owner = await owner_session(client, "13812345678", name="Li Lei")
    number = await claimed(client, owner, 1)
    detail = (await client.get(f"/api/trackers/{number}", headers=headers)).json()
    assert detail["owner"] == {"id": 1, "name": "Li Lei", "phone": phone}
    [listed] = (await client.get("/api/trackers", headers=headers)).json()["items"]
    assert listed["owner"]["phone"] == phone


async def test_staff_see_filtered_positions_only_when_they_ask(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    number = await provision(client, 1, plate="京C99999")
    await add_positions(
        engine,
        number,
        [
            {"fix_time": T0 + timedelta(minutes=1)},
            {"fix_time": T0 + timedelta(minutes=2), "filtered": "jump", "lat": 41.0, "lon": 118.0},
            {"fix_time": T0 + timedelta(minutes=3)},
            {"fix_time": T0 + timedelta(minutes=4), "source": "lbs", "approximate": True, "filtered": "duplicate"},
        ],
    )
    window = {"from": "2026-11-24T04:00:00Z", "to": "2026-11-24T05:00:00Z"}
    url = f"/api/trackers/{number}/positions"
    plain = (await client.get(url, headers=VIEWER, params=window)).json()
    assert [point["filtered"] for point in plain["points"]] == [None, None]
    everything = (await client.get(url, headers=VIEWER, params={**window, "include_filtered": "true"})).json()
    assert [point["filtered"] for point in everything["points"]] == [None, "jump", None]
    cells = (
        await client.get(url, headers=VIEWER, params={**window, "include_filtered": "true", "source": "cells"})
    ).json()
    assert [point["filtered"] for point in cells["points"]] == ["duplicate"]

    gpx = await client.get(f"{url}.gpx", headers=VIEWER, params={**window, "include_filtered": "true"})
    root = ET.fromstring(gpx.content)
    tracks = {trk.findtext(f"{GPX}name"): trk for trk in root.findall(f"{GPX}trk")}
    assert set(tracks) == {"京C99999", "filtered"}
    assert len(tracks["京C99999"].findall(f"{GPX}trkseg/{GPX}trkpt")) == 2  # never mixed into the real track
    assert [point.findtext(f"{GPX}type") for point in tracks["filtered"].iter(f"{GPX}trkpt")] == [
        "filtered: jump",
        "filtered: duplicate",
    ]
    kml = await client.get(f"{url}.kml", headers=VIEWER, params={**window, "include_filtered": "true"})
    folders = ET.fromstring(kml.content).findall(f"{KML}Document/{KML}Folder")
    assert [folder.findtext(f"{KML}name") for folder in folders][-1] == "filtered"
    table = await client.get(f"{url}.csv", headers=VIEWER, params={**window, "include_filtered": "true"})
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [row["filtered"] for row in rows] == ["", "jump", "", "duplicate"]
    plain_table = await client.get(f"{url}.csv", headers=VIEWER, params=window)
    assert "filtered" not in plain_table.text.splitlines()[0]
    assert len(plain_table.text.splitlines()) == 3


async def test_owner_tokens_do_not_pass_on_staff_tracker_routes(client: httpx.AsyncClient) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    base = f"/api/trackers/{number}"
    routes: list[tuple[str, str, Any]] = [
        ("GET", "/api/trackers", None),
        ("POST", "/api/trackers", {"imei": number, "bind_code": "CODE0001"}),
        ("GET", base, None),
        ("GET", f"{base}/positions", None),
        ("GET", f"{base}/positions.gpx", None),
        ("POST", f"{base}/arm", None),
        ("POST", f"{base}/disarm", None),
        ("POST", f"{base}/theft", None),
        ("POST", f"{base}/commands", {"name": "engine_stop"}),
        ("POST", f"{base}/share", None),
        ("GET", f"{base}/shares", None),
        ("DELETE", f"{base}/shares/0123456789abcdef", None),
        ("GET", "/api/commands/0123456789abcdef", None),
    ]
    for method, path, body in routes:
        response = await client.request(method, path, headers=owner, json=body)
        assert_detail(response, 403)


async def test_viewers_read_but_do_not_act_on_trackers(client: httpx.AsyncClient) -> None:
    number = await provision(client, 1)
    for path, body in (("arm", None), ("disarm", None), ("theft", None), ("commands", {"name": "engine_stop"})):
        assert_detail(await client.post(f"/api/trackers/{number}/{path}", headers=VIEWER, json=body), 403)


async def test_unknown_trackers_are_404_for_staff(client: httpx.AsyncClient) -> None:
    number = imei(42)
    for method, suffix in (("GET", ""), ("GET", "/positions"), ("GET", "/positions.csv"), ("GET", "/shares")):
        assert_detail(await client.request(method, f"/api/trackers/{number}{suffix}", headers=VIEWER), 404)
    for suffix, body in (("/arm", None), ("/theft", None), ("/commands", {"name": "engine_stop"}), ("/share", None)):
        assert_detail(await client.post(f"/api/trackers/{number}{suffix}", headers=OPERATOR, json=body), 404)


# ---- commands ------------------------------------------------------------------------------------------------------


async def test_an_owners_engine_stop_reaches_the_gateway_addressed_to_the_bike(
    client: httpx.AsyncClient, engine: AsyncEngine, sender: RecordingSender
) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    not_reporting = await client.post(f"/api/my/bikes/{number}/commands", headers=owner, json={"name": "engine_stop"})
    assert_detail(not_reporting, 409)  # it never reported through a gateway: no way to reach it
    assert sender.sent == []

    await reported(engine, number)
    response = await client.post(f"/api/my/bikes/{number}/commands", headers=owner, json={"name": "engine_stop"})
    assert response.status_code == 202, response.text
    command = response.json()
    assert (command["site"], command["name"], command["args"], command["issued_by"], command["ok"]) == (
        GATEWAY,
        "engine_stop",
        {"device": number, "user": "owner:1"},
        "owner:1",
        None,
    )
    [(site, payload)] = sender.sent
    assert site == GATEWAY
    assert payload == {
        "cmd_id": command["cmd_id"],
        "name": "engine_stop",
        "args": {"device": number, "user": "owner:1"},
        "issued_at": "2026-11-24T06:00:00.000Z",
        "issued_by": "owner:1",  # as a site command says who issued it
    }
    mine = await client.get(f"/api/my/bikes/{number}/commands/{command['cmd_id']}", headers=owner)
    assert mine.json() == command
    assert (await client.get(f"/api/commands/{command['cmd_id']}", headers=VIEWER)).json() == command


async def test_operators_command_any_tracker_and_owners_see_only_their_bikes_commands(
    client: httpx.AsyncClient, engine: AsyncEngine, sender: RecordingSender
) -> None:
    owner = await owner_session(client, "13812345678")
    mine = await claimed(client, owner, 1)
    other = await provision(client, 2)
    await reported(engine, mine)
    await reported(engine, other)
    resumed = await client.post(f"/api/trackers/{other}/commands", headers=OPERATOR, json={"name": "engine_resume"})
    assert resumed.status_code == 202, resumed.text
    assert sender.sent[-1][1]["args"] == {"device": other, "user": "alice"}
    # The owner of another bike cannot read it through their own bike's route.
    assert_detail(await client.get(f"/api/my/bikes/{mine}/commands/{resumed.json()['cmd_id']}", headers=owner), 404)


BAD_TRACKER_COMMANDS: list[Any] = [
    {"name": "reboot"},
    {"name": "arm"},
    {"name": "engine_stop", "args": {"device": "861234560000015"}},
    {"name": ["engine_stop"]},
    {"name": None},
    {},
    "engine_stop",
]


async def test_bad_tracker_commands_are_422(
    client: httpx.AsyncClient, engine: AsyncEngine, sender: RecordingSender
) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    await reported(engine, number)
    for body in BAD_TRACKER_COMMANDS:
        assert_detail(await client.post(f"/api/my/bikes/{number}/commands", headers=owner, json=body), 422)
        assert_detail(await client.post(f"/api/trackers/{number}/commands", headers=OPERATOR, json=body), 422)
    assert sender.sent == []


@pytest.mark.parametrize(
    ("failure", "status", "detail"),
    [
        (TimeoutError(), 504, "not confirmed: the broker did not take it in time"),
        (ConnectionError("broker unreachable"), 502, "not sent: ConnectionError: broker unreachable"),
    ],
)
async def test_a_command_the_broker_does_not_take_is_recorded_as_failed(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    sender: RecordingSender,
    failure: BaseException,
    status: int,
    detail: str,
) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    await reported(engine, number)
    sender.failure = failure
    response = await client.post(f"/api/my/bikes/{number}/commands", headers=owner, json={"name": "engine_stop"})
    assert_detail(response, status)
    cmd_id = response.json()["detail"].split()[1]
    stored = (await client.get(f"/api/my/bikes/{number}/commands/{cmd_id}", headers=owner)).json()
    assert stored["ok"] is False
    assert stored["detail"].startswith(detail)
