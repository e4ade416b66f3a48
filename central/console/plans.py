"""Action plans on dispatches: which steps an operator has marked, and whether the plan is complete.

A dispatch whose alarm class has a plan (`[console.plans]`) is resolved only once every step is marked, done or not
applicable with a reason: what professional central-station software calls a mandatory action plan. Each mark is a
dispatch transition too ("plan_step"), so the dispatch's trail and the live feed carry it like any other action.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.console.settings import ActionPlan
from central.dispatch.repository import Dispatch, DispatchConflict, write_steps
from central.dispatch.states import NotAllowed, State, Step
from central.store.schema import dispatch_plan_marks, dispatches
from shaobing.clock import format_ts


class MarkStatus(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"  # not applicable here, with the reason in the note


@dataclass(frozen=True, slots=True)
class Mark:
    step: str
    status: MarkStatus
    note: str | None
    actor: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "status": self.status.value, "note": self.note, "actor": self.actor,
                "at": format_ts(self.at)}


async def marks_of(connection: AsyncConnection, dispatch_id: int) -> dict[str, Mark]:
    rows = (await connection.execute(
        select(dispatch_plan_marks).where(dispatch_plan_marks.c.dispatch_id == dispatch_id)
    )).all()
    return {row.step: Mark(row.step, MarkStatus(row.status), row.note, row.actor, row.at) for row in rows}


def unmarked(plan: ActionPlan | None, marks: dict[str, Mark]) -> list[str]:
    """The plan's steps not marked yet, in the plan's order."""
    if plan is None:
        return []
    return [step.key for step in plan.steps if step.key not in marks]


async def mark_step(
    connection: AsyncConnection, dispatch: Dispatch, *, step: str, status: MarkStatus, note: str | None, actor: str,
    at: datetime, handler: str,
) -> Mark:
    """Mark (or re-mark) one step of an open dispatch's plan; the dispatch's trail gets a `plan_step` row and
    `handler` handles the dispatch from now on."""
    if dispatch.state is State.RESOLVED:
        raise NotAllowed("the dispatch is resolved: its plan can no longer change")
    await connection.execute(delete(dispatch_plan_marks).where(
        dispatch_plan_marks.c.dispatch_id == dispatch.id, dispatch_plan_marks.c.step == step))
    await connection.execute(insert(dispatch_plan_marks).values(
        dispatch_id=dispatch.id, step=step, status=status.value, note=note, actor=actor, at=at))
    touched = await connection.execute(
        update(dispatches).where(dispatches.c.id == dispatch.id, dispatches.c.state == dispatch.state.value)
        .values(updated_at=at, handler=handler))
    if touched.rowcount != 1:
        raise DispatchConflict("the dispatch changed meanwhile: reload and try again")
    detail: dict[str, Any] = {"step": step, "status": status.value}
    if note:
        detail["note"] = note
    await write_steps(connection, dispatch.id, [Step("plan_step", dispatch.state, dispatch.state, detail)],
                      actor=actor, at=at)
    return Mark(step, status, note, actor, at)
