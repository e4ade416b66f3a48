"""Trackers for staff: provision (bind code), list and look at any tracker, its positions (filtered ones on request)
and their downloads, arm/disarm, confirm a theft, engine stop/resume, share links.

Readers (viewer and up) look; actors (operator and up) act. The owner's name is shown to every reader, the owner's
phone only to supervisor and admin (masked, +86138****5678, below them), as personal data is elsewhere. Owner
tokens never pass here (403): owners have their own routes under /api/my.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response
from fastapi.responses import StreamingResponse

from central.api.auth import PERSONAL_DATA_ROLES, Actor, Principal, Reader
from central.api.context import ApiContext, Context
from central.api.owner_auth import Accounts
from central.api.routes_bikes import (
    COMMAND_REFUSALS,
    ImeiPath,
    LinkIdPath,
    bike_fields,
    new_share,
    revoke_share,
    set_arming,
    shares_of,
    theft_confirmed,
    tracker_command,
)
from central.api.schemas import (
    IMEI_PATTERN,
    SITE_PATTERN,
    CommandOut,
    OwnerBrief,
    ShareBody,
    ShareCreated,
    ShareOut,
    TheftOut,
    TrackerCommandBody,
    TrackerOut,
    TrackerPage,
    TrackerProvision,
    TrackOut,
)
from central.api.track_export import (
    MEDIA_TYPES,
    CursorQuery,
    Format,
    FromQuery,
    Limit,
    Source,
    ToQuery,
    track_download,
    track_page,
    track_window,
)
from central.store.owners import (
    TrackerFilter,
    TrackerView,
    bind_code_problem,
    get_tracker,
    imei_problem,
    list_trackers,
    mask_phone,
    provision_tracker,
)

router = APIRouter(tags=["trackers"])


def tracker_out(view: TrackerView, principal: Principal, context: ApiContext) -> TrackerOut:
    owner = None
    if view.owner_id is not None:
        phone = view.owner_phone or ""
        owner = OwnerBrief(
            id=view.owner_id,
            name=view.owner_name or "",
            phone=phone if principal.role in PERSONAL_DATA_ROLES else mask_phone(phone),
        )
    return TrackerOut(
        **bike_fields(view, context.clock.now()),
        site=view.site,
        armed_by=view.armed_by,
        theft_dispatch_id=view.theft_dispatch_id,
        claimable=view.bind_code_set,
        owner=owner,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )


async def _tracker(context: ApiContext, imei: str) -> TrackerView:
    async with context.engine.connect() as connection:
        view = await get_tracker(connection, imei)
    if view is None:
        raise HTTPException(404, detail=f"no tracker {imei}")
    return view


@router.post(
    "/trackers",
    status_code=201,
    response_model=TrackerOut,
    responses={
        200: {"description": "an existing tracker without an owner, provisioned again"},
        409: {"description": "the tracker has an owner"},
    },
)
async def provision(body: TrackerProvision, principal: Actor, context: Context, response: Response) -> TrackerOut:
    """Make a tracker claimable: its IMEI (Luhn-checked), a name and plate, and the bind code printed on its box.
    A tracker the gateway already created on first sight is updated (200)."""
    for problem in (imei_problem(body.imei), bind_code_problem(body.bind_code)):
        if problem is not None:
            raise HTTPException(422, detail=problem)
    async with context.engine.begin() as connection:
        created = await provision_tracker(
            connection, imei=body.imei, name=body.name, plate=body.plate, bind_code=body.bind_code,
            now=context.clock.now(),
        )
    if created is None:
        raise HTTPException(409, detail=f"tracker {body.imei} has an owner: they must release it first")
    if not created:
        response.status_code = 200
    context.logger.info("tracker %s provisioned by %s", body.imei, principal.name)
    return tracker_out(await _tracker(context, body.imei), principal, context)


@router.get("/trackers", response_model=TrackerPage)
async def trackers_list(
    principal: Reader,
    context: Context,
    owner_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    owned: bool | None = None,
    theft_state: Annotated[
        Literal["alarmed", "confirmed", "none"] | None, Query(description="none: trackers without a theft")
    ] = None,
    armed: bool | None = None,
    site: Annotated[str | None, Query(pattern=SITE_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(pattern=IMEI_PATTERN, description="next_cursor of the previous page")] = None,
) -> TrackerPage:
    """In IMEI order, `limit` at a time."""
    where = TrackerFilter(owner_id=owner_id, owned=owned, theft_state=theft_state, armed=armed, site=site)
    async with context.engine.connect() as connection:
        views = await list_trackers(connection, where, after_imei=cursor, limit=limit + 1)
    items = [tracker_out(view, principal, context) for view in views[:limit]]
    return TrackerPage(items=items, next_cursor=items[-1].imei if len(views) > limit else None)


@router.get("/trackers/{imei}", response_model=TrackerOut, responses={404: {"description": "unknown tracker"}})
async def tracker_detail(imei: ImeiPath, principal: Reader, context: Context) -> TrackerOut:
    return tracker_out(await _tracker(context, imei), principal, context)


IncludeFiltered = Annotated[bool, Query(description="also the positions the filters set aside, with the reason")]


@router.get("/trackers/{imei}/positions", response_model=TrackOut, responses={404: {"description": "unknown tracker"}})
async def positions(
    imei: ImeiPath,
    _principal: Reader,
    context: Context,
    accounts: Accounts,
    start: FromQuery = None,
    end: ToQuery = None,
    source: Source = "gps",
    include_filtered: IncludeFiltered = False,
    limit: Limit = 1000,
    cursor: CursorQuery = None,
) -> TrackOut:
    window = track_window(start, end, now=context.clock.now(), settings_days=accounts.settings.max_track_days)
    view = await _tracker(context, imei)
    return await track_page(
        context, view, window, source=source, cursor=cursor, limit=limit, include_filtered=include_filtered
    )


@router.get(
    "/trackers/{imei}/positions.{fmt}",
    response_class=StreamingResponse,
    responses={200: {"content": {media: {} for media in MEDIA_TYPES.values()}}, 404: {"description": "unknown"}},
)
async def positions_file(
    imei: ImeiPath,
    fmt: Annotated[Format, Path(description="gpx, kml or csv")],
    _principal: Reader,
    context: Context,
    accounts: Accounts,
    start: FromQuery = None,
    end: ToQuery = None,
    include_filtered: IncludeFiltered = False,
) -> StreamingResponse:
    window = track_window(start, end, now=context.clock.now(), settings_days=accounts.settings.max_track_days)
    view = await _tracker(context, imei)
    return track_download(context, view, window, fmt, include_filtered=include_filtered)


@router.post("/trackers/{imei}/arm", response_model=TrackerOut, responses={404: {"description": "unknown tracker"}})
async def arm(imei: ImeiPath, principal: Actor, context: Context) -> TrackerOut:
    await _tracker(context, imei)
    await set_arming(context, imei, armed=True, principal=principal)
    return tracker_out(await _tracker(context, imei), principal, context)


@router.post("/trackers/{imei}/disarm", response_model=TrackerOut, responses={404: {"description": "unknown tracker"}})
async def disarm(imei: ImeiPath, principal: Actor, context: Context) -> TrackerOut:
    await _tracker(context, imei)
    await set_arming(context, imei, armed=False, principal=principal)
    return tracker_out(await _tracker(context, imei), principal, context)


@router.post(
    "/trackers/{imei}/theft",
    response_model=TheftOut,
    responses={404: {"description": "unknown tracker"}, 409: {"description": "no position yet"}},
)
async def theft(imei: ImeiPath, principal: Actor, context: Context, accounts: Accounts) -> TheftOut:
    await _tracker(context, imei)
    return await theft_confirmed(context, accounts, imei, principal=principal)


@router.post(
    "/trackers/{imei}/commands",
    status_code=202,
    response_model=CommandOut,
    responses={404: {"description": "unknown tracker"}, **COMMAND_REFUSALS},
)
async def command(imei: ImeiPath, body: TrackerCommandBody, principal: Actor, context: Context) -> CommandOut:
    return await tracker_command(context, await _tracker(context, imei), body.name, principal=principal)


@router.post(
    "/trackers/{imei}/share",
    status_code=201,
    response_model=ShareCreated,
    responses={404: {"description": "unknown tracker"}, 409: {"description": "too many active links"}},
)
async def share(
    imei: ImeiPath, principal: Actor, context: Context, accounts: Accounts, body: ShareBody | None = None
) -> ShareCreated:
    await _tracker(context, imei)
    return await new_share(context, accounts, imei, body or ShareBody(), principal=principal)


@router.get("/trackers/{imei}/shares", response_model=list[ShareOut], responses={404: {"description": "unknown"}})
async def shares(imei: ImeiPath, _principal: Reader, context: Context) -> list[ShareOut]:
    await _tracker(context, imei)
    return await shares_of(context, imei)


@router.delete(
    "/trackers/{imei}/shares/{link_id}", response_model=ShareOut, responses={404: {"description": "no such link"}}
)
async def unshare(imei: ImeiPath, link_id: LinkIdPath, principal: Actor, context: Context) -> ShareOut:
    await _tracker(context, imei)
    return await revoke_share(context, imei, link_id, principal=principal)
