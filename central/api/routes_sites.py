"""Sites as central knows them: online, armed, last seq, gaps in their sequence, open trouble tickets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.auth import Actor, Reader
from central.api.context import Context
from central.api.schemas import SITE_PATTERN, GapOut, SiteOut, TicketOut
from central.store.gaps import open_gaps
from central.store.schema import seq_gaps, tickets
from central.store.sites import Site, get_site, list_sites
from central.store.tickets import SOURCE_INGEST, close_ticket_by_id, list_tickets

router = APIRouter(tags=["sites"])

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
    )


@router.get("/sites", response_model=list[SiteOut])
async def sites_list(_principal: Reader, context: Context) -> list[SiteOut]:
    async with context.engine.connect() as connection:
        sites = await list_sites(connection)
        gaps, open_tickets = await _counts(connection, None)
    return [_site_out(site, gaps, open_tickets) for site in sites]


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
