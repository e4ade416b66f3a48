"""The console's view of one alarm (its context) and its action plan's steps."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.auth import PERSONAL_DATA_ROLES, Actor, Reader
from central.api.context import Context
from central.api.routes_dispatches import DispatchId, act_on_dispatch, visible_to_staff
from central.api.routes_readings import masked
from central.api.schemas import NO_NUL_PATTERN, RequestBody
from central.console.audit_actions import audit_action
from central.console.context import alarm_context
from central.console.handling import claim
from central.console.plans import MarkStatus, mark_step
from central.console.settings import STEP_KEY_PATTERN, ConsoleSettings
from central.dispatch.repository import DispatchNotFound, get

router = APIRouter(tags=["console"])


class PlanMarkBody(RequestBody):
    status: MarkStatus
    note: str | None = Field(default=None, max_length=1000, pattern=NO_NUL_PATTERN)
    take_over: bool = False


def _settings(request: Request) -> ConsoleSettings:
    settings: ConsoleSettings = request.app.state.console
    return settings


def _unmasked(data: dict[str, Any]) -> dict[str, Any]:
    return data


@router.get("/dispatches/{dispatch_id}/context", responses={404: {"description": "unknown dispatch"}})
async def dispatch_context(dispatch_id: DispatchId, principal: Reader, context: Context,
                           request: Request) -> dict[str, Any]:
    """The alarm with its site, readings around it, the site's recent dispatches, a position, a camera snapshot and
    the action plan (personal data in readings masked for roles that do not need it)."""
    mask = _unmasked if principal.role in PERSONAL_DATA_ROLES else masked
    async with context.engine.connect() as connection:
        dispatch = visible_to_staff(await get(connection, dispatch_id))
        if dispatch is None:
            raise HTTPException(404, detail=f"no dispatch {dispatch_id}")
        return await alarm_context(connection, dispatch, _settings(request), mask=mask)


@router.post(
    "/dispatches/{dispatch_id}/plan/{step}",
    responses={404: {"description": "unknown dispatch or step"},
               409: {"description": "resolved, handled by someone else, or changed meanwhile"}},
)
async def mark_plan_step(
    dispatch_id: DispatchId,
    step: Annotated[str, Path(pattern=STEP_KEY_PATTERN)],
    body: PlanMarkBody,
    principal: Actor,
    context: Context,
    request: Request,
) -> dict[str, Any]:
    """Mark a step of the dispatch's action plan done, or not applicable (`skipped`, which needs a note saying why)."""
    if body.status is MarkStatus.SKIPPED and not body.note:
        raise HTTPException(422, detail="a step marked not applicable needs a note saying why")
    settings = _settings(request)

    async def act(connection: AsyncConnection) -> dict[str, Any]:
        dispatch = visible_to_staff(await get(connection, dispatch_id))
        if dispatch is None:
            raise DispatchNotFound(dispatch_id)
        plan = settings.plan_for(dispatch.alarm_class)
        if plan is None or step not in {s.key for s in plan.steps}:
            raise HTTPException(404, detail=f"the plan for {dispatch.alarm_class!r} has no step {step!r}")
        handling = claim(dispatch, principal.name, take_over=body.take_over)
        now = context.clock.now()
        mark = await mark_step(connection, dispatch, step=step, status=body.status, note=body.note,
                               actor=principal.name, at=now, handler=handling.handler)
        await audit_action(connection, principal, at=now, dispatch_id=dispatch_id, action="plan_step",
                           detail={"step": step, "status": body.status.value, **({"note": body.note} if body.note
                                                                                 else {})},
                           taken_over_from=handling.taken_over_from)
        return mark.to_json()

    return await act_on_dispatch(context, act)

