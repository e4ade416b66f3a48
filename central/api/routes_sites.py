"""Sites as central knows them: online, armed, last seq, gaps in their sequence, open trouble tickets; the overview
filtered, a site's profile (kept by supervisors, every change in the audit log) and its recent history."""

from __future__ import annotations

import math
import unicodedata
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.auth import PERSONAL_DATA_ROLES, Actor, Principal, Reader, Role, require
from central.api.context import Context
from central.api.routes_readings import masked
from central.api.schemas import SITE_PATTERN, GapOut, RequestBody, SiteOut, TicketOut
from central.people.hits import STAFF_HIDDEN_CLASSES
from central.store.gaps import open_gaps
from central.store.schema import seq_gaps, tickets
from central.store.site_profiles import UnknownSite, update_profile
from central.store.sites import Site, get_site, list_sites
from central.store.tickets import SOURCE_INGEST, close_ticket_by_id, list_tickets
from central.store.timeline import READING, CursorError, Event, decode_cursor, site_timeline

router = APIRouter(tags=["sites"])

# Who keeps the sites' profiles: the shift's supervisors and the administrators.
PROFILE_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
Supervisor = Annotated[Principal, Depends(require(PROFILE_ROLES))]
MAX_TIMELINE_PAGE = 500
MAX_SUMMARY = 160
# The fields of a reading that say most about it, in the order a summary names them.
SUMMARY_FIELDS = ("class", "state", "qualifier", "zone", "partition", "user", "code", "name", "id_number", "detail")

SitePath = Annotated[str, Path(pattern=SITE_PATTERN, description="site id")]


async def _counts(connection: AsyncConnection, site: str | None) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
    gap_query = select(
        seq_gaps.c.site, func.count(), func.sum(seq_gaps.c.last_seq - seq_gaps.c.first_seq + 1)
    ).group_by(seq_gaps.c.site)
    ticket_query = select(tickets.c.site, func.count()).where(tickets.c.closed_at.is_(None)).group_by(tickets.c.site)
    if site is not None:
        gap_query = gap_query.where(seq_gaps.c.site == site)
        ticket_query = ticket_query.where(tickets.c.site == site)
    gaps = {row[0]: (int(row[1]), int(row[2] or 0)) for row in await connection.execute(gap_query)}
    open_tickets = {row[0]: int(row[1]) for row in await connection.execute(ticket_query)}
    return gaps, open_tickets


def _site_out(site: Site, gaps: dict[str, tuple[int, int]], open_tickets: dict[str, int]) -> SiteOut:
    gap_count, missing = gaps.get(site.id, (0, 0))
    return SiteOut(
        id=site.id,
        name=site.name,
        kind=site.kind,
        online=site.online,
        online_since=site.online_since,
        version=site.version,
        armed=site.armed,
        arming=dict(site.arming or {}),
        last_seq=site.last_seq,
        state_last_seq=site.state_last_seq,
        last_reading_at=site.last_reading_at,
        last_test_at=site.last_test_at,
        open_gaps=gap_count,
        missing_readings=missing,
        open_tickets=open_tickets.get(site.id, 0),
        area=site.area,
        address=site.address,
        lat=site.lat,
        lon=site.lon,
    )


class SiteFilter(BaseModel):
    online: bool | None = None
    armed: bool | None = None
    troubles: bool | None = None
    gaps: bool | None = None
    area: str | None = None

    def keeps(self, site: SiteOut) -> bool:
        return (
            (self.online is None or (site.online is True) == self.online)
            and (self.armed is None or site.armed is self.armed)
            and (self.troubles is None or (site.open_tickets > 0) == self.troubles)
            and (self.gaps is None or (site.open_gaps > 0) == self.gaps)
            and (self.area is None or site.area == self.area)
        )


def site_filter(
    online: Annotated[bool | None, Query(description="true: online; false: offline or never heard")] = None,
    armed: Annotated[bool | None, Query(description="true: armed; false: disarmed (unknown arming is neither)")]
    = None,
    troubles: Annotated[bool | None, Query(description="with (true) or without (false) open trouble tickets")] = None,
    gaps: Annotated[bool | None, Query(description="with (true) or without (false) open sequence gaps")] = None,
    area: Annotated[str | None, Query(min_length=1, max_length=64, description="this patrol area only")] = None,
) -> SiteFilter:
    return SiteFilter(online=online, armed=armed, troubles=troubles, gaps=gaps, area=area)


