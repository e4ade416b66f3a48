"""Dispatches: the queue (by priority, then age), one dispatch with its audit trail and timings, and actions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.auth import Actor, Reader
from central.api.context import ApiContext, Context
from central.api.schemas import MAX_ID, SITE_PATTERN, ActionBody, DispatchDetail, DispatchOut
from central.console.audit_actions import audit_action
from central.console.handling import HandledByOther, claim
from central.console.plans import marks_of, unmarked
from central.console.settings import ConsoleSettings
from central.dispatch.repository import (
    Dispatch,
    DispatchConflict,
    DispatchNotFound,
    apply_action,
    get,
    in_transaction,
    list_dispatches,
    transitions_of,
)
from central.dispatch.states import Action, ActionRequest, EscalationReason, MissingDetail, NotAllowed, State
from central.people.hits import STAFF_HIDDEN_CLASSES

router = APIRouter(tags=["dispatches"])


def visible_to_staff(dispatch: Dispatch | None) -> Dispatch | None:
    """A watch-list hit is a silent dispatch for the police alone: for the staff it does not exist (left out of
    lists, 404 by id); the same classes are left out of the reports and the webhook deliveries they see."""
    return None if dispatch is None or dispatch.alarm_class in STAFF_HIDDEN_CLASSES else dispatch


def _audit_detail(body: ActionBody) -> dict[str, Any]:
    fields = {"guard": body.guard, "outcome": body.outcome, "incident_class": body.incident_class, "note": body.note}
    return {key: str(value) for key, value in fields.items() if value is not None}


T = TypeVar("T")


async def act_on_dispatch(context: ApiContext, act: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run a staff member's action on a dispatch in a transaction, its refusals answered as HTTP errors (404 unknown,
    409 not allowed now or handled by someone else, 422 a detail missing), and wake what follows a commit."""
    try:
        result = await in_transaction(context.engine, act)
    except DispatchNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except HandledByOther as exc:
        raise HTTPException(409, detail=exc.detail()) from None
    except MissingDetail as exc:
        raise HTTPException(422, detail=exc.reason) from None
    except (NotAllowed, DispatchConflict) as exc:
        raise HTTPException(409, detail=exc.reason) from None
    context.committed()
    return result


DispatchId = Annotated[int, Path(ge=1, le=MAX_ID, description="dispatch id")]


def _out(dispatch: Dispatch) -> DispatchOut:
    return DispatchOut.model_validate(dispatch.to_json())


async def _detail(connection: AsyncConnection, dispatch: Dispatch) -> DispatchDetail:
    transitions = await transitions_of(connection, dispatch.id)
    return DispatchDetail.model_validate(
        {
            **dispatch.to_json(),
            "transitions": [transition.to_json() for transition in transitions],
            "timings": dispatch.timings(),
        }
    )


@router.get("/dispatches", response_model=list[DispatchOut])
async def dispatches_list(
    _principal: Reader,
    context: Context,
    state: State | None = None,
    site: Annotated[str | None, Query(pattern=SITE_PATTERN)] = None,
    open_only: Annotated[bool, Query(alias="open", description="only dispatches not yet resolved")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[DispatchOut]:
    async with context.engine.connect() as connection:
        found = await list_dispatches(connection, state=state, site=site, open_only=open_only, limit=limit,
                                      hidden_classes=STAFF_HIDDEN_CLASSES)
    return [_out(dispatch) for dispatch in found]


@router.get("/dispatches/{dispatch_id}", response_model=DispatchDetail, responses={404: {"description": "unknown"}})
async def dispatch_detail(dispatch_id: DispatchId, _principal: Reader, context: Context) -> DispatchDetail:
    async with context.engine.connect() as connection:
        dispatch = visible_to_staff(await get(connection, dispatch_id))
        if dispatch is None:
            raise HTTPException(404, detail=f"no dispatch {dispatch_id}")
        return await _detail(connection, dispatch)


@router.post(
    "/dispatches/{dispatch_id}/actions",
    response_model=DispatchDetail,
    responses={
        404: {"description": "unknown dispatch"},
        409: {"description": "not allowed in the dispatch's state, or someone else acted first"},
    },
)
async def dispatch_action(
    dispatch_id: DispatchId, body: ActionBody, principal: Actor, context: Context, http: Request
) -> DispatchDetail:
    """One step of the dispatch. The first staff member to act becomes its handler; another acts only with
    `take_over` (409 with `{"reason": "handled_by_other", "handler": ...}` otherwise). A dispatch whose class has an
    action plan is resolved only once every step is marked (409 naming the steps left)."""
    request = ActionRequest(
        action=body.action,
        guard=body.guard,
        outcome=body.outcome,
        incident_class=body.incident_class,
        note=body.note,
        escalation_reason=EscalationReason.MANUAL,
    )

    plans: ConsoleSettings = http.app.state.console

    async def act(connection: AsyncConnection) -> DispatchDetail:
        current = visible_to_staff(await get(connection, dispatch_id))
        if current is None:
            raise DispatchNotFound(dispatch_id)
        handling = claim(current, principal.name, take_over=body.take_over)
        if body.action in (Action.RESOLVE, Action.CANCEL):
            missing = unmarked(plans.plan_for(current.alarm_class), await marks_of(connection, dispatch_id))
            if missing:
                raise NotAllowed(f"the action plan is not complete: mark {', '.join(missing)} first")
        now = context.clock.now()
        dispatch = await apply_action(
            connection,
            dispatch_id,
            request,
            actor=principal.name,
            at=now,
            police=context.settings.recipients.police,
            handler=handling.handler,
        )
        await audit_action(connection, principal, at=now, dispatch_id=dispatch_id, action=body.action.value,
                           detail=_audit_detail(body), taken_over_from=handling.taken_over_from)
        return await _detail(connection, dispatch)

    detail = await act_on_dispatch(context, act)
    context.logger.info("dispatch %d: %s by %s", dispatch_id, body.action.value, principal.name)
    return detail
