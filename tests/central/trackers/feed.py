"""Tracker readings fed to central as the ingest does: MQTT-like messages through the real batch store
(central.ingest_batch.BatchStore) with the service's hook chain, one transaction per batch."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from central.dispatch.repository import Dispatch, list_dispatches
from central.ingest_batch import BatchOutcome, BatchStore
from central.rules import AlarmRules
from central.rules_settings import RoleRecipients, RulesSettings
from central.service import after_commit_chain, stored_chain
from central.store.schema import owners, positions, trackers, webhook_outbox
from central.trackers.batch import TrackerHook
from central.trackers.policy import TrackerPolicy, attach_policy
from central.trackers.settings import TrackerSettings
from central.webhooks.outbox import Delivery, list_deliveries
from shaobing import topics
from shaobing.envelope import DEFAULT_PRIORITY, Envelope, Kind
from tests.central.readings_factory import Message

T0 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
GATEWAY = "gw-1"
PUBLIC_URL = "https://alarm.example.com"
RULES = RulesSettings(
    escalate_after=120,
    recipients=RoleRecipients(security=["guards"], police=["police-110"], owners=["sms"]),
)
LOG = logging.getLogger("test.trackers")
# Futian, Shenzhen.
HOME_LAT, HOME_LON = 22.5431, 114.0579
CELL = {"mcc": 460, "mnc": 0, "lac": 9520, "cid": 3671}
METRES_PER_DEGREE = math.pi * 6_371_008.8 / 180


def imei(serial: int) -> str:
    """A Luhn-valid IMEI (TAC 86471700)."""
    body = f"86471700{serial:06d}"
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return body + str((10 - total % 10) % 10)


def offset(east_m: float, north_m: float, *, lat: float = HOME_LAT, lon: float = HOME_LON) -> tuple[float, float]:
    """The point `east_m` east and `north_m` north of (lat, lon)."""
    return (
        lat + north_m / METRES_PER_DEGREE,
        lon + east_m / (METRES_PER_DEGREE * math.cos(math.radians(lat))),
    )


class Gateway:
    """Readings of one tracker gateway, numbered as its edge numbers them."""

    def __init__(self, site: str = GATEWAY) -> None:
        self.site = site
        self.seq = 0

    def _envelope(self, imei_: str, kind: Kind, ts: datetime, data: dict[str, Any], rx: datetime | None) -> Envelope:
        self.seq += 1
        return Envelope(site=self.site, seq=self.seq, device=imei_, kind=kind, ts=ts, rx=rx or ts,
                        priority=int(DEFAULT_PRIORITY[kind]), data=data)

    def position(
        self,
        imei_: str,
        fix_time: datetime,
        lat: float | None = HOME_LAT,
        lon: float | None = HOME_LON,
        *,
        rx: datetime | None = None,
        **fields: Any,
    ) -> Envelope:
        data: dict[str, Any] = {
            "lat": lat, "lon": lon, "fix_time": fix_time.isoformat(), "valid": True, "satellites": 9,
            "speed_kmh": 0.0, "course": 0.0, "source": "gps", "approximate": False, "cell": CELL,
            "archived": False, "protocol": 0x22,
        }
        data.update(fields)
        return self._envelope(imei_, Kind.POSITION, fix_time, data, rx)

    def cell_report(self, imei_: str, fix_time: datetime, *, cell: dict[str, int] = CELL, **fields: Any) -> Envelope:
        data: dict[str, Any] = {
            "lat": None, "lon": None, "fix_time": fix_time.isoformat(), "valid": False, "source": "lbs",
            "approximate": True, "cell": cell, "archived": False, "protocol": 0x28,
        }
        data.update(fields)
        return self._envelope(imei_, Kind.POSITION, fix_time, data, None)

    def status(self, imei_: str, ts: datetime, *, rx: datetime | None = None, **fields: Any) -> Envelope:
        data: dict[str, Any] = {"voltage_level": 4, "gsm": 4, "charging": True, "acc": False, "armed": True}
        data.update(fields)
        return self._envelope(imei_, Kind.STATUS, ts, data, rx)

    def alarm(
        self, imei_: str, ts: datetime, alarm_class: str, lat: Any = HOME_LAT, lon: Any = HOME_LON, **fields: Any
    ) -> Envelope:
        """A tracker's alarm; `lat` and `lon` take anything, as hostile devices send anything."""
        data: dict[str, Any] = {
            "class": alarm_class, "source": "tracker", "zone": imei_, "code": 1, "qualifier": "new", "lat": lat,
            "lon": lon, "valid": True, "fix_time": ts.isoformat(), "cell": CELL,
        }
        data.update(fields)
        return self._envelope(imei_, Kind.ALARM, ts, data, None)


class Feed(Gateway):
    """A gateway's readings into central as the ingest stores them, with the service's hook chain."""

    def __init__(
        self, engine: AsyncEngine, *, settings: TrackerSettings | None = None, rules: RulesSettings = RULES,
        site: str = GATEWAY,
    ) -> None:
        super().__init__(site)
        self.engine = engine
        self.wakes = 0
        self.policy = TrackerPolicy.of(rules, settings or TrackerSettings(), public_url=PUBLIC_URL)
        attach_policy(engine, self.policy)
        self.hook = TrackerHook(self.policy, logger=LOG, wake_sender=self._wake)
        self.rules = AlarmRules(rules, logger=LOG, wake_sender=self._wake, device_armed=self.hook.armed_of,
                                on_dispatch=self.hook.alarm_dispatched)
        self.store = BatchStore(on_stored=stored_chain([self.hook.on_stored, self.rules.on_stored]))
        self.after_commit = after_commit_chain([self.hook.after_commit, self.rules.after_commit])

    def _wake(self) -> None:
        self.wakes += 1

    async def send(self, envelopes: Iterable[Envelope], *, now: datetime | None = None) -> BatchOutcome:
        """One batch, as the ingest runs it: one transaction, then the after-commit hooks."""
        batch = list(envelopes)
        messages = [Message(topics.event(e.site, e.kind), e.to_json()) for e in batch]
        moment = now or max((e.rx for e in batch), default=T0) + timedelta(milliseconds=200)
        async with self.engine.begin() as connection:
            outcome = await self.store.process(connection, messages, now=moment)
        await self.after_commit(outcome.stored)
        assert not outcome.rejected, outcome.rejected
        return outcome

    async def send_each(self, envelopes: Iterable[Envelope]) -> None:
        """Each reading in a batch of its own (a tracker reporting in real time)."""
        for envelope in envelopes:
            await self.send([envelope])


async def add_owner(engine: AsyncEngine, phone: str = "+8613812345678", name: str = "Li Lei") -> int:
    async with engine.begin() as connection:
        owner_id = (
            await connection.execute(
                insert(owners).values(phone=phone, name=name, password_hash="scrypt$unused", created_at=T0)
                .returning(owners.c.id)
            )
        ).scalar_one()
    return int(owner_id)


async def add_tracker(
    engine: AsyncEngine, number: str, *, owner_id: int | None = None, name: str = "小蓝", plate: str | None = "京A12345"
) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(trackers).values(imei=number, name=name, plate=plate, owner_id=owner_id, created_at=T0,
                                    updated_at=T0)
        )


async def tracker(engine: AsyncEngine, number: str) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(select(trackers).where(trackers.c.imei == number))).one()


async def position_rows(engine: AsyncEngine, number: str) -> list[Any]:
    async with engine.connect() as connection:
        query = select(positions).where(positions.c.imei == number).order_by(positions.c.fix_time, positions.c.id)
        return list((await connection.execute(query)).all())


async def dispatches_of(engine: AsyncEngine) -> list[Dispatch]:
    async with engine.connect() as connection:
        return await list_dispatches(connection)


async def deliveries(engine: AsyncEngine, recipient: str) -> list[Delivery]:
    async with engine.connect() as connection:
        return await list_deliveries(connection, statuses=("pending",), recipient=recipient, limit=10_000)


async def outbox_events(engine: AsyncEngine, recipient: str) -> list[str]:
    async with engine.connect() as connection:
        query = select(webhook_outbox.c.event).where(webhook_outbox.c.recipient == recipient)
        return list((await connection.execute(query.order_by(webhook_outbox.c.id))).scalars())


async def set_columns(engine: AsyncEngine, number: str, **values: Any) -> None:
    async with engine.begin() as connection:
        await connection.execute(update(trackers).where(trackers.c.imei == number).values(**values))
