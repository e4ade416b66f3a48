"""Share links: made by an owner or an operator, seen without an account (the bike and where it is, nothing about
its owner), expiring with the app's clock, revoked, listed by a hash prefix; unknown and hostile tokens."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.store.schema import share_links
from tests.central.api_owners.conftest import (
    OPERATOR,
    PUBLIC_URL,
    VIEWER,
    Clock,
    add_positions,
    assert_detail,
    claimed,
    owner_session,
    reported,
)


def path_of(url: str) -> str:
    """The API path answering for a share link (the link itself opens the page that reads it)."""
    assert url.startswith(f"{PUBLIC_URL}/share/")
    return "/api" + url.removeprefix(PUBLIC_URL)


async def shared_bike(client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock) -> tuple[dict[str, str], str]:
    owner = await owner_session(client, "13812345678", name="Li Lei")
    number = await claimed(client, owner, 1, name="blue bike", plate="京A12345")
    now = clock.now()
    await reported(engine, number, lat=39.95, lon=116.45, fix_time=now - timedelta(seconds=30), satellites=7)
    await add_positions(
        engine,
        number,
        [
            {"fix_time": now - timedelta(minutes=90)},  # older than the hour before the newest fix
            {"fix_time": now - timedelta(minutes=50)},
            {"fix_time": now - timedelta(minutes=20), "archived": True},
            {"fix_time": now - timedelta(minutes=10), "filtered": "jump"},
            {"fix_time": now - timedelta(minutes=5), "source": "lbs", "approximate": True},
            {"fix_time": now - timedelta(seconds=30), "lat": 39.95, "lon": 116.45},
        ],
    )
    return owner, number


async def test_a_link_shows_the_bike_and_its_last_hour_but_nothing_of_its_owner(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    owner, number = await shared_bike(client, engine, clock)
    created = await client.post(f"/api/my/bikes/{number}/share", headers=owner, json={"ttl_s": 3600})
    assert created.status_code == 201, created.text
    link = created.json()
    assert link["expires_at"] == "2026-11-24T07:00:00Z"
    token = link["url"].rsplit("/", 1)[1]
    assert len(token) == 32  # 24 random bytes
    response = await client.get(f"/api/share/{token}")  # no account
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    shown = response.json()
    assert (shown["name"], shown["plate"], shown["position"]["lat"], shown["position"]["age_s"]) == (
        "blue bike",
        "京A12345",
        39.95,
        30.0,
    )
    assert [point["fix_time"][11:16] for point in shown["track"]] == ["05:10", "05:40", "05:59"]
    assert [point["archived"] for point in shown["track"]] == [False, True, False]
    text = response.text
    for personal in ("13812345678", "Li Lei", "owner", number):
        assert personal not in text
    page = await client.get(link["url"].removeprefix(PUBLIC_URL))  # the address handed out: the live page
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert (page.headers["cache-control"], page.headers["referrer-policy"]) == ("no-store", "no-referrer")
    assert "/static/share/share.js" in page.text
    for personal in ("13812345678", "Li Lei", number, "blue bike"):
        assert personal not in page.text


async def test_only_the_hash_of_a_token_is_stored_and_its_prefix_names_the_link(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    owner, number = await shared_bike(client, engine, clock)
    link = (await client.post(f"/api/my/bikes/{number}/share", headers=owner, json={"ttl_s": 600})).json()
    token = link["url"].rsplit("/", 1)[1]
    async with engine.connect() as connection:
        stored = (await connection.execute(select(share_links.c.token_hash))).scalar_one()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert link["id"] == stored[:16]
    listed = (await client.get(f"/api/my/bikes/{number}/shares", headers=owner)).json()
    assert [(item["id"], item["created_by"], item["active"]) for item in listed] == [(link["id"], "owner:1", True)]
    assert token not in str(listed)


async def test_a_link_expires_with_the_clock(client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock) -> None:
    owner, number = await shared_bike(client, engine, clock)
    link = (await client.post(f"/api/my/bikes/{number}/share", headers=owner, json={"ttl_s": 600})).json()
    clock.advance(seconds=599)
    assert (await client.get(path_of(link["url"]))).status_code == 200
    clock.advance(seconds=1)
    expired = await client.get(path_of(link["url"]))
    assert_detail(expired, 410)
    assert "expired" in expired.json()["detail"]
    listed = (await client.get(f"/api/my/bikes/{number}/shares", headers=owner)).json()
    assert [item["active"] for item in listed] == [False]


async def test_a_revoked_link_is_gone_at_once(client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock) -> None:
    owner, number = await shared_bike(client, engine, clock)
    keep = (await client.post(f"/api/my/bikes/{number}/share", headers=owner, json={"ttl_s": 600})).json()
    drop = (await client.post(f"/api/my/bikes/{number}/share", headers=owner, json={"ttl_s": 600})).json()
    revoked = await client.delete(f"/api/my/bikes/{number}/shares/{drop['id']}", headers=owner)
    assert revoked.status_code == 200, revoked.text
    assert (revoked.json()["active"], revoked.json()["revoked_at"]) == (False, "2026-11-24T06:00:00Z")
    gone = await client.get(path_of(drop["url"]))
    assert_detail(gone, 410)
    assert "revoked" in gone.json()["detail"]
    assert (await client.get(path_of(keep["url"]))).status_code == 200
    clock.advance(seconds=5)
    again = await client.delete(f"/api/my/bikes/{number}/shares/{drop['id']}", headers=owner)
    assert again.json()["revoked_at"] == "2026-11-24T06:00:00Z"  # revoked once, at its first time
    assert_detail(await client.delete(f"/api/my/bikes/{number}/shares/ffffffffffffffff", headers=owner), 404)


async def test_link_lifetimes_and_counts_are_bounded(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    owner, number = await shared_bike(client, engine, clock)
    url = f"/api/my/bikes/{number}/share"
    for ttl in (59, 7 * 86_400 + 1, 10**30, -1, "3600", 3600.5, True, [3600]):
        assert_detail(await client.post(url, headers=owner, json={"ttl_s": ttl}), 422)
    assert_detail(await client.post(url, headers=owner, json={"ttl_s": 600, "view": "all"}), 422)
    default = await client.post(url, headers=owner)  # no body: a day
    assert default.json()["expires_at"] == "2026-11-25T06:00:00Z"
    for _ in range(19):
        assert (await client.post(url, headers=owner, json={"ttl_s": 60})).status_code == 201
    assert_detail(await client.post(url, headers=owner, json={"ttl_s": 60}), 409)
    clock.advance(seconds=61)  # nineteen expired: room again
    assert (await client.post(url, headers=owner, json={"ttl_s": 60})).status_code == 201


async def test_unknown_and_hostile_tokens_are_not_found(client: httpx.AsyncClient) -> None:
    assert_detail(await client.get("/api/share/" + "A" * 32), 404)
    for token in (
        "short",
        "x" * 65,
        "x" * 5000,
        "..%2F..%2Fetc%2Fpasswd",
        "' OR 1=1 --",
        "%00" * 20,
        "汉字汉字汉字汉字汉字汉字汉字汉字",
    ):
        assert_detail(await client.get("/api/share/" + token), 404)
        # the page (or, for a path that is no token at all, the router) answers 404; the page then says why
        assert (await client.get("/share/" + token)).status_code == 404


async def test_operators_make_and_revoke_links_and_the_owner_sees_them(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    owner, number = await shared_bike(client, engine, clock)
    assert_detail(await client.post(f"/api/trackers/{number}/share", headers=VIEWER, json={"ttl_s": 600}), 403)
    made = await client.post(f"/api/trackers/{number}/share", headers=OPERATOR, json={"ttl_s": 600})
    assert made.status_code == 201, made.text
    assert (await client.get(path_of(made.json()["url"]))).status_code == 200
    seen_by_owner = (await client.get(f"/api/my/bikes/{number}/shares", headers=owner)).json()
    assert [(item["id"], item["created_by"]) for item in seen_by_owner] == [(made.json()["id"], "alice")]
    staff_list = (await client.get(f"/api/trackers/{number}/shares", headers=VIEWER)).json()
    assert [item["id"] for item in staff_list] == [made.json()["id"]]
    revoked = await client.delete(f"/api/trackers/{number}/shares/{made.json()['id']}", headers=OPERATOR)
    assert revoked.json()["active"] is False
    assert_detail(await client.get(path_of(made.json()["url"])), 410)
