"""The owners' API against the app (ASGI transport) on both stores: owners, staff, trackers and positions."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from central.api.app import create_app
from central.rules_settings import RoleRecipients, RulesSettings
from central.store.schema import positions, sites, trackers
from central.trackers.policy import TrackerPolicy, attach_policy
from tests.central.app_kit import Clock as Clock
from tests.central.app_kit import RecordingSender as RecordingSender
from tests.central.app_kit import assert_detail as assert_detail
from tests.central.app_kit import client_fixture as client_fixture
from tests.central.app_kit import sender_fixture as sender_fixture

T0 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
SETTINGS = RulesSettings(recipients=RoleRecipients(security=["guards"], police=["police-110"], owners=["sms"]))
TOKENS = {
    "operator-token-alice-0001": ("alice", "operator"),
    "viewer-token-vic-00000003": ("vic", "viewer"),
    "supervisor-token-sue-0005": ("sue", "supervisor"),
    "admin-token-ann-000000004": ("ann", "admin"),
}
OPERATOR = {"Authorization": "Bearer operator-token-alice-0001"}
VIEWER = {"Authorization": "Bearer viewer-token-vic-00000003"}
SUPERVISOR = {"Authorization": "Bearer supervisor-token-sue-0005"}
ADMIN = {"Authorization": "Bearer admin-token-ann-000000004"}
PUBLIC_URL = "https://alarm.example.com"
LOG = logging.getLogger("test.api_owners")
PASSWORD = "correct horse battery"
GATEWAY = "gw-1"


def imei(serial: int) -> str:
    """A Luhn-valid IMEI: TAC 86123456, the serial, and the check digit."""
    body = f"86123456{serial:06d}"
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:  # doubled: the check digit will sit to the right of this one
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return body + str((10 - total % 10) % 10)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + timedelta(hours=2))


@pytest.fixture
async def app(engine: AsyncEngine, sender: RecordingSender, clock: Clock) -> FastAPI:
    async with engine.begin() as connection:
        await connection.execute(insert(sites).values(id=GATEWAY, name="Tracker gateway", kind="tracker_gateway"))
    # As the service does: the tracker actions find who hears of a theft through the engine.
    attach_policy(engine, TrackerPolicy.of(SETTINGS, public_url=PUBLIC_URL))
    return create_app(
        engine,
        settings=SETTINGS,
        tokens=TOKENS,
        command_sender=sender,
        clock=clock,
        logger=LOG,
        public_url=PUBLIC_URL,
    )


async def owner_session(client: httpx.AsyncClient, phone: str, name: str = "Li Lei") -> dict[str, str]:
    """Sign up and log in; the bearer header of the new session."""
    signed = await client.post("/api/owners", json={"phone": phone, "name": name, "password": PASSWORD})
    assert signed.status_code == 201, signed.text
    login = await client.post("/api/owners/login", json={"phone": phone, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['token']}"}


async def provision(
    client: httpx.AsyncClient, serial: int, *, name: str = "", plate: str | None = None, code: str = "BIND1234"
) -> str:
    number = imei(serial)
    body: dict[str, Any] = {"imei": number, "name": name, "bind_code": code}
    if plate is not None:
        body["plate"] = plate
    response = await client.post("/api/trackers", headers=OPERATOR, json=body)
    assert response.status_code == 201, response.text
    return number


async def claimed(
    client: httpx.AsyncClient, owner: dict[str, str], serial: int, *, name: str = "my bike", plate: str = "京A12345"
) -> str:
    number = await provision(client, serial)
    response = await client.post(
        "/api/my/bikes", headers=owner, json={"imei": number, "bind_code": "BIND1234", "name": name, "plate": plate}
    )
    assert response.status_code == 201, response.text
    return number


async def add_positions(engine: AsyncEngine, number: str, rows: list[dict[str, Any]]) -> None:
    """Positions as central's tracker ingest stores them (each row may override any column)."""
    values = []
    for index, row in enumerate(rows):
        fix_time = row.get("fix_time", T0 + timedelta(seconds=10 * index))
        values.append(
            {
                "imei": number,
                "site": GATEWAY,
                "seq": row.get("seq", 1000 + index),
                "fix_time": fix_time,
                "rx": row.get("rx", fix_time),
                "stored_at": row.get("stored_at", fix_time),
                "source": row.get("source", "gps"),
                "approximate": row.get("approximate", False),
                "valid": row.get("valid", True),
                "archived": row.get("archived", False),
                "lat": row.get("lat", 39.9 + index * 1e-4),
                "lon": row.get("lon", 116.4 + index * 1e-4),
                "speed_kmh": row.get("speed_kmh", 12.5),
                "course": row.get("course", 90.0),
                "satellites": row.get("satellites", 8),
                "cell": row.get("cell"),
                "filtered": row.get("filtered"),
            }
        )
    async with engine.begin() as connection:
        await connection.execute(insert(positions), values)


async def reported(engine: AsyncEngine, number: str, **columns: Any) -> None:
    """The tracker row as central's tracker ingest leaves it after reports through the gateway."""
    async with engine.begin() as connection:
        await connection.execute(
            update(trackers).where(trackers.c.imei == number).values(site=GATEWAY, last_seen_at=T0, **columns)
        )
