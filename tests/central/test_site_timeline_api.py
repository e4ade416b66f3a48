"""A site's timeline, profile and the sites overview's filters through the HTTP API, on both stores: what each role
sees, paging that neither repeats nor skips, and hostile input answered 4xx with a detail."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.api.app import create_app
from central.rules_settings import RoleRecipients, RulesSettings
from central.store.readings import insert_readings
from central.store.schema import audit_log, dispatches, seq_gaps, sites, tickets
from central.store.timeline import Key
from shaobing.envelope import Envelope, Kind
from tests.central.app_kit import (
    ADMIN,
    OPERATOR,
    ROLE_TOKENS,
    SUPERVISOR,
    VIEWER,
    Clock,
    RecordingSender,
    assert_detail,
)

T0 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
SETTINGS = RulesSettings(recipients=RoleRecipients(security=["guards"], police=["police-110"]))
TOKENS = ROLE_TOKENS
ID_NUMBER = "11010519491231002X"
LOG = logging.getLogger("test.site_timeline")


def envelope(seq: int, kind: Kind, data: dict[str, Any], site: str = "shop-1") -> Envelope:
    moment = T0 + timedelta(seconds=seq)
    return Envelope(site=site, seq=seq, device="panel", kind=kind, ts=moment, rx=moment, priority=1, data=data)


def dispatch_row(reading_id: int, alarm_class: str, at: datetime, *, resolved: bool = False) -> dict[str, Any]:
    return {"site": "shop-1", "reading_id": reading_id, "alarm_class": alarm_class, "zone": "3", "priority": 1,
            "state": "resolved" if resolved else "raised", "recipients": [], "occurrences": 1, "raised_at": at,
            "resolved_at": at + timedelta(minutes=5) if resolved else None, "updated_at": at,
            "outcome": "false" if resolved else None,
            "open_key": None if resolved else f"shop-1|{alarm_class}|3"}


async def seed(engine: AsyncEngine) -> None:
    """shop-1: 12 status readings, an ID read, an alarm (raised and resolved), a watch-list dispatch, a trouble
    ticket, the site going offline and back, a gap. shop-2: online, disarmed, in another area, nothing else."""
    async with engine.begin() as connection:
        await connection.execute(insert(sites), [
            {"id": "shop-1", "name": "Shop One", "armed": True, "online": False, "arming": {}, "last_seq": 30,
             "area": "东城片区"},
            {"id": "shop-2", "name": "Shop Two", "armed": False, "online": True, "arming": {}, "last_seq": 0,
             "area": "西城片区"},
        ])
        envelopes = [envelope(seq, Kind.STATUS, {"voltage_level": seq}) for seq in range(1, 13)]
        envelopes.append(envelope(13, Kind.ID_READ, {"id_number": ID_NUMBER, "name": "张三丰", "photo_wlt": "AAAA"}))
        envelopes.append(envelope(14, Kind.ALARM, {"class": "burglary", "zone": 3}))
        stored = await insert_readings(connection, envelopes, stored_at=T0)
        by_seq = {reading.envelope.seq: reading.id for reading in stored}
        await connection.execute(insert(dispatches), [
            dispatch_row(by_seq[14], "burglary", T0 + timedelta(seconds=14), resolved=True),
            dispatch_row(by_seq[13], "watchlist", T0 + timedelta(seconds=13)),
        ])
        await connection.execute(insert(tickets), [
            {"site": "shop-1", "trouble_class": "ac_loss", "opened_at": T0 + timedelta(seconds=20),
             "closed_at": None, "detail": "mains lost", "source": "reading"},
            {"site": "shop-1", "trouble_class": "comm_fail", "opened_at": T0 + timedelta(seconds=30),
             "closed_at": T0 + timedelta(seconds=40), "detail": "", "source": "state"},
        ])
        await connection.execute(insert(seq_gaps).values(site="shop-1", first_seq=26, last_seq=27,
                                                         detected_at=T0 + timedelta(seconds=25)))


@pytest.fixture
async def app(engine: AsyncEngine) -> FastAPI:
    await seed(engine)
    return create_app(engine, settings=SETTINGS, tokens=TOKENS, command_sender=RecordingSender(),
                      clock=Clock(T0 + timedelta(hours=1)), logger=LOG)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://central") as client:
        yield client


async def whole_timeline(client: httpx.AsyncClient, headers: dict[str, str], limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        params: dict[str, Any] = {"limit": limit} | ({"before": cursor} if cursor else {})
        response = await client.get("/api/sites/shop-1/timeline", headers=headers, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the timeline never ended")


# ---- the timeline --------------------------------------------------------------------------------------------------


async def test_the_timeline_tells_the_sites_history_newest_first(client: httpx.AsyncClient) -> None:
    page = (await client.get("/api/sites/shop-1/timeline", headers=OPERATOR)).json()
    assert page["next_cursor"] is None
    types = [item["type"] for item in page["items"]]
    assert types[:7] == ["dispatch_resolved", "online", "offline", "gap", "ticket_opened", "dispatch_raised",
                         "reading"]
    assert types.count("reading") == 14
    assert "dispatch_raised" in types and "dispatch_resolved" in types
    ats = [item["at"] for item in page["items"]]
    assert ats == sorted(ats, reverse=True)
    gap = next(item for item in page["items"] if item["type"] == "gap")
    assert (gap["detail"]["first_seq"], gap["detail"]["last_seq"], gap["detail"]["size"]) == (26, 27, 2)
    alarm = next(item for item in page["items"] if item["type"] == "reading" and item["kind"] == "alarm")
    assert alarm["summary"].startswith("class=burglary") and alarm["device"] == "panel"
    resolved = next(item for item in page["items"] if item["type"] == "dispatch_resolved")
    assert resolved["detail"]["alarm_class"] == "burglary" and resolved["detail"]["outcome"] == "false"


async def test_watch_list_dispatches_never_show_to_any_staff_role(client: httpx.AsyncClient) -> None:
    for headers in (VIEWER, OPERATOR, SUPERVISOR, ADMIN):
        items = await whole_timeline(client, headers, 500)
        classes = {item["detail"].get("alarm_class") for item in items if item["type"].startswith("dispatch")}
        assert classes == {"burglary"}
        assert "watchlist" not in str(items)


async def test_id_reads_are_masked_below_supervisor(client: httpx.AsyncClient) -> None:
    def id_read(items: list[dict[str, Any]]) -> dict[str, Any]:
        return next(item for item in items if item.get("kind") == "id_read")

    for headers in (VIEWER, OPERATOR):
        read = id_read(await whole_timeline(client, headers, 500))
        assert read["detail"]["data"]["id_number"] == "110105********002X"
        assert read["detail"]["data"]["name"] == "张**" and read["detail"]["data"]["photo_wlt"] is None
        assert ID_NUMBER not in read["summary"] and "张三丰" not in read["summary"]
    for headers in (SUPERVISOR, ADMIN):
        read = id_read(await whole_timeline(client, headers, 500))
        assert read["detail"]["data"]["id_number"] == ID_NUMBER and f"id_number={ID_NUMBER}" in read["summary"]


async def test_pages_neither_repeat_nor_skip(client: httpx.AsyncClient) -> None:
    everything = await whole_timeline(client, VIEWER, 500)
    assert len(everything) == 20  # 14 readings, raised + resolved, ticket, offline + online, gap
    for limit in (1, 3, 7):
        assert await whole_timeline(client, VIEWER, limit) == everything


async def test_events_at_the_same_instant_page_in_a_stable_order(engine: AsyncEngine,
                                                                 client: httpx.AsyncClient) -> None:
    same = T0 + timedelta(seconds=20)  # the ac_loss ticket's instant: a gap and a reading join it
    async with engine.begin() as connection:
        await connection.execute(insert(seq_gaps).values(site="shop-1", first_seq=40, last_seq=40, detected_at=same))
        await insert_readings(connection, [Envelope(site="shop-1", seq=50, device="door", kind=Kind.STATUS, ts=same,
                                                    rx=same, priority=1, data={"door": "closed"})], stored_at=same)
    everything = await whole_timeline(client, VIEWER, 500)
    at_once = [item["type"] for item in everything if item["at"].startswith("2026-11-24T04:00:20")]
    assert at_once == ["gap", "ticket_opened", "reading"]
    for limit in (1, 2, 5):
        assert await whole_timeline(client, VIEWER, limit) == everything


BAD_CURSORS = ["x", "%%%", "=" * 10, "a" * 81, Key(T0, 99, 1).encode(), Key(T0, 0, -1).encode(),
               "MjAyNjExMjRUMDQwMDAwLjAwMDAwMC4wLjE5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "bm90LmEuY3Vyc29y",
               "MDAwMDAwMDBUMDAwMDAwLjAwMDAwMC4wLjE"]


async def test_hostile_timeline_queries_are_4xx(client: httpx.AsyncClient) -> None:
    for cursor in BAD_CURSORS:
        response = await client.get("/api/sites/shop-1/timeline", headers=VIEWER, params={"before": cursor})
        assert_detail(response, 422)
    for limit in ("0", "501", "-1", "99999999999999999999999", "ten", "1e3"):
        response = await client.get("/api/sites/shop-1/timeline", headers=VIEWER, params={"limit": limit})
        assert_detail(response, 422)
    for site in ("nowhere", "SHOP-1", "shop_1", "..%2Fetc", "a" * 200, "%00", "店"):
        response = await client.get(f"/api/sites/{site}/timeline", headers=VIEWER)
        assert response.status_code in (404, 422), (site, response.status_code)
        assert "detail" in response.json()
    assert_detail(await client.get("/api/sites/shop-1/timeline"), 401)


# ---- the profile ---------------------------------------------------------------------------------------------------


async def test_a_supervisor_edits_the_profile_and_the_audit_log_says_so(
    engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    body = {"name": "一号店", "area": "南城片区", "address": "北京市东城区东直门内大街 1 号", "lat": 39.94,
            "lon": 116.43}
    response = await client.patch("/api/sites/shop-1", headers=SUPERVISOR, json=body)
    assert response.status_code == 200, response.text
    site = response.json()
    assert {key: site[key] for key in body} == body
    assert (await client.get("/api/sites/shop-1", headers=VIEWER)).json()["area"] == "南城片区"
    cleared = await client.patch("/api/sites/shop-1", headers=ADMIN, json={"lat": None, "lon": None, "address": None})
    assert (cleared.json()["lat"], cleared.json()["lon"], cleared.json()["address"]) == (None, None, None)
    unchanged = await client.patch("/api/sites/shop-1", headers=ADMIN, json={"area": "南城片区"})
    assert unchanged.status_code == 200
    async with engine.connect() as connection:
        rows = (await connection.execute(select(audit_log).order_by(audit_log.c.id))).all()
    assert [(row.actor, row.role, row.action, row.target) for row in rows] == [
        ("sam", "supervisor", "site.profile", "site:shop-1"), ("ann", "admin", "site.profile", "site:shop-1")]
    assert rows[0].detail["area"] == {"from": "东城片区", "to": "南城片区"}
    assert rows[0].detail["name"] == {"from": "Shop One", "to": "一号店"}
    assert set(rows[1].detail) == {"lat", "lon", "address"} and rows[1].detail["lat"]["to"] is None


async def test_only_supervisors_and_admins_edit_a_profile(engine: AsyncEngine, client: httpx.AsyncClient) -> None:
    for headers in (VIEWER, OPERATOR):
        response = await client.patch("/api/sites/shop-1", headers=headers, json={"area": "北城片区"})
        assert_detail(response, 403)
    assert_detail(await client.patch("/api/sites/shop-1", json={"area": "北城片区"}), 401)
    assert (await client.get("/api/sites/shop-1", headers=VIEWER)).json()["area"] == "东城片区"
    async with engine.connect() as connection:
        assert (await connection.execute(select(audit_log))).all() == []


BAD_PROFILES: list[Any] = [
    {},
    {"lat": 91, "lon": 0},
    {"lat": -90.0001, "lon": 0},
    {"lat": 0, "lon": 180.5},
    {"lat": 0, "lon": -181},
    {"lat": 39.9},
    {"lon": 116.4},
    {"lat": 39.9, "lon": None},
    {"lat": "39.9", "lon": "116.4"},
    {"lat": True, "lon": False},
    {"lat": [1], "lon": {"a": 1}},
    {"name": None},
    {"name": ""},
    {"name": "   "},
    {"name": "店" * 101},
    {"area": "片" * 65},
    {"address": "址" * 201},
    {"name": "Shop\u202eeno"},
    {"name": "Shop\x00One"},
    {"area": "East\nArea"},
    {"name": "zero\u200bwidth"},
    {"name": 5},
    {"area": ["东城"]},
    {"id": "shop-9"},
    {"online": True},
    {"name": "Shop", "extra": 1},
    [],
    "area",
    None,
]


async def test_bad_profiles_are_refused_and_change_nothing(engine: AsyncEngine, client: httpx.AsyncClient) -> None:
    for body in BAD_PROFILES:
        response = await client.patch("/api/sites/shop-1", headers=SUPERVISOR, json=body)
        assert_detail(response, 422)
    raw_bodies = (b"{", b'{"lat": NaN, "lon": 0}', b'{"lat": Infinity, "lon": 0}', b'{"lat": 1e400, "lon": 0}',
                  b'{"name": "\\ud800"}', b"\xff\xfe", b'{"name": "x"' * 10)
    for raw in raw_bodies:
        response = await client.patch("/api/sites/shop-1", headers={**SUPERVISOR, "Content-Type": "application/json"},
                                      content=raw)
        assert_detail(response, 422)
    huge = await client.patch("/api/sites/shop-1", headers=SUPERVISOR, json={"address": "x" * 100_000})
    assert_detail(huge, 413)
    site = (await client.get("/api/sites/shop-1", headers=VIEWER)).json()
    assert (site["name"], site["area"], site["lat"]) == ("Shop One", "东城片区", None)
    async with engine.connect() as connection:
        assert (await connection.execute(select(audit_log))).all() == []


async def test_a_profile_of_an_unknown_or_hostile_site_is_4xx(client: httpx.AsyncClient) -> None:
    assert_detail(await client.patch("/api/sites/nowhere", headers=SUPERVISOR, json={"area": "东城片区"}), 404)
    for site in ("SHOP-1", "shop_1", "a" * 200, "%00"):
        response = await client.patch(f"/api/sites/{site}", headers=SUPERVISOR, json={"area": "东城片区"})
        assert response.status_code in (404, 422) and "detail" in response.json()


async def test_names_in_any_script_are_kept_as_typed(client: httpx.AsyncClient) -> None:
    for name in ("東城 便利店 №1", "Ünïcødé café", "ร้านค้า", "店" * 100):
        response = await client.patch("/api/sites/shop-2", headers=ADMIN, json={"name": f"  {name} "})
        assert response.status_code == 200 and response.json()["name"] == name


# ---- the overview's filters ----------------------------------------------------------------------------------------


async def test_the_overview_filters_by_state_troubles_gaps_and_area(client: httpx.AsyncClient) -> None:
    async def ids(**params: Any) -> list[str]:
        response = await client.get("/api/sites", headers=VIEWER, params=params)
        assert response.status_code == 200, response.text
        return [site["id"] for site in response.json()]

    assert await ids() == ["shop-1", "shop-2"]
    assert await ids(online="true") == ["shop-2"]
    assert await ids(online="false") == ["shop-1"]
    assert await ids(armed="true") == ["shop-1"]
    assert await ids(armed="false") == ["shop-2"]
    assert await ids(troubles="true") == ["shop-1"]
    assert await ids(gaps="false") == ["shop-2"]
    assert await ids(area="西城片区") == ["shop-2"]
    assert await ids(area="东城片区", online="true") == []
    listing = (await client.get("/api/sites", headers=VIEWER)).json()
    assert listing[0]["area"] == "东城片区" and "address" in listing[0] and "lat" in listing[0]


async def test_bad_overview_filters_are_4xx(client: httpx.AsyncClient) -> None:
    for name, value in itertools.product(("online", "armed", "troubles", "gaps"), ("maybe", "2", "")):
        assert_detail(await client.get("/api/sites", headers=VIEWER, params={name: value}), 422)
    for area in ("", "区" * 65):
        assert_detail(await client.get("/api/sites", headers=VIEWER, params={"area": area}), 422)
