"""Dispatches in the database: raising, folding repeats, applying actions with an audit row and their webhooks.

Every function runs inside the caller's transaction, so a dispatch, its transition rows and the webhook deliveries
that announce it commit together or not at all. Actions use optimistic concurrency: the UPDATE is conditional on the
state read (and on not yet being escalated when it escalates); a lost race is `DispatchConflict`, never a double step.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central.dispatch.states import (
    OPEN_STATES,
    ActionRequest,
    EscalationReason,
    Event,
    NotAllowed,
    State,
    Step,
    plan,
)
from central.store.schema import dispatch_transitions, dispatches, readings, sites
from central.webhooks.outbox import enqueue
from shaobing.clock import format_ts

T = TypeVar("T")
# What a domain adds to the webhooks of its dispatches' steps when the caller of the step gave no `extra` (an
# operator's action, the acknowledgement timer): {key: object}, or None for nothing. Bound to the database engine as
# one of its execution options (`extend_payloads`), so every connection of that engine finds it.
PayloadExtension = Callable[[AsyncConnection, "Dispatch"], Awaitable[Mapping[str, Any] | None]]
PAYLOAD_EXTENSION = "shaobing_dispatch_payload"

STEPS: tuple[str, ...] = ("acknowledged", "guard_assigned", "on_scene", "resolved", "escalated")


class DispatchNotFound(LookupError):
    def __init__(self, dispatch_id: int) -> None:
        super().__init__(f"no dispatch {dispatch_id}")
        self.dispatch_id = dispatch_id


class DispatchConflict(RuntimeError):
    """Someone else changed the dispatch between our read and our write (two operators acting at once)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Dispatch:
    id: int
    site: str
    reading_id: int
    alarm_class: str
    zone: str | None
    partition: str | None
    priority: int
    state: State
    recipients: list[str]
    escalated_at: datetime | None
    escalation_reason: str | None
    escalate_at: datetime | None
    guard: str | None
    outcome: str | None
    incident_class: str | None
    occurrences: int
    raised_at: datetime
    acknowledged_at: datetime | None
    guard_assigned_at: datetime | None
    on_scene_at: datetime | None
    resolved_at: datetime | None
    updated_at: datetime
    handler: str | None = None  # the staff member handling it

    def step_times(self) -> dict[str, datetime | None]:
        return {
            "acknowledged": self.acknowledged_at,
            "guard_assigned": self.guard_assigned_at,
            "on_scene": self.on_scene_at,
            "resolved": self.resolved_at,
            "escalated": self.escalated_at,
        }

    def timings(self) -> dict[str, float | None]:
        """Seconds from raised to each step; None for a step not reached."""
        return {
            step: None if moment is None else round((moment - self.raised_at).total_seconds(), 3)
            for step, moment in self.step_times().items()
        }

    def to_json(self) -> dict[str, Any]:
        def ts(moment: datetime | None) -> str | None:
            return None if moment is None else format_ts(moment)

        return {
            "id": self.id,
            "site": self.site,
            "reading_id": self.reading_id,
            "alarm_class": self.alarm_class,
            "zone": self.zone,
            "partition": self.partition,
            "priority": self.priority,
            "state": self.state.value,
            "recipients": list(self.recipients),
            "escalated": self.escalated_at is not None,
            "escalated_at": ts(self.escalated_at),
            "escalation_reason": self.escalation_reason,
            "escalate_at": ts(self.escalate_at),
            "guard": self.guard,
            "outcome": self.outcome,
            "incident_class": self.incident_class,
            "occurrences": self.occurrences,
            "raised_at": ts(self.raised_at),
            "acknowledged_at": ts(self.acknowledged_at),
            "guard_assigned_at": ts(self.guard_assigned_at),
            "on_scene_at": ts(self.on_scene_at),
            "resolved_at": ts(self.resolved_at),
            "updated_at": ts(self.updated_at),
            "handler": self.handler,
        }


@dataclass(frozen=True, slots=True)
class Transition:
    id: int
    dispatch_id: int
    action: str
    from_state: str | None
    to_state: str
    actor: str
    at: datetime
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "actor": self.actor,
            "at": format_ts(self.at),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class NewDispatch:
    """What the rules decided to raise."""

    site: str
    reading_id: int
    alarm_class: str
    zone: str | None
    partition: str | None
    priority: int
    recipients: list[str]
    escalate_at: datetime | None  # the acknowledgement deadline; None when no timer runs
    escalation_reason: EscalationReason | None  # set when it goes to 110 at once (panic)

    @property
    def open_key(self) -> str:
        return f"{self.site}|{self.alarm_class}|{self.zone or ''}"


