"""People and places on both stores: the API through its ASGI app, readings through the real batch store with the
service's hook chain, a movable clock, a command sender that records what it was handed."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.api.app import create_app
from central.ingest_batch import BatchOutcome, BatchStore
from central.people.hook import PeopleHook
from central.people.settings import PeopleSettings
from central.rules_settings import RoleRecipients, RulesSettings
from central.service import after_commit_chain, stored_chain
from central.store.schema import readings, sites
from drivers.idcard.gb11643 import check_character as check_char
from shaobing import topics
from shaobing.access_list import private_key_text
from shaobing.envelope import DEFAULT_PRIORITY, Envelope, Kind
from tests.central.app_kit import Clock as Clock
from tests.central.app_kit import RecordingSender as RecordingSender
from tests.central.app_kit import assert_detail as assert_detail
from tests.central.app_kit import client_fixture as client_fixture
from tests.central.app_kit import sender_fixture as sender_fixture
from tests.central.readings_factory import Message

T0 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
RULES = RulesSettings(recipients=RoleRecipients(security=["guards"], police=["police-110"]))
SIGNING_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
WATCH_KEY = "test-watchlist-key-0001"
PEOPLE = PeopleSettings(watchlist_key=WATCH_KEY, access_list_key=private_key_text(SIGNING_KEY),
                        underground_limits={"mine-1": 2}, key_person_absent_s=3600)
TOKENS = {
    "operator-token-alice-0001": ("alice", "operator"),
    "viewer-token-vic-00000003": ("vic", "viewer"),
    "supervisor-token-sue-0005": ("sue", "supervisor"),
    "admin-token-ann-000000004": ("ann", "admin"),
    "police-token-pat-00000006": ("pat", "police"),
}
OPERATOR = {"Authorization": "Bearer operator-token-alice-0001"}
VIEWER = {"Authorization": "Bearer viewer-token-vic-00000003"}
SUPERVISOR = {"Authorization": "Bearer supervisor-token-sue-0005"}
ADMIN = {"Authorization": "Bearer admin-token-ann-000000004"}
POLICE = {"Authorization": "Bearer police-token-pat-00000006"}
EVERY_ROLE = {"operator": OPERATOR, "viewer": VIEWER, "supervisor": SUPERVISOR, "admin": ADMIN, "police": POLICE}
LOG = logging.getLogger("test.people")
RENTAL = "rental-1"
MINE = "mine-1"


def id_number(serial: int, *, region: str = "110101", born: str = "19900307") -> str:
    """A GB 11643-valid ID number: region, birth date, a 3-digit serial and the check character."""
    first17 = f"{region}{born}{serial % 1000:03d}"
    return first17 + check_char(first17)


class Site:
    """A site's readings into central as the ingest stores them, with the people hook after the alarm rules."""

    def __init__(self, engine: AsyncEngine, site: str, settings: PeopleSettings = PEOPLE) -> None:
        self.engine = engine
        self.site = site
        self.seq = 0
        self.wakes = 0
        self.hook = PeopleHook(settings, police=RULES.recipients.police, security=RULES.recipients.security,
                               logger=LOG, wake_sender=self._wake)
        self.store = BatchStore(on_stored=stored_chain([self.hook.on_stored]))
        self.after_commit = after_commit_chain([self.hook.after_commit])

    def _wake(self) -> None:
        self.wakes += 1

    def reading(self, kind: Kind, data: dict[str, Any], *, at: datetime | None = None) -> Envelope:
        self.seq += 1
        moment = at or T0 + timedelta(seconds=self.seq)
        return Envelope(site=self.site, seq=self.seq, device="reader-1", kind=kind, ts=moment, rx=moment,
                        priority=int(DEFAULT_PRIORITY[kind]), data=data)

    def id_read(self, number: str, name: str = "张三丰", **extra: Any) -> Envelope:
        data = {"id_number": number, "name": name, "gender": "男", "nation": "汉", "birth_date": "1990-03-07",
                "address": "北京市东城区某街1号", "authority": "北京市公安局东城分局", "valid_from": "2020-01-01",
                "valid_to": "2040-01-01", "card_type": "resident", "id_number_valid": True,
                "service_point": "counter-1", "reader": "idr-1"} | extra
        return self.reading(Kind.ID_READ, data)

    def swipe(self, card: str, door: str, *, granted: bool = True, at: datetime | None = None,
              **extra: Any) -> Envelope:
        data = {"card": card, "reader": f"rd-{door}", "door": door, "decision": "granted" if granted else "denied",
                "reason": "listed" if granted else "unknown_card"} | extra
        return self.reading(Kind.CARD_SWIPE, data, at=at)

    async def send(self, envelopes: Iterable[Envelope], *, now: datetime | None = None) -> BatchOutcome:
        batch = list(envelopes)
        messages = [Message(topics.event(e.site, e.kind), e.to_json()) for e in batch]
        moment = now or max(e.rx for e in batch) + timedelta(milliseconds=200)
        async with self.engine.begin() as connection:
            outcome = await self.store.process(connection, messages, now=moment)
        await self.after_commit(outcome.stored)
        assert not outcome.rejected, outcome.rejected
        return outcome

    async def reading_id(self, seq: int) -> int:
        async with self.engine.connect() as connection:
            found = (await connection.execute(select(readings.c.id).where(
                readings.c.site == self.site, readings.c.seq == seq))).scalar_one()
        return int(found)


async def add_site(engine: AsyncEngine, site: str, kind: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(sites).values(id=site, name=site, kind=kind))


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + timedelta(hours=1))


@pytest.fixture
async def app(engine: AsyncEngine, sender: RecordingSender, clock: Clock) -> FastAPI:
    await add_site(engine, RENTAL, "rental")
    await add_site(engine, MINE, "mine")
    return create_app(engine, settings=RULES, tokens=TOKENS, command_sender=sender, clock=clock, logger=LOG,
                      people=PEOPLE)


@pytest.fixture
def rental(engine: AsyncEngine) -> Site:
    return Site(engine, RENTAL)


@pytest.fixture
def mine(engine: AsyncEngine) -> Site:
    return Site(engine, MINE)


def csv_of(rows: Iterable[tuple[str, str, str, str]], *, bom: bool = False) -> bytes:
    text = "id_number,name,reason,case_ref\n" + "".join(",".join(row) + "\n" for row in rows)
    return ("\ufeff" if bom else "").encode() + text.encode()


async def import_csv(client: httpx.AsyncClient, body: bytes, **params: str) -> httpx.Response:
    return await client.post("/api/watchlist/import", content=body, params=params,
                             headers=POLICE | {"Content-Type": "text/csv"})
