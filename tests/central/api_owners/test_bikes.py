"""An owner's bikes: claiming with the bind code, the state of a bike, renaming, releasing; and that another owner's
bike is, on every route, exactly as absent as one that does not exist."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.central.api_owners.conftest import (
    OPERATOR,
    T0,
    Clock,
    add_positions,
    assert_detail,
    claimed,
    imei,
    owner_session,
    provision,
    reported,
)


async def test_an_owner_claims_a_provisioned_tracker_with_its_bind_code(client: httpx.AsyncClient) -> None:
    owner = await owner_session(client, "13812345678")
    number = await provision(client, 1, name="factory name")
    response = await client.post(
        "/api/my/bikes", headers=owner, json={"imei": number, "bind_code": "bind1234", "plate": "京A12345"}
    )
    assert response.status_code == 201, response.text  # codes are not case-sensitive
    bike = response.json()
    assert (bike["imei"], bike["name"], bike["plate"], bike["armed"], bike["position"]) == (
        number,
        "factory name",
        "京A12345",
        False,
        None,
    )
    listing = (await client.get("/api/my/bikes", headers=owner)).json()
    assert [item["imei"] for item in listing] == [number]
    assert (await client.get("/api/owners/me", headers=owner)).json()["bikes"] == 1


async def test_claims_that_cannot_succeed_say_why_without_telling_which_imeis_exist(
    client: httpx.AsyncClient,
) -> None:
    first = await owner_session(client, "13812345678")
    second = await owner_session(client, "13912345678")
    number = await provision(client, 1)
    unprovisioned = imei(2)

    wrong_code = await client.post("/api/my/bikes", headers=first, json={"imei": number, "bind_code": "WRONG123"})
    unknown = await client.post("/api/my/bikes", headers=first, json={"imei": unprovisioned, "bind_code": "BIND1234"})
    assert_detail(wrong_code, 404)
    assert wrong_code.json() == unknown.json()

    assert (
        await client.post("/api/my/bikes", headers=first, json={"imei": number, "bind_code": "BIND1234"})
    ).status_code == 201
    taken = await client.post("/api/my/bikes", headers=second, json={"imei": number, "bind_code": "BIND1234"})
    assert_detail(taken, 409)
    # Without the code, a taken tracker looks like any other: 404.
    guess = await client.post("/api/my/bikes", headers=second, json={"imei": number, "bind_code": "GUESS123"})
    assert guess.json() == unknown.json()


async def test_a_mistyped_imei_is_caught_by_its_check_digit(client: httpx.AsyncClient) -> None:
    owner = await owner_session(client, "13812345678")
    number = await provision(client, 1)
    typo = number[:5] + str((int(number[5]) + 1) % 10) + number[6:]
    response = await client.post("/api/my/bikes", headers=owner, json={"imei": typo, "bind_code": "BIND1234"})
    assert_detail(response, 422)
    assert "check digit" in response.json()["detail"]


async def test_guessing_bind_codes_is_braked(client: httpx.AsyncClient, clock: Clock) -> None:
    owner = await owner_session(client, "13812345678")
    number = await provision(client, 1)
    for attempt in range(5):
        guess = {"imei": number, "bind_code": f"GUESS{attempt:03d}"}
        assert (await client.post("/api/my/bikes", headers=owner, json=guess)).status_code == 404
    right = {"imei": number, "bind_code": "BIND1234"}
    assert_detail(await client.post("/api/my/bikes", headers=owner, json=right), 429)
    clock.advance(minutes=16)
    assert (await client.post("/api/my/bikes", headers=owner, json=right)).status_code == 201


async def test_bind_code_guesses_sent_all_at_once_are_braked_too(client: httpx.AsyncClient) -> None:
    owner = await owner_session(client, "13812345678")
    number = await provision(client, 1)
    guesses = [client.post("/api/my/bikes", headers=owner, json={"imei": number, "bind_code": f"GUESS{n:03d}"})
               for n in range(12)]
    codes = sorted(response.status_code for response in await asyncio.gather(*guesses))
    assert codes == [404] * 5 + [429] * 7


async def test_bind_code_guesses_spread_over_many_accounts_are_braked_per_tracker(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    number = await provision(client, 1)
    other = await provision(client, 2)
    guessers = [await owner_session(client, f"1381234567{n}") for n in range(3)]
    codes = [
        (await client.post("/api/my/bikes", headers=guesser, json={"imei": number, "bind_code": f"GUESS{n:03d}"}))
        .status_code
        for n, guesser in enumerate(guessers * 2)
    ]
    assert codes == [404] * 5 + [429]  # two guesses each, yet the tracker has had its five
    right = {"imei": number, "bind_code": "BIND1234"}
    assert_detail(await client.post("/api/my/bikes", headers=guessers[2], json=right), 429)
    # Another tracker is not affected by it.
    claim = {"imei": other, "bind_code": "BIND1234"}
    assert (await client.post("/api/my/bikes", headers=guessers[0], json=claim)).status_code == 201
    clock.advance(minutes=16)
    assert (await client.post("/api/my/bikes", headers=guessers[2], json=right)).status_code == 201


async def test_a_bike_shows_its_gps_position_its_cell_report_apart_and_its_status(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    await reported(
        engine,
        number,
        lat=39.9087,
        lon=116.3975,
        fix_time=clock.now() - timedelta(seconds=95),
        speed_kmh=0.0,
        course=270.0,
        satellites=9,
        lbs_time=clock.now() - timedelta(seconds=20),
        lbs_cell={"mcc": 460, "mnc": 0, "lac": 4189, "cid": 7849},
        status={"voltage_level": 5, "gsm": 4, "charging": False, "acc": True, "weird": {"x": 1}},
    )
    bike = (await client.get(f"/api/my/bikes/{number}", headers=owner)).json()
    assert bike["position"] == {
        "lat": 39.9087,
        "lon": 116.3975,
        "fix_time": "2026-11-24T05:58:25Z",
        "age_s": 95.0,
        "speed_kmh": 0.0,
        "course": 270.0,
        "satellites": 9,
    }
    assert bike["cell"] == {
        "time": "2026-11-24T05:59:40Z",
        "age_s": 20.0,
        "approximate": True,
        "cell": {"mcc": 460, "mnc": 0, "lac": 4189, "cid": 7849},
    }
    assert bike["status"] == {"voltage_level": 5, "gsm": 4, "charging": False, "acc": True}
    assert bike["last_seen_at"] == "2026-11-24T04:00:00Z"


async def test_status_values_of_unexpected_types_are_left_out(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    await reported(engine, number, status={"voltage_level": "high", "gsm": True, "charging": 1, "acc": None})
    bike = (await client.get(f"/api/my/bikes/{number}", headers=owner)).json()
    assert bike["status"] == {"voltage_level": None, "gsm": None, "charging": None, "acc": None}


async def test_an_owner_renames_a_bike_and_clears_its_plate(client: httpx.AsyncClient) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    renamed = await client.patch(f"/api/my/bikes/{number}", headers=owner, json={"name": "小蓝", "plate": ""})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["plate"]) == ("小蓝", None)


async def test_releasing_a_bike_makes_it_claimable_again_and_ends_the_owners_links(
    client: httpx.AsyncClient,
) -> None:
    first = await owner_session(client, "13812345678")
    second = await owner_session(client, "13912345678")
    number = await claimed(client, first, 1)
    link = (await client.post(f"/api/my/bikes/{number}/share", headers=first, json={"ttl_s": 3600})).json()
    assert (await client.delete(f"/api/my/bikes/{number}", headers=first)).status_code == 204
    assert (await client.get("/api/my/bikes", headers=first)).json() == []
    assert_detail(await client.get(link["url"].replace("https://alarm.example.com/share/", "/api/share/")), 410)
    again = await client.post("/api/my/bikes", headers=second, json={"imei": number, "bind_code": "BIND1234"})
    assert again.status_code == 201
    staff_view = (await client.get(f"/api/trackers/{number}", headers=OPERATOR)).json()
    assert staff_view["owner"]["id"] == (await client.get("/api/owners/me", headers=second)).json()["id"]


async def test_a_new_owner_is_not_followed_by_links_made_before_the_claim(client: httpx.AsyncClient) -> None:
    first = await owner_session(client, "13812345678")
    second = await owner_session(client, "13912345678")
    number = await claimed(client, first, 1)
    made = await client.post(f"/api/trackers/{number}/share", headers=OPERATOR, json={"ttl_s": 86_400})
    operators = made.json()["url"].replace("https://alarm.example.com/share/", "/api/share/")
    assert (await client.delete(f"/api/my/bikes/{number}", headers=first)).status_code == 204
    assert (await client.get(operators)).status_code == 200  # an operator's link outlives the release
    claim = {"imei": number, "bind_code": "BIND1234"}
    assert (await client.post("/api/my/bikes", headers=second, json=claim)).status_code == 201
    assert_detail(await client.get(operators), 410)  # but does not follow the next owner
    listed = (await client.get(f"/api/my/bikes/{number}/shares", headers=second)).json()
    assert [(item["created_by"], item["active"]) for item in listed] == [("alice", False)]


def owner_routes(number: str) -> list[tuple[str, str, Any]]:
    base = f"/api/my/bikes/{number}"
    return [
        ("GET", base, None),
        ("PATCH", base, {"name": "mine now"}),
        ("DELETE", base, None),
        ("POST", f"{base}/arm", None),
        ("POST", f"{base}/disarm", None),
        ("GET", f"{base}/track", None),
        ("GET", f"{base}/track.gpx", None),
        ("GET", f"{base}/track.kml", None),
        ("GET", f"{base}/track.csv", None),
        ("POST", f"{base}/theft", None),
        ("POST", f"{base}/share", {"ttl_s": 3600}),
        ("GET", f"{base}/shares", None),
        ("DELETE", f"{base}/shares/0123456789abcdef", None),
        ("POST", f"{base}/commands", {"name": "engine_stop"}),
        ("GET", f"{base}/commands/0123456789abcdef", None),
    ]


async def test_another_owners_bike_is_not_found_on_every_route_exactly_like_an_unknown_one(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    owner = await owner_session(client, "13812345678")
    thief = await owner_session(client, "13912345678")
    number = await claimed(client, owner, 1)
    await reported(engine, number, lat=39.9, lon=116.4, fix_time=clock.now())
    await add_positions(engine, number, [{"fix_time": T0 + timedelta(minutes=minute)} for minute in range(5)])
    never = imei(99)
    for (method, path, body), (_, unknown_path, _) in zip(owner_routes(number), owner_routes(never), strict=True):
        theirs = await client.request(method, path, headers=thief, json=body)
        unknown = await client.request(method, unknown_path, headers=thief, json=body)
        assert theirs.status_code == 404, (method, path, theirs.text)
        assert theirs.json() == unknown.json(), (method, path)
    # Nothing happened to the bike.
    bike = (await client.get(f"/api/my/bikes/{number}", headers=owner)).json()
    assert (bike["name"], bike["armed"]) == ("my bike", False)
    assert (await client.get(f"/api/my/bikes/{number}/shares", headers=owner)).json() == []


async def test_staff_tokens_do_not_pass_on_owner_routes(client: httpx.AsyncClient) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    for method, path, body in [*owner_routes(number), ("GET", "/api/my/bikes", None), ("POST", "/api/my/bikes", {})]:
        response = await client.request(method, path, headers=OPERATOR, json=body)
        assert_detail(response, 403)


@pytest.mark.parametrize("path", ["/api/my/bikes", "/api/my/bikes/861234560000015", "/api/owners/me"])
async def test_owner_routes_want_a_token(client: httpx.AsyncClient, path: str) -> None:
    assert_detail(await client.get(path), 401)
