"""What the console's API tests share: staff users with known passwords, an action plan for burglaries, dispatches
raised through the real repository (a watch-list hit among them), and the app over a live feed that is woken on every
commit, as central's service wires it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from central.api.app import create_app
from central.api.owner_auth import OwnersSettings, hash_password
from central.console.live import LiveFeed
from central.console.settings import ConsoleSettings
from central.dispatch.repository import Dispatch, NewDispatch, raise_dispatch
from central.people.hits import ALARM_CLASS as WATCHLIST_CLASS
from central.people.hits import STAFF_HIDDEN_CLASSES
from central.rules_settings import RoleRecipients, RulesSettings
from central.store.readings import insert_readings
from central.store.schema import sites
from shaobing.envelope import Envelope, Kind
from tests.central.app_kit import Clock

T0 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
LOG = logging.getLogger("test.console")
SETTINGS = RulesSettings(recipients=RoleRecipients(security=["guards"], police=["police-110"]))
FAST_SCRYPT = {"n": 2**10, "r": 8, "p": 1}  # test users only: the hash's cost travels with it
# Login -> (name, role, password).
USERS = {
    "op1": ("张伟", "operator", "op1-password"),
    "op2": ("李娜", "operator", "op2-password"),
    "sup1": ("王强", "supervisor", "sup1-password"),
    "viewer": ("刘洋", "viewer", "viewer-password"),
}
BURGLARY_PLAN = {
    "steps": [
        {"key": "call-keyholder", "text": "致电店主核实", "text_en": "Call the keyholder"},
        {"key": "check-camera", "text": "查看现场视频", "text_en": "Check the camera"},
    ],
    "calls": [{"name": "店主 陈先生", "phone": "13800000001", "note": "keyholder"}],
}
ACK_SLA = {"1": 30.0, "2": 45.0}
ACK_SLA_DEFAULT = 120.0
MAX_FAILURES = 3
LOCKOUT_S = 600.0
SESSION_TTL_S = 3600
IMEI = "861234560000018"
ID_NUMBER = "11010519491231002X"


def console_settings(logins: tuple[str, ...] = tuple(USERS)) -> ConsoleSettings:
    users = [{"login": login, "name": USERS[login][0], "role": USERS[login][1],
              "password_hash": hash_password(USERS[login][2], **FAST_SCRYPT)} for login in logins]
    return ConsoleSettings.model_validate({
        "users": users, "plans": {"burglary": BURGLARY_PLAN}, "session_ttl_s": SESSION_TTL_S,
        "ack_sla_s": ACK_SLA, "ack_sla_default_s": ACK_SLA_DEFAULT,
    })


OWNERS = OwnersSettings(max_failures=MAX_FAILURES, lockout_s=LOCKOUT_S, scrypt_n=FAST_SCRYPT["n"])


def build_app(engine: AsyncEngine, clock: Clock, console: ConsoleSettings | None = None,
              feed: LiveFeed | None = None) -> FastAPI:
    """The API as the service builds it: the live feed woken after every commit of the API."""
    feed = feed or LiveFeed(engine, hidden_classes=STAFF_HIDDEN_CLASSES, idle_s=0.2, logger=LOG)
    return create_app(engine, settings=SETTINGS, tokens={}, command_sender=_NoCommands(), clock=clock, logger=LOG,
                      owners=OWNERS, console=console or console_settings(), live=feed, on_commit=feed.wake)


class _NoCommands:
    async def send(self, site: str, payload: dict[str, Any]) -> None:
        raise AssertionError(f"no command is sent by the console's routes ({site}, {payload})")


class Seeder:
    """Sites, readings and dispatches written with the store's own functions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._seq: dict[str, int] = {}

    async def site(self, site_id: str, **columns: Any) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(insert(sites).values(id=site_id, name=columns.pop("name", site_id), **columns))

    async def reading(self, site: str, kind: Kind, data: dict[str, Any], at: datetime,
                      device: str = "panel") -> int:
        self._seq[site] = seq = self._seq.get(site, 0) + 1
        envelope = Envelope(site=site, seq=seq, device=device, kind=kind, ts=at, rx=at, priority=1, data=data)
        async with self.engine.begin() as connection:
            [stored] = await insert_readings(connection, [envelope], stored_at=at)
        return stored.id

    async def dispatch(self, site: str, alarm_class: str, *, zone: str | None, priority: int, at: datetime,
                       data: dict[str, Any] | None = None) -> Dispatch:
        """An alarm reading and the dispatch it raises."""
        reading_id = await self.reading(site, Kind.ALARM, {"class": alarm_class, "zone": zone, **(data or {})}, at)
        new = NewDispatch(site=site, reading_id=reading_id, alarm_class=alarm_class, zone=zone, partition=None,
                          priority=priority, recipients=["guards"], escalate_at=None, escalation_reason=None)
        async with self.engine.begin() as connection:
            dispatch, created = await raise_dispatch(connection, new, at=at)
        assert created
        return dispatch

    async def watchlist_hit(self, site: str, at: datetime) -> Dispatch:
        return await self.dispatch(site, WATCHLIST_CLASS, zone=None, priority=1, at=at,
                                   data={"id_number": ID_NUMBER})


async def log_in(client: httpx.AsyncClient, login: str) -> dict[str, str]:
    """A console session for one of USERS; its bearer header."""
    response = await client.post("/api/staff/login", json={"login": login, "password": USERS[login][2]})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