def dispatch_from_row(row: Any) -> Dispatch:
    return Dispatch(
        id=row.id,
        site=row.site,
        reading_id=row.reading_id,
        alarm_class=row.alarm_class,
        zone=row.zone,
        partition=row.partition,
        priority=row.priority,
        state=State(row.state),
        recipients=list(row.recipients or []),
        escalated_at=row.escalated_at,
        escalation_reason=row.escalation_reason,
        escalate_at=row.escalate_at,
        guard=row.guard,
        outcome=row.outcome,
        incident_class=row.incident_class,
        occurrences=row.occurrences,
        raised_at=row.raised_at,
        acknowledged_at=row.acknowledged_at,
        guard_assigned_at=row.guard_assigned_at,
        on_scene_at=row.on_scene_at,
        resolved_at=row.resolved_at,
        updated_at=row.updated_at,
        handler=row.handler,
    )


async def get(connection: AsyncConnection, dispatch_id: int) -> Dispatch | None:
    row = (await connection.execute(select(dispatches).where(dispatches.c.id == dispatch_id))).first()
    return None if row is None else dispatch_from_row(row)


async def transitions_of(connection: AsyncConnection, dispatch_id: int) -> list[Transition]:
    rows = (
        await connection.execute(
            select(dispatch_transitions)
            .where(dispatch_transitions.c.dispatch_id == dispatch_id)
            .order_by(dispatch_transitions.c.id)
        )
    ).all()
    return [
        Transition(
            id=row.id,
            dispatch_id=row.dispatch_id,
            action=row.action,
            from_state=row.from_state,
            to_state=row.to_state,
            actor=row.actor,
            at=row.at,
            detail=row.detail or {},
        )
        for row in rows
    ]


async def list_dispatches(
    connection: AsyncConnection,
    *,
    state: State | None = None,
    site: str | None = None,
    open_only: bool = False,
    limit: int = 200,
    hidden_classes: frozenset[str] = frozenset(),
    newest_first: bool = False,
) -> list[Dispatch]:
    """Most urgent first: by priority (lower first), then oldest first; or, `newest_first`, a site's history."""
    query = select(dispatches)
    if hidden_classes:
        query = query.where(dispatches.c.alarm_class.not_in(sorted(hidden_classes)))
    if state is not None:
        query = query.where(dispatches.c.state == state.value)
    if site is not None:
        query = query.where(dispatches.c.site == site)
    if open_only:
        query = query.where(dispatches.c.state.in_([s.value for s in OPEN_STATES]))
    if newest_first:
        query = query.order_by(dispatches.c.raised_at.desc(), dispatches.c.id.desc()).limit(limit)
    else:
        query = query.order_by(dispatches.c.priority, dispatches.c.raised_at, dispatches.c.id).limit(limit)
    return [dispatch_from_row(row) for row in (await connection.execute(query)).all()]


async def write_steps(
    connection: AsyncConnection, dispatch_id: int, steps: Sequence[Step], *, actor: str, at: datetime
) -> None:
    await connection.execute(
        insert(dispatch_transitions),
        [
            {
                "dispatch_id": dispatch_id,
                "action": step.action,
                "from_state": step.from_state.value,
                "to_state": step.to_state.value,
                "actor": actor,
                "at": at,
                "detail": step.detail,
            }
            for step in steps
        ],
    )


async def webhook_payload(
    connection: AsyncConnection, event: Event, dispatch: Dispatch, *, action: str, actor: str, at: datetime
) -> dict[str, Any]:
    """The JSON a recipient receives: the event, the dispatch, the site as central knows it, and the alarm reading."""
    site_row = (await connection.execute(select(sites).where(sites.c.id == dispatch.site))).first()
    reading_row = (await connection.execute(select(readings).where(readings.c.id == dispatch.reading_id))).first()
    site = None
    if site_row is not None:
        site = {
            "id": site_row.id,
            "name": site_row.name,
            "kind": site_row.kind,
            "online": site_row.online,
            "armed": site_row.armed,
            "arming": site_row.arming,
        }
    reading = None
    if reading_row is not None:
        reading = {
            "id": reading_row.id,
            "site": reading_row.site,
            "seq": reading_row.seq,
            "device": reading_row.device,
            "kind": reading_row.kind,
            "priority": reading_row.priority,
            "ts": format_ts(reading_row.ts),
            "rx": format_ts(reading_row.rx),
            "data": reading_row.data,
        }
    return {
        "event": event.value,
        "action": {"name": action, "actor": actor, "at": format_ts(at)},
        "dispatch": dispatch.to_json(),
        "site": site,
        "reading": reading,
    }


def extend_payloads(engine: AsyncEngine, extension: PayloadExtension) -> None:
    """Bind `extension` to `engine`: it gives the objects of the webhooks of a step whose caller gave none."""
    engine.update_execution_options(**{PAYLOAD_EXTENSION: extension})