@router.get("/sites", response_model=list[SiteOut])
async def sites_list(
    _principal: Reader, context: Context, wanted: Annotated[SiteFilter, Depends(site_filter)]
) -> list[SiteOut]:
    """Every site, or those the filters keep (all of them at once)."""
    async with context.engine.connect() as connection:
        sites = await list_sites(connection)
        gaps, open_tickets = await _counts(connection, None)
    return [out for out in (_site_out(site, gaps, open_tickets) for site in sites) if wanted.keeps(out)]


async def _known_site(connection: AsyncConnection, site: str) -> Site:
    found = await get_site(connection, site)
    if found is None:
        raise HTTPException(404, detail=f"no site {site!r}")
    return found


@router.get("/sites/{site}", response_model=SiteOut, responses={404: {"description": "unknown site"}})
async def site_detail(site: SitePath, _principal: Reader, context: Context) -> SiteOut:
    async with context.engine.connect() as connection:
        found = await _known_site(connection, site)
        gaps, open_tickets = await _counts(connection, site)
    return _site_out(found, gaps, open_tickets)


@router.get("/sites/{site}/gaps", response_model=list[GapOut], responses={404: {"description": "unknown site"}})
async def site_gaps(site: SitePath, _principal: Reader, context: Context) -> list[GapOut]:
    async with context.engine.connect() as connection:
        await _known_site(connection, site)
        gaps = await open_gaps(connection, site)
    return [GapOut.model_validate(gap) for gap in gaps]


@router.get("/sites/{site}/tickets", response_model=list[TicketOut], responses={404: {"description": "unknown site"}})
async def site_tickets(
    site: SitePath,
    _principal: Reader,
    context: Context,
    open_only: Annotated[bool, Query(alias="open", description="only tickets not yet closed")] = True,
) -> list[TicketOut]:
    async with context.engine.connect() as connection:
        await _known_site(connection, site)
        found = await list_tickets(connection, site=site, open_only=open_only)
    return [TicketOut.model_validate(ticket) for ticket in found]


@router.post(
    "/sites/{site}/tickets/{ticket_id}/close",
    response_model=list[TicketOut],
    responses={404: {"description": "unknown site or open ticket"}, 409: {"description": "closes by itself"}},
)
async def close_ticket(
    site: SitePath,
    ticket_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    principal: Actor,
    context: Context,
) -> list[TicketOut]:
    """Close a ticket the ingest opened (`seq_reused`, `ingest_failed`) once its cause is dealt with; returns the
    site's open tickets. Other tickets close by themselves when their cause clears (a restore, a test, online)."""
    async with context.engine.begin() as connection:
        await _known_site(connection, site)
        found = [t for t in await list_tickets(connection, site=site) if t.id == ticket_id]
        if not found:
            raise HTTPException(404, detail=f"no open ticket {ticket_id} at site {site!r}")
        if found[0].source != SOURCE_INGEST:
            raise HTTPException(409, detail=f"ticket {ticket_id} ({found[0].source}) closes when its cause clears")
        await close_ticket_by_id(connection, ticket_id, now=context.clock.now())
    context.logger.info("ticket %d (%s) of %s closed by %s", ticket_id, found[0].trouble_class, site, principal.name)
    return await site_tickets(site, principal, context)


def _clean_text(value: str | None, limit: int) -> str | None:
    """Printable text only: no control, format (bidi overrides, zero-width) or unassigned characters."""
    if value is None:
        return None
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise ValueError("must not be empty (null clears it)")
    if len(value) > limit:
        raise ValueError(f"at most {limit} characters")
    for character in value:
        if unicodedata.category(character) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            raise ValueError(f"the character U+{ord(character):04X} is not allowed")
    return value


