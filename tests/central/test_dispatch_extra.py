"""A caller's own objects in the webhooks a dispatch step writes (`extra`): raised, folded as a repeat, acted on;
and the extension bound to the engine that gives them for steps whose caller gave none."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central.dispatch.repository import (
    Dispatch,
    NewDispatch,
    apply_action,
    extend_payloads,
    fold_repeat,
    raise_dispatch,
)
from central.dispatch.states import Action, ActionRequest
from central.store.readings import insert_readings
from central.store.schema import webhook_outbox
from shaobing.envelope import Envelope, Kind
from tests.central.test_dispatch import POLICE, T0, deliveries, new_dispatch


def burglary(reading_id: int) -> NewDispatch:
    return NewDispatch(site="shop-1", reading_id=reading_id, alarm_class="burglary", zone="3", partition="1",
                       priority=3, recipients=["guards"], escalate_at=None, escalation_reason=None)


async def test_extra_objects_reach_every_delivery_of_the_step_that_carries_them(engine: AsyncEngine) -> None:
    dispatch_id = await new_dispatch(engine)  # raised without extra
    repeat = Envelope(site="shop-1", seq=2, device="panel", kind=Kind.ALARM, ts=T0, rx=T0, priority=1,
                      data={"class": "burglary"})
    async with engine.begin() as connection:
        [stored] = await insert_readings(connection, [repeat], stored_at=T0)
        folded, created = await raise_dispatch(connection, burglary(stored.id), at=T0, extra={"bike": {"n": 1}})
        assert (folded.id, created) == (dispatch_id, False)
        await apply_action(connection, dispatch_id, ActionRequest(Action.ESCALATE, note="now"), actor="alice",
                           at=T0 + timedelta(seconds=5), police=POLICE, extra={"bike": {"n": 2}})
        await apply_action(connection, dispatch_id, ActionRequest(Action.ACKNOWLEDGE), actor="alice",
                           at=T0 + timedelta(seconds=6), police=POLICE)
    rows = await deliveries(engine, dispatch_id)
    assert [(recipient, payload.get("bike")) for recipient, _, payload in rows] == [
        ("guards", None),  # the raise
        ("guards", {"n": 1}),  # the repeat
        ("guards", {"n": 2}),  # the escalation, to everyone it goes to
        ("police-110", {"n": 2}),
        ("guards", None),  # a later step without extra
        ("police-110", None),
    ]
    # The standard payload is all there beside it.
    assert all({"event", "action", "dispatch", "site", "reading"} <= set(payload) for _, _, payload in rows)


async def test_a_new_dispatch_and_a_direct_fold_carry_extra_too(engine: AsyncEngine) -> None:
    dispatch_id = await new_dispatch(engine, zone="9")
    async with engine.begin() as connection:
        folded = await fold_repeat(connection, "shop-1|burglary|9", reading_id=1, at=T0, extra={"bike": "b"})
        assert folded is not None and folded.id == dispatch_id
        raised, created = await raise_dispatch(connection, burglary(1), at=T0, extra={"bike": "a"})
        assert created
        payloads = (
            await connection.execute(
                select(webhook_outbox.c.dispatch_id, webhook_outbox.c.payload).order_by(webhook_outbox.c.id)
            )
        ).all()
    assert [(row.dispatch_id, row.payload.get("bike")) for row in payloads] == [
        (dispatch_id, None), (dispatch_id, "b"), (raised.id, "a")
    ]


async def test_an_extension_bound_to_the_engine_fills_in_for_callers_that_give_nothing(engine: AsyncEngine) -> None:
    seen: list[str] = []

    async def extension(connection: AsyncConnection, dispatch: Dispatch) -> dict[str, Any] | None:
        seen.append(dispatch.alarm_class)
        return {"bike": f"zone {dispatch.zone}"} if dispatch.zone == "3" else None

    extend_payloads(engine, extension)
    dispatch_id = await new_dispatch(engine)  # zone 3
    other_id = await new_dispatch(engine, seq=2, zone="4")
    async with engine.begin() as connection:
        await apply_action(connection, dispatch_id, ActionRequest(Action.ACKNOWLEDGE), actor="alice",
                           at=T0 + timedelta(seconds=5), police=POLICE, extra={"bike": "given"})
    raised, acknowledged = await deliveries(engine, dispatch_id)
    assert (raised[2]["bike"], acknowledged[2]["bike"]) == ("zone 3", "given")  # a caller's own extra wins
    [other] = await deliveries(engine, other_id)
    assert "bike" not in other[2]
    assert seen == ["burglary", "burglary"]
