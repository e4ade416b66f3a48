"""Malformed and hostile input on every route of the owners' API: 4xx with a detail, never a 500, nothing changed."""

from __future__ import annotations

import itertools
import re
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.store.schema import commands, owners, share_links, trackers
from tests.central.api_owners.conftest import OPERATOR, add_positions, claimed, owner_session, reported

MINE = ("/api/owners", "/api/my/", "/api/trackers", "/api/share/")  # /share/{token} is a page (test_share)

HOSTILE_SEGMENTS = [
    "9" * 400,
    "-1",
    "0",
    "1e308",
    "NaN",
    "' OR 1=1 --",
    "%00",
    "..%2F..%2Fetc%2Fpasswd",
    "汉字",
    "\u202e" * 3,
    "%F0%9F%92%A3",
]
HOSTILE_QUERY_VALUES = [
    "9" * 400,
    "-1",
    "nan",
    "inf",
    "2026-02-30T00:00:00Z",
    "2026-11-24T04:00:00+99:00",
    "'; DROP TABLE positions; --",
    "\u0000",
    "汉字",
    "",
]
QUERY_NAMES = ["from", "to", "limit", "cursor", "source", "include_filtered", "owner_id", "owned", "theft_state",
               "armed", "site"]
HOSTILE_BODIES: list[bytes] = [
    b"",
    b"null",
    b"[]",
    b'"x"',
    b"{",
    b'{"imei": ' + b"9" * 5000 + b"}",
    b'{"ttl_s": 1e400}',
    b'{"ttl_s": 18446744073709551617}',
    b'{"name": "\\ud800"}',
    b'{"phone": "13812345678", "password": "' + "密码".encode() * 100 + b'"}',
    b'{"name": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    b'{"imei": "861234560000015", "bind_code": {"$ne": null}}',
    b"\xff\xfe\x00",
]


def _concrete(path: str, number: str) -> str:
    return (
        path.replace("{imei}", number)
        .replace("{link_id}", "0123456789abcdef")
        .replace("{cmd_id}", "0123456789abcdef")
        .replace("{token}", "A" * 32)
        .replace("{fmt}", "gpx")
    )


async def _routes(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    document = (await client.get("/openapi.json")).json()
    routes = [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if path.startswith(MINE)
    ]
    assert len(routes) >= 30  # every route of this API is in the document
    return routes


def _ok(response: httpx.Response, what: object) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text)
    if response.status_code >= 400:
        assert "detail" in response.json(), what


async def test_hostile_path_segments_query_values_and_bodies_are_4xx(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)
    await reported(engine, number)
    await add_positions(engine, number, [{} for _ in range(3)])
    routes = await _routes(client)
    for (method, path), headers in itertools.product(routes, (owner, OPERATOR)):
        for segment in HOSTILE_SEGMENTS:
            hostile_path = re.sub(r"\{[a-z_]+\}", segment, path)
            _ok(await client.request(method, hostile_path, headers=headers), (method, hostile_path))
        concrete = _concrete(path, number)
        for name, value in itertools.product(QUERY_NAMES, HOSTILE_QUERY_VALUES):
            response = await client.request(method, concrete, headers=headers, params={name: value})
            _ok(response, (method, concrete, name, value))
        if method in ("POST", "PATCH"):
            for body in HOSTILE_BODIES:
                response = await client.request(
                    method, concrete, headers={**headers, "Content-Type": "application/json"}, content=body
                )
                _ok(response, (method, concrete, body[:40]))


async def test_hostile_input_changes_nothing(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    owner = await owner_session(client, "13812345678")
    number = await claimed(client, owner, 1)

    async def counts() -> list[Any]:
        async with engine.connect() as connection:
            return [
                (await connection.execute(select(func.count()).select_from(table))).scalar_one()
                for table in (owners, trackers, share_links, commands)
            ]

    before = await counts()
    base = f"/api/my/bikes/{number}"
    for path in (f"{base}/share", f"{base}/commands", "/api/my/bikes", "/api/owners", "/api/trackers"):
        for body in HOSTILE_BODIES:
            if path.endswith("/share") and body in (b"", b"null"):
                continue  # the share body is optional: none at all asks for a link of the default lifetime
            response = await client.post(path, headers={**owner, "Content-Type": "application/json"}, content=body)
            assert 400 <= response.status_code < 500, (path, body[:40])
    assert await counts() == before
