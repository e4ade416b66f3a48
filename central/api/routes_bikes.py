"""An owner's bikes: claim, list, state and position, arm/disarm, track and its downloads, share links, theft
confirmation, engine stop/resume. The operations themselves are shared with the staff routes (routes_trackers).

Privacy: every look-up here names the owner, so a bike of someone else answers 404 with the very words an unknown
IMEI gets — never 403, which would tell that the IMEI exists. Owner actions are recorded as "owner:ID", never with
a name or phone. Claiming is braked like logging in (failed claims per owner and per tracker), so bind codes cannot
be guessed, not even with many accounts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Response
from fastapi.responses import StreamingResponse

from central.api.auth import Owner, Principal
from central.api.command_issue import issue_command
from central.api.context import ApiContext, Context
from central.api.owner_auth import Accounts, OwnerAccounts
from central.api.schemas import (
    CMD_ID_PATTERN,
    IMEI_PATTERN,
    LINK_ID_PATTERN,
    BikeOut,
    BikeStatusOut,
    BikeUpdate,
    CellOut,
    ClaimBody,
    CommandOut,
    PositionOut,
    ShareBody,
    ShareCreated,
    ShareOut,
    TheftOut,
    TrackerCommandBody,
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
from central.dispatch.repository import DispatchConflict, in_transaction
from central.store.commands import get_command
from central.store.owners import (
    ClaimRefused,
    TrackerView,
    bind_code_problem,
    claim_tracker,
    get_tracker,
    imei_problem,
    owned_trackers,
    release_tracker,
    rename_tracker,
)
from central.store.share_links import ShareLink, count_active, create_link, links_of, revoke_link, revoke_links_by
from central.trackers.actions import NoPositionYet, TrackerNotFound, confirm_theft, set_armed

router = APIRouter(tags=["bikes"])

ImeiPath = Annotated[str, Path(pattern=IMEI_PATTERN, description="the tracker's IMEI (15 digits)")]
LinkIdPath = Annotated[str, Path(pattern=LINK_ID_PATTERN, description="a share link's id")]
CmdIdPath = Annotated[str, Path(pattern=CMD_ID_PATTERN)]
NOT_YOURS = "you have no bike with this IMEI"
# how a tracker command can fail, for owners' and staff's routes alike
COMMAND_REFUSALS: dict[int | str, dict[str, Any]] = {
    409: {"description": "the tracker never reported through a gateway"},
    502: {"description": "the broker refused the command"},
    504: {"description": "the broker did not take the command in time"},
}


# -- state -----------------------------------------------------------------------------------------------------------


def _age(moment: datetime, now: datetime) -> float:
    return round((now - moment).total_seconds(), 3)


def position_out(view: TrackerView, now: datetime) -> PositionOut | None:
    if view.fix_time is None or view.lat is None or view.lon is None:
        return None
    return PositionOut(
        lat=view.lat,
        lon=view.lon,
        fix_time=view.fix_time,
        age_s=_age(view.fix_time, now),
        speed_kmh=view.speed_kmh,
        course=view.course,
        satellites=view.satellites,
    )


def cell_out(view: TrackerView, now: datetime) -> CellOut | None:
    if view.lbs_time is None:
        return None
    return CellOut(time=view.lbs_time, age_s=_age(view.lbs_time, now), cell=dict(view.lbs_cell or {}))


def _number(value: Any) -> int | float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def status_out(status: dict[str, Any]) -> BikeStatusOut:
    """The status the tracker reported last; a value of an unexpected type is left out rather than trusted."""
    return BikeStatusOut(
        voltage_level=_number(status.get("voltage_level")),
        gsm=_number(status.get("gsm")),
        charging=_flag(status.get("charging")),
        acc=_flag(status.get("acc")),
    )


def bike_fields(view: TrackerView, now: datetime) -> dict[str, Any]:
    return {
        "imei": view.imei,
        "name": view.name,
        "plate": view.plate,
        "armed": view.armed,
        "armed_at": view.armed_at,
        "theft_state": view.theft_state,
        "theft_at": view.theft_at,
        "position": position_out(view, now),
        "cell": cell_out(view, now),
        "last_seen_at": view.last_seen_at,
        "status": status_out(view.status),
    }


def bike_out(view: TrackerView, now: datetime) -> BikeOut:
    return BikeOut(**bike_fields(view, now))


# -- actions shared with staff -----------------------------------------------------------------------------------------


async def set_arming(context: ApiContext, imei: str, *, armed: bool, principal: Principal) -> None:
    now = context.clock.now()

    async def work(connection: Any) -> None:
        await set_armed(connection, imei, armed=armed, actor=principal.name, now=now)

    try:
        await in_transaction(context.engine, work)
    except TrackerNotFound:
        raise HTTPException(404, detail=f"no tracker {imei}") from None
    context.logger.info("tracker %s %s by %s", imei, "armed" if armed else "disarmed", principal.name)


def share_url(context: ApiContext, token: str) -> str:
    return f"{context.public_url}/share/{token}"


def _created(context: ApiContext, token: str, link: ShareLink) -> ShareCreated:
    return ShareCreated(id=link.id, url=share_url(context, token), expires_at=link.expires_at)


async def theft_confirmed(
    context: ApiContext, accounts: OwnerAccounts, imei: str, *, principal: Principal
) -> TheftOut:
    """A live link for the police, then the theft confirmed with it, in one transaction: no link without the
    dispatch, no dispatch without its link. The link is made whatever the bike's number of active links (the limit
    never refuses the police one); while it lives it counts among them."""
    now = context.clock.now()
    ttl = timedelta(seconds=accounts.settings.live_link_ttl_s)

    async def work(connection: Any) -> tuple[str, ShareLink, int]:
        token, link = await create_link(connection, imei=imei, created_by=principal.name, now=now, ttl=ttl)
        dispatch = await confirm_theft(
            connection, imei, actor=principal.name, live_link=share_url(context, token), now=now
        )
        return token, link, dispatch.id

    try:
        token, link, dispatch_id = await in_transaction(context.engine, work)
    except TrackerNotFound:
        raise HTTPException(404, detail=f"no tracker {imei}") from None
    except NoPositionYet:
        raise HTTPException(
            409, detail="the tracker has sent no position yet: there is nothing to hand to the police"
        ) from None
    except DispatchConflict as exc:
        raise HTTPException(409, detail=f"the theft dispatch changed meanwhile: {exc.reason}") from None
    context.committed()
    context.logger.warning("theft of %s confirmed by %s: dispatch %d", imei, principal.name, dispatch_id)
    return TheftOut(dispatch_id=dispatch_id, link=_created(context, token, link))


async def new_share(
    context: ApiContext, accounts: OwnerAccounts, imei: str, body: ShareBody, *, principal: Principal
) -> ShareCreated:
    settings = accounts.settings
    ttl_s = settings.share_default_ttl_s if body.ttl_s is None else body.ttl_s
    if ttl_s > settings.share_max_ttl_s:
        raise HTTPException(422, detail=f"a link may live at most {settings.share_max_ttl_s} s")
    now = context.clock.now()
    async with context.engine.begin() as connection:
        if await count_active(connection, imei, now) >= settings.max_active_links:
            raise HTTPException(
                409, detail=f"the bike has {settings.max_active_links} active links: revoke one first"
            )
        token, link = await create_link(
            connection, imei=imei, created_by=principal.name, now=now, ttl=timedelta(seconds=ttl_s)
        )
    context.logger.info("share link %s for %s by %s until %s", link.id, imei, principal.name, link.expires_at)
    return _created(context, token, link)


def share_out(link: ShareLink, now: datetime) -> ShareOut:
    return ShareOut(
        id=link.id,
        created_by=link.created_by,
        created_at=link.created_at,
        expires_at=link.expires_at,
        revoked_at=link.revoked_at,
        active=link.active(now),
    )


async def shares_of(context: ApiContext, imei: str) -> list[ShareOut]:
    now = context.clock.now()
    async with context.engine.connect() as connection:
        links = await links_of(connection, imei)
    return [share_out(link, now) for link in links]


async def revoke_share(context: ApiContext, imei: str, link_id: str, *, principal: Principal) -> ShareOut:
    now = context.clock.now()
    async with context.engine.begin() as connection:
        link = await revoke_link(connection, imei=imei, link_id=link_id, now=now)
    if link is None:
        raise HTTPException(404, detail=f"no share link {link_id} for this bike")
    context.logger.info("share link %s of %s revoked by %s", link_id, imei, principal.name)
    return share_out(link, now)


async def tracker_command(
    context: ApiContext, view: TrackerView, name: str, *, principal: Principal
) -> CommandOut:
    """Recorded, then handed to the gateway the tracker reports through, addressed to the tracker by its IMEI."""
    if view.site is None:
        raise HTTPException(409, detail="the tracker has not reported through a gateway yet: it cannot be reached")
    return await issue_command(
        context, site=view.site, name=name, args={"device": view.imei, "user": principal.name},
        issued_by=principal.name, target=f"tracker {view.imei}",
    )


async def tracker_command_result(context: ApiContext, imei: str, cmd_id: str) -> CommandOut:
    """A command sent to this tracker; any other command is not found here."""
    async with context.engine.connect() as connection:
        command = await get_command(connection, cmd_id)
    if command is None or command.args.get("device") != imei:
        raise HTTPException(404, detail=f"no command {cmd_id} for this bike")
    return CommandOut.model_validate(command)


# -- the owner's routes ------------------------------------------------------------------------------------------------


async def _mine(context: ApiContext, principal: Principal, imei: str) -> TrackerView:
    assert principal.owner_id is not None
    async with context.engine.connect() as connection:
        view = await get_tracker(connection, imei, owner_id=principal.owner_id)
    if view is None:
        raise HTTPException(404, detail=NOT_YOURS)
    return view


@router.post(
    "/my/bikes",
    status_code=201,
    response_model=BikeOut,
    responses={
        404: {"description": "no tracker with this IMEI and bind code"},
        409: {"description": "the tracker has an owner"},
        429: {"description": "too many failed claims"},
    },
)
async def claim(body: ClaimBody, principal: Owner, context: Context, accounts: Accounts) -> BikeOut:
    """Claim a tracker an operator provisioned, with the bind code printed on its box."""
    for problem in (imei_problem(body.imei), bind_code_problem(body.bind_code)):
        if problem is not None:
            raise HTTPException(422, detail=problem)
    assert principal.owner_id is not None
    # Counted per owner and per tracker (sign-ups are free: guesses spread over many accounts are braked by the
    # tracker's count), as failed until they succeed.
    keys = (principal.name, f"imei:{body.imei}")
    left = accounts.claims.attempt(*keys, now=context.clock.monotonic())
    if left > 0:
        seconds = int(left) + 1
        raise HTTPException(429, detail=f"too many failed claims: try again in {seconds} s",
                            headers={"Retry-After": str(seconds)})
    now = context.clock.now()
    try:
        async with context.engine.begin() as connection:
            await claim_tracker(
                connection, imei=body.imei, bind_code=body.bind_code, owner_id=principal.owner_id,
                name=body.name, plate=body.plate, now=now,
            )
            # A new owner is followed by nobody: links made before (an operator's, for the last owner) end here.
            await revoke_links_by(connection, imei=body.imei, created_by=None, now=now)
    except ClaimRefused as refused:
        if refused.reason == "taken":
            raise HTTPException(
                409, detail="this tracker has an owner already: ask them to release it, or call the operator"
            ) from None
        raise HTTPException(404, detail="no tracker with this IMEI and bind code: check both on the box") from None
    for key in keys:
        accounts.claims.succeeded(key)
    context.logger.info("tracker %s claimed by %s", body.imei, principal.name)
    return bike_out(await _mine(context, principal, body.imei), now)


@router.get("/my/bikes", response_model=list[BikeOut])
async def my_bikes(principal: Owner, context: Context) -> list[BikeOut]:
    assert principal.owner_id is not None
    async with context.engine.connect() as connection:
        views = await owned_trackers(connection, principal.owner_id)
    now = context.clock.now()
    return [bike_out(view, now) for view in views]


@router.get("/my/bikes/{imei}", response_model=BikeOut, responses={404: {"description": NOT_YOURS}})
async def my_bike(imei: ImeiPath, principal: Owner, context: Context) -> BikeOut:
    return bike_out(await _mine(context, principal, imei), context.clock.now())


@router.patch("/my/bikes/{imei}", response_model=BikeOut, responses={404: {"description": NOT_YOURS}})
async def rename(imei: ImeiPath, body: BikeUpdate, principal: Owner, context: Context) -> BikeOut:
    assert principal.owner_id is not None
    async with context.engine.begin() as connection:
        done = await rename_tracker(
            connection, imei, owner_id=principal.owner_id, name=body.name, plate=body.plate, now=context.clock.now()
        )
    if not done:
        raise HTTPException(404, detail=NOT_YOURS)
    return await my_bike(imei, principal, context)


@router.delete(
    "/my/bikes/{imei}", status_code=204, response_class=Response, responses={404: {"description": NOT_YOURS}}
)
async def release(imei: ImeiPath, principal: Owner, context: Context) -> Response:
    """Give the bike up: it is disarmed, the links this owner made for it are revoked, and it is claimable again
    with its bind code."""
    view = await _mine(context, principal, imei)
    assert principal.owner_id is not None
    owner_id = principal.owner_id
    now = context.clock.now()

    async def work(connection: Any) -> bool:
        if view.armed:
            await set_armed(connection, imei, armed=False, actor=principal.name, now=now)
        await revoke_links_by(connection, imei=imei, created_by=principal.name, now=now)
        return await release_tracker(connection, imei, owner_id=owner_id, now=now)

    try:
        released = await in_transaction(context.engine, work)
    except TrackerNotFound:
        released = False
    if not released:
        raise HTTPException(404, detail=NOT_YOURS)
    context.logger.info("tracker %s released by %s", imei, principal.name)
    return Response(status_code=204)


@router.post("/my/bikes/{imei}/arm", response_model=BikeOut, responses={404: {"description": NOT_YOURS}})
async def arm(imei: ImeiPath, principal: Owner, context: Context) -> BikeOut:
    await _mine(context, principal, imei)
    await set_arming(context, imei, armed=True, principal=principal)
    return await my_bike(imei, principal, context)


@router.post("/my/bikes/{imei}/disarm", response_model=BikeOut, responses={404: {"description": NOT_YOURS}})
async def disarm(imei: ImeiPath, principal: Owner, context: Context) -> BikeOut:
    await _mine(context, principal, imei)
    await set_arming(context, imei, armed=False, principal=principal)
    return await my_bike(imei, principal, context)


@router.get("/my/bikes/{imei}/track", response_model=TrackOut, responses={404: {"description": NOT_YOURS}})
async def track(
    imei: ImeiPath,
    principal: Owner,
    context: Context,
    accounts: Accounts,
    start: FromQuery = None,
    end: ToQuery = None,
    source: Source = "gps",
    limit: Limit = 1000,
    cursor: CursorQuery = None,
) -> TrackOut:
    window = track_window(start, end, now=context.clock.now(), settings_days=accounts.settings.max_track_days)
    view = await _mine(context, principal, imei)
    return await track_page(context, view, window.owners_part(view), source=source, cursor=cursor, limit=limit)


@router.get(
    "/my/bikes/{imei}/track.{fmt}",
    response_class=StreamingResponse,
    responses={
        200: {"content": {media: {} for media in MEDIA_TYPES.values()}},
        404: {"description": NOT_YOURS},
    },
)
async def track_file(
    imei: ImeiPath,
    fmt: Annotated[Format, Path(description="gpx, kml or csv")],
    principal: Owner,
    context: Context,
    accounts: Accounts,
    start: FromQuery = None,
    end: ToQuery = None,
) -> StreamingResponse:
    window = track_window(start, end, now=context.clock.now(), settings_days=accounts.settings.max_track_days)
    view = await _mine(context, principal, imei)
    return track_download(context, view, window.owners_part(view), fmt)


@router.post(
    "/my/bikes/{imei}/theft",
    response_model=TheftOut,
    responses={404: {"description": NOT_YOURS}, 409: {"description": "no position yet"}},
)
async def theft(imei: ImeiPath, principal: Owner, context: Context, accounts: Accounts) -> TheftOut:
    """Confirm the bike is stolen: the police get the dispatch with a live link to the bike's position."""
    await _mine(context, principal, imei)
    return await theft_confirmed(context, accounts, imei, principal=principal)


