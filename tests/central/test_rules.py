"""Alarm rules: which readings dispatch, to whom, how urgently; repeats fold; on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from central.dispatch.repository import DispatchConflict, apply_action, list_dispatches, transitions_of
from central.dispatch.states import Action, ActionRequest, IncidentClass, Outcome, State
from central.model import StoredReading
from central.rules import AlarmRules, decide
from central.rules_settings import RoleRecipients, RulesSettings, unknown_recipients
from central.store.readings import insert_readings
from central.store.schema import sites, webhook_outbox
from shaobing.envelope import Envelope, Kind

T0 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
SETTINGS = RulesSettings(
    escalate_after=120,
    recipients=RoleRecipients(security=["guards"], police=["police-110"], fire=["fire-119"], medical=["ems-120"]),
    zones_24h={"shop-1": ["9"]},
)


def alarm(site: str, seq: int, kind: Kind = Kind.ALARM, /, **data: Any) -> Envelope:
    return Envelope(site=site, seq=seq, device="panel", kind=kind, ts=T0, rx=T0, priority=1, data=data)


async def set_site(engine: AsyncEngine, site: str, armed: bool | None) -> None:
    async with engine.begin() as connection:
        exists = (await connection.execute(select(sites.c.id).where(sites.c.id == site))).first()
        if exists is None:
            await connection.execute(insert(sites).values(id=site, armed=armed))
        else:
            await connection.execute(update(sites).where(sites.c.id == site).values(armed=armed))


async def store(engine: AsyncEngine, rules: AlarmRules, *envelopes: Envelope, at: datetime = T0) -> list[StoredReading]:
    async with engine.begin() as connection:
        stored = await insert_readings(connection, list(envelopes), stored_at=at)
        await rules.on_stored(connection, stored)
    await rules.after_commit(stored)
    return stored


def make_rules(settings: RulesSettings = SETTINGS) -> tuple[AlarmRules, list[int]]:
    wakes: list[int] = []
    return AlarmRules(settings, logger=logging.getLogger("test.rules"), wake_sender=lambda: wakes.append(1)), wakes


# ---- the pure decision -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "site_armed", "roles", "now", "timer"),
    [
        ({"class": "burglary", "qualifier": "new"}, True, ("security",), False, True),
        ({"class": "burglary"}, None, ("security",), False, True),  # unknown arming: fail safe
        ({"class": "intrusion", "qualifier": "repeat"}, True, ("security",), False, True),
        ({"class": "forced_door"}, True, ("security",), False, True),
        ({"class": "tamper"}, True, ("security",), False, True),
        ({"class": "panic"}, False, ("security", "police"), True, False),
        ({"class": "duress"}, False, ("security", "police"), True, False),
        ({"class": "holdup"}, True, ("security", "police"), True, False),
        ({"class": "sos"}, None, ("security", "police"), True, False),
        ({"class": "fire"}, False, ("fire",), False, False),
        ({"class": "medical"}, False, ("medical",), False, False),
        ({"class": "burglary", "24h": True}, False, ("security",), False, True),
        ({"class": "burglary", "zone": 9}, False, ("security",), False, True),  # listed 24-hour zone of shop-1
        ({"class": "held_door"}, True, ("security",), False, False),
        ({}, True, ("security",), False, True),  # no class: a generic alarm
    ],
)
def test_alarms_that_dispatch(
    data: dict[str, Any], site_armed: bool | None, roles: tuple[str, ...], now: bool, timer: bool
) -> None:
    decision = decide(alarm("shop-1", 1, **data), site_armed, SETTINGS)
    assert decision is not None
    assert (decision.roles, decision.escalate_now, decision.timer) == (roles, now, timer)


@pytest.mark.parametrize(
    ("kind", "data", "site_armed"),
    [
        (Kind.ALARM, {"class": "burglary", "qualifier": "restore"}, True),
        (Kind.ALARM, {"class": "panic", "qualifier": "restore"}, True),
        (Kind.ALARM, {"class": "burglary", "qualifier": "cancel"}, True),
        (Kind.ALARM, {"class": "burglary", "qualifier": 3}, True),
        (Kind.ALARM, {"class": "burglary"}, False),
        (Kind.ALARM, {"class": "burglary", "zone": "8"}, False),  # not a 24-hour zone
        (Kind.ALARM, {"class": "burglary", "24h": "yes"}, False),  # only a real true counts
        (Kind.ALARM, {"class": "burglary", "site_armed": False}, True),  # the edge's stamp wins
        (Kind.TROUBLE, {"class": "ac_loss"}, True),
        (Kind.ARMING, {"state": "armed"}, True),
        (Kind.TEST, {}, True),
        (Kind.DOOR, {"door": "1", "state": "forced"}, True),
    ],
)
def test_readings_that_do_not_dispatch(kind: Kind, data: dict[str, Any], site_armed: bool | None) -> None:
    assert decide(alarm("shop-1", 1, kind, **data), site_armed, SETTINGS) is None


def test_the_edge_stamp_of_armed_overrides_the_site_table() -> None:
    assert decide(alarm("shop-1", 1, **{"class": "burglary", "site_armed": True}), False, SETTINGS) is not None


def test_life_safety_comes_before_burglary() -> None:
    panic = decide(alarm("s", 1, **{"class": "panic"}), True, SETTINGS)
    fire = decide(alarm("s", 1, **{"class": "fire"}), True, SETTINGS)
    burglary = decide(alarm("s", 1, **{"class": "burglary"}), True, SETTINGS)
    assert panic and fire and burglary
    assert panic.priority == fire.priority < burglary.priority


def test_settings_are_closed_and_checked() -> None:
    with pytest.raises(ValueError, match="extra"):
        RulesSettings.model_validate({"escalate_afterr": 5})
    with pytest.raises(ValueError, match="greater than 0"):
        RulesSettings.model_validate({"escalate_after": 0})
    with pytest.raises(ValueError, match="not a valid site id"):
        RulesSettings.model_validate({"zones_24h": {"../etc": ["1"]}})
    assert unknown_recipients(SETTINGS, {"guards", "police-110"}) == {"fire-119", "ems-120"}


# ---- against the database ----------------------------------------------------------------------------------------


async def outbox(engine: AsyncEngine) -> list[tuple[str, str, int]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(webhook_outbox.c.recipient, webhook_outbox.c.event, webhook_outbox.c.dispatch_id).order_by(
                webhook_outbox.c.id
            )
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def test_burglary_at_an_armed_site_raises_a_dispatch_to_the_security_company(engine: AsyncEngine) -> None:
    rules, wakes = make_rules()
    await set_site(engine, "shop-1", True)
    stored = await store(engine, rules, alarm("shop-1", 1, **{"class": "burglary", "zone": 3, "partition": 1}))
    async with engine.connect() as connection:
        [dispatch] = await list_dispatches(connection)
        trail = await transitions_of(connection, dispatch.id)
    assert dispatch.reading_id == stored[0].id
    assert (dispatch.state, dispatch.alarm_class, dispatch.zone, dispatch.partition) == (
        State.RAISED,
        "burglary",
        "3",
        "1",
    )
    assert dispatch.recipients == ["guards"]
    assert dispatch.escalated_at is None
    assert dispatch.escalate_at == T0 + timedelta(seconds=120)
    assert [(t.action, t.from_state, t.to_state, t.actor) for t in trail] == [("raise", None, "raised", "rule")]
    assert await outbox(engine) == [("guards", "dispatch.raised", dispatch.id)]
    assert wakes == [1]


async def test_burglary_at_a_disarmed_site_is_recorded_not_dispatched(engine: AsyncEngine) -> None:
    rules, _ = make_rules()
    await set_site(engine, "shop-1", False)
    stored = await store(engine, rules, alarm("shop-1", 1, **{"class": "burglary", "zone": 3}))
    assert len(stored) == 1
    async with engine.connect() as connection:
        assert await list_dispatches(connection) == []
    assert await outbox(engine) == []


async def test_unknown_site_state_counts_as_armed(engine: AsyncEngine) -> None:
    rules, _ = make_rules()
    await store(engine, rules, alarm("shop-new", 1, **{"class": "burglary"}))
    async with engine.connect() as connection:
        assert len(await list_dispatches(connection)) == 1


async def test_24_hour_zone_and_panic_dispatch_at_a_disarmed_site(engine: AsyncEngine) -> None:
    rules, _ = make_rules()
    await set_site(engine, "shop-1", False)
    await store(
        engine,
        rules,
        alarm("shop-1", 1, **{"class": "burglary", "zone": "9"}),
        alarm("shop-1", 2, **{"class": "panic", "zone": "1", "user": 4}),
        alarm("shop-1", 3, **{"class": "fire", "zone": "7"}),
    )
    async with engine.connect() as connection:
        found = await list_dispatches(connection)
        panic = next(d for d in found if d.alarm_class == "panic")
        trail = await transitions_of(connection, panic.id)
    assert [d.alarm_class for d in found] == ["panic", "fire", "burglary"]  # priority first
    assert panic.escalation_reason == "panic" and panic.escalated_at == T0
    assert panic.escalate_at is None
    assert panic.recipients == ["guards", "police-110"]
    assert [(t.action, t.detail.get("reason")) for t in trail] == [("raise", None), ("escalate", "panic")]
    sent = await outbox(engine)
    assert ("police-110", "dispatch.raised", panic.id) in sent
    assert ("fire-119", "dispatch.raised", next(d.id for d in found if d.alarm_class == "fire")) in sent


async def test_repeats_fold_into_the_open_dispatch(engine: AsyncEngine) -> None:
    rules, _ = make_rules()
    await set_site(engine, "shop-1", True)
    await store(engine, rules, alarm("shop-1", 1, **{"class": "burglary", "zone": 3, "qualifier": "new"}))
    await store(
        engine,
        rules,
        alarm("shop-1", 2, **{"class": "burglary", "zone": 3, "qualifier": "repeat"}),
        alarm("shop-1", 3, **{"class": "burglary", "zone": "3"}),
        alarm("shop-1", 4, **{"class": "burglary", "zone": 4}),  # another zone: its own dispatch
    )
    # A re-sent reading is not stored twice, so it is no occurrence either.
    await store(engine, rules, alarm("shop-1", 2, **{"class": "burglary", "zone": 3, "qualifier": "repeat"}))
    async with engine.connect() as connection:
        found = await list_dispatches(connection)
        zone3 = next(d for d in found if d.zone == "3")
        trail = await transitions_of(connection, zone3.id)
    assert len(found) == 2
    assert zone3.occurrences == 3
    assert [t.action for t in trail] == ["raise", "repeat", "repeat"]


async def test_a_new_alarm_after_resolution_opens_a_new_dispatch(engine: AsyncEngine) -> None:
    rules, _ = make_rules()
    await set_site(engine, "shop-1", True)
    await store(engine, rules, alarm("shop-1", 1, **{"class": "burglary", "zone": 3}))
    async with engine.begin() as connection:
        [first] = await list_dispatches(connection)
        await apply_action(
            connection,
            first.id,
            ActionRequest(Action.RESOLVE, outcome=Outcome.FALSE, incident_class=IncidentClass.NONE),
            actor="alice",
            at=T0 + timedelta(seconds=30),
            police=["police-110"],
        )
    await store(engine, rules, alarm("shop-1", 2, **{"class": "burglary", "zone": 3}), at=T0 + timedelta(minutes=5))
    async with engine.connect() as connection:
        found = await list_dispatches(connection)
    assert sorted(d.state for d in found) == [State.RAISED, State.RESOLVED]


async def test_restores_troubles_and_arming_touch_no_dispatch(engine: AsyncEngine) -> None:
    rules, _ = make_rules()
    await set_site(engine, "shop-1", True)
    await store(
        engine,
        rules,
        alarm("shop-1", 1, **{"class": "burglary", "qualifier": "restore"}),
        alarm("shop-1", 2, Kind.TROUBLE, **{"class": "ac_loss"}),
        alarm("shop-1", 3, Kind.ARMING, state="disarmed", user=1),
        alarm("shop-1", 4, Kind.TEST),
    )
    async with engine.connect() as connection:
        count = (await connection.execute(select(func.count()).select_from(webhook_outbox))).scalar_one()
        assert await list_dispatches(connection) == []
    assert count == 0


async def test_a_dispatch_without_configured_recipients_still_queues(engine: AsyncEngine) -> None:
    rules, _ = make_rules(RulesSettings())
    await store(engine, rules, alarm("shop-1", 1, **{"class": "medical"}))
    async with engine.connect() as connection:
        [dispatch] = await list_dispatches(connection)
    assert dispatch.recipients == []
    assert await outbox(engine) == []


def test_conflict_error_keeps_its_reason() -> None:
    assert DispatchConflict("raced").reason == "raced"


async def test_a_burglary_the_panel_verified_goes_to_110_at_once_as_confirmed(engine: AsyncEngine) -> None:
    rules, _ = make_rules()
    await set_site(engine, "shop-1", True)
    await store(engine, rules, alarm("shop-1", 1, **{"class": "burglary", "zone": 2, "verified": True}),
                alarm("shop-1", 2, **{"class": "burglary", "zone": 5}))
    async with engine.connect() as connection:
        found = {d.zone: d for d in await list_dispatches(connection)}
    verified, plain = found["2"], found["5"]
    assert (verified.escalation_reason, verified.escalated_at, verified.escalate_at) == ("confirmed", T0, None)
    assert verified.recipients == ["guards", "police-110"]
    assert (plain.escalation_reason, plain.escalate_at) == (None, T0 + timedelta(seconds=120))
    assert plain.recipients == ["guards"]


async def test_a_verified_burglary_at_a_disarmed_site_is_still_only_recorded(engine: AsyncEngine) -> None:
    rules, _ = make_rules()
    await set_site(engine, "shop-1", False)
    await store(engine, rules, alarm("shop-1", 1, **{"class": "burglary", "zone": 2, "verified": True}))
    async with engine.connect() as connection:
        assert await list_dispatches(connection) == []
