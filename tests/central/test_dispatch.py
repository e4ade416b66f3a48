"""The dispatch state machine (pure), and the repository: audit trail, step times, webhooks, optimistic concurrency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central.dispatch.repository import (
    Dispatch,
    DispatchConflict,
    DispatchNotFound,
    NewDispatch,
    apply_action,
    get,
    in_transaction,
    raise_dispatch,
    response_times,
    transitions_of,
)
from central.dispatch.states import (
    Action,
    ActionError,
    ActionRequest,
    EscalationReason,
    Event,
    IncidentClass,
    MissingDetail,
    NotAllowed,
    Outcome,
    State,
    plan,
)
from central.store.readings import insert_readings
from central.store.schema import sites, webhook_outbox
from shaobing.envelope import Envelope, Kind

T0 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
POLICE = ["police-110"]
RESOLVE = ActionRequest(Action.RESOLVE, outcome=Outcome.REAL, incident_class=IncidentClass.CRIMINAL)


# ---- pure state machine ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "request_", "to_state", "actions"),
    [
        (State.RAISED, ActionRequest(Action.ACKNOWLEDGE), State.ACKNOWLEDGED, ["acknowledge"]),
        (
            State.RAISED,
            ActionRequest(Action.ASSIGN_GUARD, guard="Wang"),
            State.GUARD_ASSIGNED,
            ["acknowledge", "assign_guard"],
        ),
        (State.ACKNOWLEDGED, ActionRequest(Action.ASSIGN_GUARD, guard="Wang"), State.GUARD_ASSIGNED, ["assign_guard"]),
        (State.GUARD_ASSIGNED, ActionRequest(Action.ON_SCENE), State.ON_SCENE, ["on_scene"]),
        (State.ON_SCENE, RESOLVE, State.RESOLVED, ["resolve"]),
        (State.RAISED, RESOLVE, State.RESOLVED, ["acknowledge", "resolve"]),
        (State.ACKNOWLEDGED, ActionRequest(Action.CANCEL), State.RESOLVED, ["resolve"]),
        (State.ON_SCENE, ActionRequest(Action.CONFIRM), State.ON_SCENE, ["confirm", "escalate"]),
        (State.ACKNOWLEDGED, ActionRequest(Action.ESCALATE), State.ACKNOWLEDGED, ["escalate"]),
    ],
)
def test_allowed_actions(state: State, request_: ActionRequest, to_state: State, actions: list[str]) -> None:
    step_plan = plan(state, False, request_)
    assert step_plan.to_state is to_state
    assert [step.action for step in step_plan.steps] == actions
    # The trail is a chain: each step starts where the one before ended.
    assert step_plan.steps[0].from_state is state
    for before, after in zip(step_plan.steps, step_plan.steps[1:], strict=False):
        assert after.from_state is before.to_state


@pytest.mark.parametrize(
    ("state", "escalated", "request_", "error", "words"),
    [
        (State.ACKNOWLEDGED, False, ActionRequest(Action.ACKNOWLEDGE), NotAllowed, "already acknowledged"),
        (State.RAISED, False, ActionRequest(Action.ON_SCENE), NotAllowed, "not guard_assigned"),
        (State.ON_SCENE, False, ActionRequest(Action.ASSIGN_GUARD, guard="W"), NotAllowed, "already on_scene"),
        (State.RAISED, False, ActionRequest(Action.ASSIGN_GUARD), MissingDetail, "guard's name"),
        (State.RAISED, True, ActionRequest(Action.ESCALATE), NotAllowed, "already been escalated"),
        (State.RESOLVED, False, ActionRequest(Action.CONFIRM), NotAllowed, "already resolved"),
        (State.RESOLVED, False, RESOLVE, NotAllowed, "already resolved"),
        (State.ON_SCENE, False, ActionRequest(Action.RESOLVE, outcome=Outcome.FALSE), MissingDetail, "incident_class"),
        (
            State.ON_SCENE,
            False,
            ActionRequest(Action.RESOLVE, incident_class=IncidentClass.NONE),
            MissingDetail,
            "outcome",
        ),
    ],
)
def test_refused_actions_say_why(
    state: State, escalated: bool, request_: ActionRequest, error: type[ActionError], words: str
) -> None:
    with pytest.raises(error, match=words):
        plan(state, escalated, request_)


def test_confirming_escalates_only_once() -> None:
    first = plan(State.ON_SCENE, False, ActionRequest(Action.CONFIRM))
    again = plan(State.ON_SCENE, True, ActionRequest(Action.CONFIRM))
    assert (first.escalation, first.event) == (EscalationReason.CONFIRMED, Event.ESCALATED)
    assert (again.escalation, again.event) == (None, Event.UPDATED)


def test_cancel_is_a_resolve_cancelled_by_user() -> None:
    step_plan = plan(State.RAISED, False, ActionRequest(Action.CANCEL, note="owner called"))
    assert (step_plan.outcome, step_plan.incident_class, step_plan.event) == (
        Outcome.CANCELLED_BY_USER,
        IncidentClass.NONE,
        Event.RESOLVED,
    )
    assert step_plan.steps[-1].detail == {
        "outcome": "cancelled_by_user",
        "incident_class": "none",
        "note": "owner called",
        "cancel": True,
    }


# ---- repository --------------------------------------------------------------------------------------------------


async def new_dispatch(
    engine: AsyncEngine, *, seq: int = 1, zone: str = "3", recipients: list[str] | None = None
) -> int:
    envelope = Envelope(
        site="shop-1", seq=seq, device="panel", kind=Kind.ALARM, ts=T0, rx=T0, priority=1, data={"class": "burglary"}
    )
    async with engine.begin() as connection:
        if (await connection.execute(select(sites.c.id).where(sites.c.id == "shop-1"))).first() is None:
            await connection.execute(insert(sites).values(id="shop-1", name="Shop One", armed=True))
        [stored] = await insert_readings(connection, [envelope], stored_at=T0)
        dispatch, created = await raise_dispatch(
            connection,
            NewDispatch(
                site="shop-1",
                reading_id=stored.id,
                alarm_class="burglary",
                zone=zone,
                partition="1",
                priority=3,
                recipients=recipients if recipients is not None else ["guards"],
                escalate_at=T0 + timedelta(seconds=120),
                escalation_reason=None,
            ),
            at=T0,
        )
    assert created
    return dispatch.id


async def act(engine: AsyncEngine, dispatch_id: int, request: ActionRequest, *, actor: str, after_s: float) -> Dispatch:
    async def work(connection: AsyncConnection) -> Dispatch:
        return await apply_action(
            connection, dispatch_id, request, actor=actor, at=T0 + timedelta(seconds=after_s), police=POLICE
        )

    return await in_transaction(engine, work)


async def deliveries(engine: AsyncEngine, dispatch_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(webhook_outbox.c.recipient, webhook_outbox.c.event, webhook_outbox.c.payload)
            .where(webhook_outbox.c.dispatch_id == dispatch_id)
            .order_by(webhook_outbox.c.id)
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def test_a_dispatch_through_every_step_is_audited_and_timed(engine: AsyncEngine) -> None:
    dispatch_id = await new_dispatch(engine)
    await act(engine, dispatch_id, ActionRequest(Action.ACKNOWLEDGE, note="on it"), actor="alice", after_s=15)
    await act(engine, dispatch_id, ActionRequest(Action.ASSIGN_GUARD, guard="Wang Wei"), actor="alice", after_s=40)
    await act(engine, dispatch_id, ActionRequest(Action.ON_SCENE), actor="wang", after_s=400)
    await act(engine, dispatch_id, ActionRequest(Action.CONFIRM), actor="wang", after_s=420)
    done = await act(engine, dispatch_id, RESOLVE, actor="bob", after_s=1800)

    assert done.state is State.RESOLVED
    assert (done.guard, done.outcome, done.incident_class) == ("Wang Wei", "real", "criminal")
    assert (done.escalation_reason, done.recipients) == ("confirmed", ["guards", "police-110"])
    assert done.timings() == {
        "acknowledged": 15.0,
        "guard_assigned": 40.0,
        "on_scene": 400.0,
        "resolved": 1800.0,
        "escalated": 420.0,
    }
    async with engine.connect() as connection:
        trail = await transitions_of(connection, dispatch_id)
    assert [(t.action, t.from_state, t.to_state, t.actor, (t.at - T0).total_seconds()) for t in trail] == [
        ("raise", None, "raised", "rule", 0.0),
        ("acknowledge", "raised", "acknowledged", "alice", 15.0),
        ("assign_guard", "acknowledged", "guard_assigned", "alice", 40.0),
        ("on_scene", "guard_assigned", "on_scene", "wang", 400.0),
        ("confirm", "on_scene", "on_scene", "wang", 420.0),
        ("escalate", "on_scene", "on_scene", "wang", 420.0),
        ("resolve", "on_scene", "resolved", "bob", 1800.0),
    ]
    assert trail[1].detail == {"note": "on it"}
    assert trail[5].detail == {"reason": "confirmed"}

    sent = await deliveries(engine, dispatch_id)
    assert [(recipient, event) for recipient, event, _ in sent] == [
        ("guards", "dispatch.raised"),
        ("guards", "dispatch.updated"),
        ("guards", "dispatch.updated"),
        ("guards", "dispatch.updated"),
        ("guards", "dispatch.escalated"),
        ("police-110", "dispatch.escalated"),
        ("guards", "dispatch.resolved"),
        ("police-110", "dispatch.resolved"),
    ]
    raised_payload = sent[0][2]
    assert raised_payload["event"] == "dispatch.raised"
    assert raised_payload["dispatch"]["id"] == dispatch_id
    assert raised_payload["site"]["name"] == "Shop One"
    assert raised_payload["reading"]["data"] == {"class": "burglary"}
    assert sent[4][2]["dispatch"]["escalation_reason"] == "confirmed"
    assert sent[4][2]["action"] == {"name": "confirm", "actor": "wang", "at": "2026-11-24T04:07:00.000Z"}


async def test_assigning_a_guard_straight_from_raised_records_the_acknowledgement(engine: AsyncEngine) -> None:
    dispatch_id = await new_dispatch(engine)
    done = await act(engine, dispatch_id, ActionRequest(Action.ASSIGN_GUARD, guard="Li"), actor="alice", after_s=9)
    assert done.acknowledged_at == done.guard_assigned_at == T0 + timedelta(seconds=9)
    assert done.escalate_at is None  # the acknowledgement timer has stopped
    async with engine.connect() as connection:
        trail = await transitions_of(connection, dispatch_id)
    assert [(t.action, t.detail) for t in trail[1:]] == [
        ("acknowledge", {"implicit": True}),
        ("assign_guard", {"guard": "Li"}),
    ]


async def test_invalid_actions_change_nothing(engine: AsyncEngine) -> None:
    dispatch_id = await new_dispatch(engine)
    with pytest.raises(NotAllowed):
        await act(engine, dispatch_id, ActionRequest(Action.ON_SCENE), actor="alice", after_s=5)
    with pytest.raises(DispatchNotFound):
        await act(engine, dispatch_id + 1000, ActionRequest(Action.ACKNOWLEDGE), actor="alice", after_s=5)
    async with engine.connect() as connection:
        unchanged = await get(connection, dispatch_id)
        trail = await transitions_of(connection, dispatch_id)
    assert unchanged is not None and unchanged.state is State.RAISED
    assert [t.action for t in trail] == ["raise"]
    assert len(await deliveries(engine, dispatch_id)) == 1


async def test_two_operators_acknowledging_at_once_one_wins(engine: AsyncEngine) -> None:
    dispatch_id = await new_dispatch(engine)
    results = await asyncio.gather(
        act(engine, dispatch_id, ActionRequest(Action.ACKNOWLEDGE), actor="alice", after_s=10),
        act(engine, dispatch_id, ActionRequest(Action.ACKNOWLEDGE), actor="bob", after_s=10),
        return_exceptions=True,
    )
    winners = [result for result in results if isinstance(result, Dispatch)]
    losers = [result for result in results if isinstance(result, NotAllowed | DispatchConflict)]
    assert (len(winners), len(losers)) == (1, 1), results
    async with engine.connect() as connection:
        trail = await transitions_of(connection, dispatch_id)
    assert [t.action for t in trail] == ["raise", "acknowledge"]


async def test_a_stale_read_loses_the_race(engine: AsyncEngine) -> None:
    """The conditional UPDATE is what protects the state, not the read: simulate a write between read and write."""
    dispatch_id = await new_dispatch(engine)
    await act(engine, dispatch_id, ActionRequest(Action.ACKNOWLEDGE), actor="alice", after_s=10)
    async with engine.begin() as connection:
        with pytest.raises(NotAllowed, match="cannot acknowledge: the dispatch is already acknowledged"):
            await apply_action(
                connection, dispatch_id, ActionRequest(Action.ACKNOWLEDGE), actor="bob", at=T0, police=POLICE
            )
        with pytest.raises(NotAllowed, match="not raised"):
            await apply_action(
                connection,
                dispatch_id,
                ActionRequest(Action.ESCALATE),
                actor="system",
                at=T0,
                police=POLICE,
                expect_state=State.RAISED,
            )


async def test_response_times_summarise_a_period(engine: AsyncEngine) -> None:
    ids = [await new_dispatch(engine, seq=seq, zone=str(seq)) for seq in range(1, 11)]
    for index, dispatch_id in enumerate(ids, start=1):
        await act(engine, dispatch_id, ActionRequest(Action.ACKNOWLEDGE), actor="alice", after_s=10 * index)
    await act(engine, ids[0], RESOLVE, actor="alice", after_s=600)
    async with engine.connect() as connection:
        summary = await response_times(connection, since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1))
        empty = await response_times(connection, since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2))
    assert summary["dispatches"] == 10
    assert summary["steps"]["acknowledged"] == {"count": 10, "mean_s": 55.0, "p90_s": 90.0}
    assert summary["steps"]["resolved"] == {"count": 1, "mean_s": 600.0, "p90_s": 600.0}
    assert summary["steps"]["on_scene"] == {"count": 0, "mean_s": None, "p90_s": None}
    assert empty["dispatches"] == 0
