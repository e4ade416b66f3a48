"""Dispatches: the queue (by priority, then age), one dispatch with its audit trail and timings, and actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.auth import Actor, Reader
from central.api.context import Context
from central.api.schemas import MAX_ID, SITE_PATTERN, ActionBody, DispatchDetail, DispatchOut
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
from central.dispatch.states import ActionRequest, EscalationReason, MissingDetail, NotAllowed, State
from central.people.hits import STAFF_HIDDEN_CLASSES

router = APIRouter(tags=["dispatches"])


def _visible(dispatch: Dispatch | None) -> Dispatch | None:
    """A watch-list hit is a silent dispatch for the police alone: for the staff it does not exist (left out of
    lists, 404 by id); the same classes are left out of the reports and the webhook deliveries they see."""
    return None if dispatch is None or dispatch.alarm_class in STAFF_HIDDEN_CLASSES else dispatch


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
        dispatch = _visible(await get(connection, dispatch_id))
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
    dispatch_id: DispatchId, body: ActionBody, principal: Actor, context: Context
) -> DispatchDetail:
    request = ActionRequest(
        action=body.action,
        guard=body.guard,
        outcome=body.outcome,
        incident_class=body.incident_class,
        note=body.note,
        escalation_reason=EscalationReason.MANUAL,
    )

    async def act(connection: AsyncConnection) -> DispatchDetail:
        if _visible(await get(connection, dispatch_id)) is None:
            raise DispatchNotFound(dispatch_id)
        dispatch = await apply_action(
            connection,
            dispatch_id,
            request,
            actor=principal.name,
            at=context.clock.now(),
            police=context.settings.recipients.police,
        )
        return await _detail(connection, dispatch)

    try:
        detail = await in_transaction(context.engine, act)
    except DispatchNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except MissingDetail as exc:
        raise HTTPException(422, detail=exc.reason) from None
    except (NotAllowed, DispatchConflict) as exc:
        raise HTTPException(409, detail=exc.reason) from None
    context.committed()
    context.logger.info("dispatch %d: %s by %s", dispatch_id, body.action.value, principal.name)
    return detail