async def _announce(
    connection: AsyncConnection,
    event: Event,
    dispatch: Dispatch,
    *,
    action: str,
    actor: str,
    at: datetime,
    extra: Mapping[str, Any] | None,
) -> None:
    if not dispatch.recipients:
        return
    payload = await webhook_payload(connection, event, dispatch, action=action, actor=actor, at=at)
    if extra is None:
        extension = connection.engine.sync_engine.get_execution_options().get(PAYLOAD_EXTENSION)
        if extension is not None:
            extra = await extension(connection, dispatch)
    if extra:
        payload |= extra  # the caller's own objects beside the standard ones (a theft's `tracker`)
    await enqueue(
        connection, recipients=dispatch.recipients, event=event.value, dispatch_id=dispatch.id, payload=payload, now=at
    )


def _insert_if_not_open(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql_insert(dispatches)
    return sqlite_insert(dispatches)


async def raise_dispatch(
    connection: AsyncConnection,
    new: NewDispatch,
    *,
    at: datetime,
    actor: str = "rule",
    extra: Mapping[str, Any] | None = None,
) -> tuple[Dispatch, bool]:
    """Raise a dispatch, or fold the alarm into the open one with the same site, class and zone. `extra` is merged
    into the payload of the webhook deliveries this writes.

    Returns the dispatch and True when it was created, False when folded as a repeat."""
    escalated = new.escalation_reason is not None
    statement = (
        _insert_if_not_open(connection.dialect.name)
        .values(
            site=new.site,
            reading_id=new.reading_id,
            alarm_class=new.alarm_class,
            zone=new.zone,
            partition=new.partition,
            priority=new.priority,
            state=State.RAISED.value,
            recipients=list(new.recipients),
            escalated_at=at if escalated else None,
            escalation_reason=new.escalation_reason.value if new.escalation_reason else None,
            escalate_at=None if escalated else new.escalate_at,
            occurrences=1,
            open_key=new.open_key,
            raised_at=at,
            updated_at=at,
        )
        .on_conflict_do_nothing(index_elements=["open_key"])
        .returning(dispatches.c.id)
    )
    created_id = (await connection.execute(statement)).scalar_one_or_none()
    if created_id is None:
        folded = await fold_repeat(
            connection, new.open_key, reading_id=new.reading_id, at=at, actor=actor, extra=extra
        )
        if folded is not None:
            return folded, False
        raise DispatchConflict(f"open dispatch {new.open_key!r} vanished while folding a repeat")
    steps: list[Step] = [Step("raise", State.RAISED, State.RAISED, {"reading_id": new.reading_id})]
    if new.escalation_reason is not None:
        steps.append(Step("escalate", State.RAISED, State.RAISED, {"reason": new.escalation_reason.value}))
    # from_state of the first row is None: nothing came before the raise.
    await connection.execute(
        insert(dispatch_transitions),
        [
            {
                "dispatch_id": created_id,
                "action": step.action,
                "from_state": None if index == 0 else step.from_state.value,
                "to_state": step.to_state.value,
                "actor": actor,
                "at": at,
                "detail": step.detail,
            }
            for index, step in enumerate(steps)
        ],
    )
    dispatch = await get(connection, int(created_id))
    assert dispatch is not None
    await _announce(connection, Event.RAISED, dispatch, action="raise", actor=actor, at=at, extra=extra)
    return dispatch, True


async def fold_repeat(
    connection: AsyncConnection,
    open_key: str,
    *,
    reading_id: int,
    at: datetime,
    actor: str = "rule",
    extra: Mapping[str, Any] | None = None,
) -> Dispatch | None:
    """Count one more occurrence on the open dispatch with `open_key`; None when there is none open. `extra` is merged
    into the payload of the webhook deliveries this writes."""
    result = await connection.execute(
        update(dispatches)
        .where(dispatches.c.open_key == open_key)
        .values(occurrences=dispatches.c.occurrences + 1, updated_at=at)
        .returning(dispatches.c.id)
    )
    dispatch_id = result.scalar_one_or_none()
    if dispatch_id is None:
        return None
    dispatch = await get(connection, int(dispatch_id))
    assert dispatch is not None
    step = Step(
        "repeat", dispatch.state, dispatch.state, {"reading_id": reading_id, "occurrences": dispatch.occurrences}
    )
    await write_steps(connection, dispatch.id, [step], actor=actor, at=at)
    await _announce(connection, Event.UPDATED, dispatch, action="repeat", actor=actor, at=at, extra=extra)
    return dispatch


async def apply_action(
    connection: AsyncConnection,
    dispatch_id: int,
    request: ActionRequest,
    *,
    actor: str,
    at: datetime,
    police: Sequence[str],
    expect_state: State | None = None,
    extra: Mapping[str, Any] | None = None,
    handler: str | None = None,
) -> Dispatch:
    """Apply `request` to a dispatch; `police` are the recipients an escalation adds; `extra` is merged into the
    payload of the webhook deliveries this writes; `handler` (a staff member acting) becomes the dispatch's handler.

    Raises DispatchNotFound, ActionError (MissingDetail or NotAllowed) or DispatchConflict (lost a race)."""
    current = await get(connection, dispatch_id)
    if current is None:
        raise DispatchNotFound(dispatch_id)
    if expect_state is not None and current.state is not expect_state:
        raise NotAllowed(f"the dispatch is {current.state.value}, not {expect_state.value}")
    step_plan = plan(current.state, current.escalated_at is not None, request)

    values: dict[str, Any] = {"state": step_plan.to_state.value, "updated_at": at}
    if handler is not None:
        values["handler"] = handler
    for column in step_plan.stamps:
        if getattr(current, column) is None:
            values[column] = at
    if step_plan.guard is not None:
        values["guard"] = step_plan.guard
    if step_plan.outcome is not None:
        values["outcome"] = step_plan.outcome.value
    if step_plan.incident_class is not None:
        values["incident_class"] = step_plan.incident_class.value
    recipients = list(current.recipients)
    conditions = [dispatches.c.id == dispatch_id, dispatches.c.state == current.state.value]
    if step_plan.escalation is not None:
        values["escalated_at"] = at
        values["escalation_reason"] = step_plan.escalation.value
        recipients += [name for name in police if name not in recipients]
        conditions.append(dispatches.c.escalated_at.is_(None))
    if step_plan.escalation is not None or step_plan.to_state is not State.RAISED:
        values["escalate_at"] = None  # the acknowledgement timer has nothing left to do
    if step_plan.to_state is State.RESOLVED:
        values["open_key"] = None  # a later alarm on the same zone opens a new dispatch
    values["recipients"] = recipients

    result = await connection.execute(update(dispatches).where(*conditions).values(**values))
    if result.rowcount != 1:
        latest = await get(connection, dispatch_id)
        now_state = latest.state.value if latest else "gone"
        raise DispatchConflict(f"the dispatch changed meanwhile (it is now {now_state}): reload and try again")
    await write_steps(connection, dispatch_id, step_plan.steps, actor=actor, at=at)
    updated = await get(connection, dispatch_id)
    assert updated is not None
    await _announce(
        connection, step_plan.event, updated, action=request.action.value, actor=actor, at=at, extra=extra
    )
    return updated


async def overdue_for_escalation(connection: AsyncConnection, now: datetime, *, limit: int = 100) -> list[int]:
    """Ids of dispatches still raised (unacknowledged) whose acknowledgement deadline has passed."""
    rows = await connection.execute(
        select(dispatches.c.id)
        .where(
            dispatches.c.state == State.RAISED.value,
            dispatches.c.escalated_at.is_(None),
            dispatches.c.escalate_at.is_not(None),
            dispatches.c.escalate_at <= now,
        )
        .order_by(dispatches.c.priority, dispatches.c.escalate_at)
        .limit(limit)
    )
    return [int(dispatch_id) for dispatch_id in rows.scalars()]


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


async def response_times(connection: AsyncConnection, *, since: datetime, until: datetime,
                         hidden_classes: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Seconds from raised to each step over the dispatches raised in [since, until): count, mean, p90."""
    query = select(dispatches).where(dispatches.c.raised_at >= since, dispatches.c.raised_at < until)
    if hidden_classes:
        query = query.where(dispatches.c.alarm_class.not_in(sorted(hidden_classes)))
    rows = (await connection.execute(query)).all()
    per_step: dict[str, list[float]] = {step: [] for step in STEPS}
    for row in rows:
        for step, seconds in dispatch_from_row(row).timings().items():
            if seconds is not None:
                per_step[step].append(seconds)
    summary = {
        step: {
            "count": len(values),
            "mean_s": round(sum(values) / len(values), 3) if values else None,
            "p90_s": _p90(values) if values else None,
        }
        for step, values in per_step.items()
    }
    return {"since": format_ts(since), "until": format_ts(until), "dispatches": len(rows), "steps": summary}


def _is_busy(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text


async def in_transaction(
    engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]], *, attempts: int = 5
) -> T:
    """Run `work` in a transaction, again when SQLite says the database is busy: a transaction that read before
    another writer committed cannot write (WAL snapshot), and a fresh one then sees that writer's change."""
    for attempt in range(attempts):
        try:
            async with engine.begin() as connection:
                return await work(connection)
        except OperationalError as exc:
            if not _is_busy(exc) or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover
