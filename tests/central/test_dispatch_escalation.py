"""The acknowledgement timer: raised and unacknowledged past the deadline -> escalated to 110 by "system"."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.dispatch.escalation import EscalationTimer
from central.dispatch.repository import apply_action, get, list_dispatches, transitions_of
from central.dispatch.states import Action, ActionRequest, State
from central.rules import AlarmRules
from central.rules_settings import RoleRecipients, RulesSettings
from central.store.readings import insert_readings
from central.store.schema import sites, webhook_outbox
from shaobing.clock import SystemClock
from shaobing.envelope import Envelope, Kind

T0 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
RECIPIENTS = RoleRecipients(security=["guards"], police=["police-110"])
LOG = logging.getLogger("test.escalation")


class SettableClock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return self.moment.timestamp()


def alarm(seq: int, alarm_class: str, zone: str) -> Envelope:
    data = {"class": alarm_class, "zone": zone}
    return Envelope(site="shop-1", seq=seq, device="panel", kind=Kind.ALARM, ts=T0, rx=T0, priority=1, data=data)


async def raise_alarms(engine: AsyncEngine, settings: RulesSettings, *envelopes: Envelope, at: datetime) -> None:
    rules = AlarmRules(settings, logger=LOG)
    async with engine.begin() as connection:
        if (await connection.execute(select(sites.c.id).where(sites.c.id == "shop-1"))).first() is None:
            await connection.execute(insert(sites).values(id="shop-1", armed=True))
        stored = await insert_readings(connection, list(envelopes), stored_at=at)
        await rules.on_stored(connection, stored)


async def test_unacknowledged_burglary_is_escalated_after_the_deadline(engine: AsyncEngine) -> None:
    settings = RulesSettings(escalate_after=120, recipients=RECIPIENTS)
    await raise_alarms(
        engine,
        settings,
        alarm(1, "burglary", "1"),  # left alone: escalates
        alarm(2, "burglary", "2"),  # acknowledged in time: does not
        alarm(3, "panic", "3"),  # already escalated at once: not again
        alarm(4, "held_door", "4"),  # no timer for it
        at=T0,
    )
    async with engine.connect() as connection:
        by_zone = {d.zone: d.id for d in await list_dispatches(connection)}
    async with engine.begin() as connection:
        await apply_action(
            connection,
            by_zone["2"],
            ActionRequest(Action.ACKNOWLEDGE),
            actor="alice",
            at=T0 + timedelta(seconds=60),
            police=["police-110"],
        )
    clock = SettableClock(T0 + timedelta(seconds=119))
    wakes: list[int] = []
    timer = EscalationTimer(engine, police=["police-110"], clock=clock, logger=LOG, on_commit=lambda: wakes.append(1))
    assert await timer.escalate_overdue() == []
    assert wakes == []

    clock.moment = T0 + timedelta(seconds=120)
    assert await timer.escalate_overdue() == [by_zone["1"]]
    assert wakes == [1]
    assert await timer.escalate_overdue() == []  # once only

    async with engine.connect() as connection:
        escalated = await get(connection, by_zone["1"])
        trail = await transitions_of(connection, by_zone["1"])
        acknowledged = await get(connection, by_zone["2"])
        events = (
            await connection.execute(
                select(webhook_outbox.c.recipient, webhook_outbox.c.event)
                .where(webhook_outbox.c.dispatch_id == by_zone["1"])
                .order_by(webhook_outbox.c.id)
            )
        ).all()
    assert escalated is not None and acknowledged is not None
    assert escalated.state is State.RAISED  # escalation is a flag, not a state
    assert (escalated.escalated_at, escalated.escalation_reason) == (clock.moment, "ack_timeout")
    assert escalated.recipients == ["guards", "police-110"]
    assert (trail[-1].action, trail[-1].actor, trail[-1].detail) == ("escalate", "system", {"reason": "ack_timeout"})
    assert acknowledged.escalated_at is None
    assert [tuple(row) for row in events] == [
        ("guards", "dispatch.raised"),
        ("guards", "dispatch.escalated"),
        ("police-110", "dispatch.escalated"),
    ]


async def test_the_timer_task_escalates_on_its_own(engine: AsyncEngine) -> None:
    clock = SystemClock()
    settings = RulesSettings(escalate_after=0.2, recipients=RECIPIENTS)
    await raise_alarms(engine, settings, alarm(1, "burglary", "1"), at=clock.now())
    timer = EscalationTimer(engine, police=["police-110"], clock=clock, logger=LOG, interval_s=0.05)
    task = asyncio.create_task(timer.run(), name="escalation")
    try:
        deadline = time.monotonic() + 10
        escalated = None
        while time.monotonic() < deadline:
            async with engine.connect() as connection:
                [dispatch] = await list_dispatches(connection)
            if dispatch.escalated_at is not None:
                escalated = dispatch
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert escalated is not None
    assert escalated.escalation_reason == "ack_timeout"
    assert escalated.escalated_at is not None and escalated.escalated_at >= escalated.raised_at + timedelta(seconds=0.2)
