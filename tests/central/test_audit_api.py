"""The audit log read back through the HTTP API, on both stores: supervisors and admins only, a period, actor and
target filters, paging, the CSV download, and hostile input answered 4xx with a detail."""

from __future__ import annotations

import csv
import io
import itertools
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from central.api.app import create_app
from central.rules_settings import RoleRecipients, RulesSettings
from central.store.audit import record
from central.store.schema import sites
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
NOW = T0 + timedelta(hours=2)
SETTINGS = RulesSettings(recipients=RoleRecipients(security=["guards"], police=["police-110"]))
TOKENS = ROLE_TOKENS
LOG = logging.getLogger("test.audit_api")


async def seed(engine: AsyncEngine) -> None:
    """25 entries a minute apart: 王强 and olga acting on dispatches 1..3 and a site; one entry the day before."""
    async with engine.begin() as connection:
        await connection.execute(insert(sites).values(id="shop-1", name="Shop One", arming={}, last_seq=0))
        for minute in range(25):
            actor = "王强" if minute % 2 == 0 else "olga"
            target = "site:shop-1" if minute % 5 == 0 else f"dispatch:{minute % 3 + 1}"
            await record(connection, at=T0 + timedelta(minutes=minute), actor=actor,
                         role="supervisor" if actor == "王强" else "operator", action="dispatch.acknowledge",
                         target=target, detail={"n": minute, "note": "=cmd|' /C calc'!A0" if minute == 7 else ""})
        await record(connection, at=T0 - timedelta(days=1), actor="olga", role="operator", action="login")


@pytest.fixture
async def app(engine: AsyncEngine) -> FastAPI:
    await seed(engine)
    return create_app(engine, settings=SETTINGS, tokens=TOKENS, command_sender=RecordingSender(), clock=Clock(NOW),
                      logger=LOG)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://central") as client:
        yield client


async def every_page(client: httpx.AsyncClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        response = await client.get("/api/audit", headers=SUPERVISOR, params=params | ({"before": cursor} if cursor
                                                                                       else {}))
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the log never ended")


async def test_the_last_day_newest_first(client: httpx.AsyncClient) -> None:
    page = (await client.get("/api/audit", headers=ADMIN)).json()
    assert len(page["items"]) == 25 and page["next_cursor"] is None
    assert [item["detail"]["n"] for item in page["items"]] == list(range(24, -1, -1))
    first = page["items"][-1]
    assert (first["actor"], first["role"], first["action"], first["target"]) == (
        "王强", "supervisor", "dispatch.acknowledge", "site:shop-1")
    assert first["at"] == "2026-11-24T04:00:00Z"


async def test_a_period_actor_and_target_narrow_it_down(client: httpx.AsyncClient) -> None:
    since, until = (T0 + timedelta(minutes=10)).isoformat(), (T0 + timedelta(minutes=20)).isoformat()
    window = await every_page(client, {"since": since, "until": until})
    assert [item["detail"]["n"] for item in window] == list(range(19, 9, -1))
    mine = await every_page(client, {"actor": "王强"})
    assert {item["actor"] for item in mine} == {"王强"} and len(mine) == 13
    site = await every_page(client, {"target": "site:shop-1", "actor": "olga"})
    assert [item["detail"]["n"] for item in site] == [15, 5]
    older = await every_page(client, {"since": (T0 - timedelta(days=2)).isoformat(), "until": T0.isoformat()})
    assert [item["action"] for item in older] == ["login"]
    assert await every_page(client, {"actor": "nobody"}) == []


async def test_pages_neither_repeat_nor_skip(client: httpx.AsyncClient) -> None:
    whole = await every_page(client, {"limit": 500})
    for limit in (1, 4, 24):
        assert await every_page(client, {"limit": limit}) == whole


async def test_the_csv_download_has_every_entry_and_no_formula(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/audit.csv", headers=SUPERVISOR, params={"target": "dispatch:2"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="audit-')
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == ["id", "at", "actor", "role", "action", "target", "detail"]
    assert {row[5] for row in rows[1:]} == {"dispatch:2"} and len(rows) == 1 + 7
    assert all(not row[6].startswith("=") for row in rows[1:])
    assert "王强" in text


async def test_only_supervisors_and_admins_read_the_log(client: httpx.AsyncClient) -> None:
    for path, headers in itertools.product(("/api/audit", "/api/audit.csv"), (VIEWER, OPERATOR)):
        response = await client.get(path, headers=headers)
        assert_detail(response, 403)
    for path in ("/api/audit", "/api/audit.csv"):
        assert_detail(await client.get(path), 401)
        assert_detail(await client.get(path, headers={"Authorization": "Bearer nope-nope-nope-nope"}), 401)


HOSTILE_QUERIES: list[dict[str, str]] = [
    {"before": "abc"},
    {"before": "-1"},
    {"before": "99999999999999999999"},
    {"before": "9223372036854775808"},
    {"before": ""},
    {"limit": "0"},
    {"limit": "501"},
    {"limit": "1e9"},
    {"since": "yesterday"},
    {"since": "2026-13-40T00:00:00Z"},
    {"until": "0001-01-01T00:00:00Z"},
    {"since": "2026-11-24T05:00:00Z", "until": "2026-11-24T04:00:00Z"},
    {"since": "2026-11-24T05:00:00Z", "until": "2026-11-24T05:00:00Z"},
    {"since": "2020-01-01T00:00:00Z", "until": "2026-11-24T05:00:00Z"},
    {"since": "99999-01-01T00:00:00Z"},
    {"actor": ""},
    {"actor": "a" * 129},
    {"target": "t" * 201},
]


async def test_hostile_queries_are_4xx(client: httpx.AsyncClient) -> None:
    for params, path in itertools.product(HOSTILE_QUERIES, ("/api/audit", "/api/audit.csv")):
        if ("before" in params or "limit" in params) and path.endswith(".csv"):
            continue  # the download takes neither
        response = await client.get(path, headers=SUPERVISOR, params=params)
        assert_detail(response, 422)
    for params in ({"actor": "'; DROP TABLE audit_log; --"}, {"target": "site:%"}, {"actor": "王强\u202e"}):
        response = await client.get("/api/audit", headers=SUPERVISOR, params=params)
        assert response.status_code == 200 and response.json()["items"] == []
    assert len((await client.get("/api/audit", headers=SUPERVISOR)).json()["items"]) == 25