class SiteProfileBody(RequestBody):
    """The fields given are changed, null clears one (not the name); lat and lon come together."""

    name: str | None = Field(default=None, description="at most 100 characters")
    area: str | None = Field(default=None, description="the patrol area, at most 64 characters")
    address: str | None = Field(default=None, description="at most 200 characters")
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False, strict=True, description="WGS 84")
    lon: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False, strict=True, description="WGS 84")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("a site keeps a name")
        return _clean_text(value, 100)

    @field_validator("area")
    @classmethod
    def _area(cls, value: str | None) -> str | None:
        return _clean_text(value, 64)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return _clean_text(value, 200)

    @model_validator(mode="after")
    def _complete(self) -> SiteProfileBody:
        given = self.model_fields_set
        if not given:
            raise ValueError("nothing to change")
        if ("lat" in given) != ("lon" in given) or (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon are given together (both numbers, or both null)")
        for value in (self.lat, self.lon):
            if value is not None and not math.isfinite(value):
                raise ValueError("coordinates are finite numbers")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


@router.patch(
    "/sites/{site}",
    response_model=SiteOut,
    responses={403: {"description": "supervisor or admin only"}, 404: {"description": "unknown site"}},
)
async def site_profile(site: SitePath, body: SiteProfileBody, principal: Supervisor, context: Context) -> SiteOut:
    """Change a site's profile (name, patrol area, address, position); recorded in the audit log as "site.profile"
    with what changed, in the same transaction."""
    async with context.engine.begin() as connection:
        try:
            changed = await update_profile(connection, site, body.changes(), at=context.clock.now(),
                                           actor=principal.name, role=principal.role.value)
        except UnknownSite:
            raise HTTPException(404, detail=f"no site {site!r}") from None
    if changed:
        context.logger.info("profile of %s changed by %s: %s", site, principal.name, ", ".join(sorted(changed)))
    return await site_detail(site, principal, context)


class TimelineItem(BaseModel):
    at: datetime
    type: str = Field(description="reading, dispatch_raised, dispatch_resolved, ticket_opened, ticket_closed, "
                      "offline, online, gap")
    kind: str | None = Field(default=None, description="a reading's kind")
    device: str | None = None
    summary: str
    detail: dict[str, Any]


class TimelinePage(BaseModel):
    items: list[TimelineItem]
    next_cursor: str | None = Field(description="`before` of the next (older) page; null at the oldest")


def _summary(data: dict[str, Any]) -> str:
    named = [name for name in SUMMARY_FIELDS if name in data]
    others = [name for name in data if name not in SUMMARY_FIELDS]
    parts = []
    for name in [*named, *others]:
        value = data[name]
        if isinstance(value, dict | list) or value is None:
            continue
        parts.append(f"{name}={value}")
    text = " ".join(parts)
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"


def _timeline_item(event: Event, principal: Principal) -> TimelineItem:
    detail = dict(event.fields)
    if event.type == READING:
        data = detail["data"] if principal.role in PERSONAL_DATA_ROLES else masked(detail["data"])
        detail["data"] = data
        return TimelineItem(at=event.at, type=event.type, kind=detail["kind"], device=detail["device"],
                            summary=_summary(data), detail=detail)
    shown = {key: value for key, value in detail.items() if not key.endswith("_id") and key != "source"}
    return TimelineItem(at=event.at, type=event.type, device=detail.get("device"), summary=_summary(shown),
                        detail=detail)


@router.get(
    "/sites/{site}/timeline",
    response_model=TimelinePage,
    responses={404: {"description": "unknown site"}, 422: {"description": "a cursor not handed out here"}},
)
async def site_timeline_page(
    site: SitePath,
    principal: Reader,
    context: Context,
    before: Annotated[str | None, Query(max_length=80, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_TIMELINE_PAGE)] = 100,
) -> TimelinePage:
    """The site's recent history, newest first: readings (personal data masked below supervisor), dispatches raised
    and resolved, tickets opened and closed, the site going offline and coming back, open sequence gaps."""
    try:
        cursor = None if before is None else decode_cursor(before)
    except CursorError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    async with context.engine.connect() as connection:
        await _known_site(connection, site)
        events, next_key = await site_timeline(connection, site, cursor=cursor, limit=limit,
                                               hidden_classes=STAFF_HIDDEN_CLASSES)
    return TimelinePage(items=[_timeline_item(event, principal) for event in events],
                        next_cursor=None if next_key is None else next_key.encode())