@router.post(
    "/my/bikes/{imei}/share",
    status_code=201,
    response_model=ShareCreated,
    responses={404: {"description": NOT_YOURS}, 409: {"description": "too many active links"}},
)
async def share(
    imei: ImeiPath, principal: Owner, context: Context, accounts: Accounts, body: ShareBody | None = None
) -> ShareCreated:
    await _mine(context, principal, imei)
    return await new_share(context, accounts, imei, body or ShareBody(), principal=principal)


@router.get("/my/bikes/{imei}/shares", response_model=list[ShareOut], responses={404: {"description": NOT_YOURS}})
async def shares(imei: ImeiPath, principal: Owner, context: Context) -> list[ShareOut]:
    """Every link of the bike, whoever made it (the owner sees who can follow the bike)."""
    await _mine(context, principal, imei)
    return await shares_of(context, imei)


@router.delete(
    "/my/bikes/{imei}/shares/{link_id}", response_model=ShareOut, responses={404: {"description": "no such link"}}
)
async def unshare(imei: ImeiPath, link_id: LinkIdPath, principal: Owner, context: Context) -> ShareOut:
    await _mine(context, principal, imei)
    return await revoke_share(context, imei, link_id, principal=principal)


@router.post(
    "/my/bikes/{imei}/commands",
    status_code=202,
    response_model=CommandOut,
    responses={404: {"description": NOT_YOURS}, **COMMAND_REFUSALS},
)
async def command(imei: ImeiPath, body: TrackerCommandBody, principal: Owner, context: Context) -> CommandOut:
    view = await _mine(context, principal, imei)
    return await tracker_command(context, view, body.name, principal=principal)


@router.get(
    "/my/bikes/{imei}/commands/{cmd_id}", response_model=CommandOut, responses={404: {"description": NOT_YOURS}}
)
async def command_result(imei: ImeiPath, cmd_id: CmdIdPath, principal: Owner, context: Context) -> CommandOut:
    await _mine(context, principal, imei)
    return await tracker_command_result(context, imei, cmd_id)
