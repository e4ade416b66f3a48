"""Mine communities: pithead doors (which way a granted swipe takes a miner), who is below ground and since when,
and the movements recorded from granted card swipes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel
from sqlalchemy import delete, select

from central.api.auth import Actor, Reader
from central.api.context import Context
from central.api.routes_people_common import People, PersonOut, person_out, site_of_kind
from central.api.routes_sites import SitePath
from central.api.schemas import RequestBody
from central.people.mines import below_query
from central.store.dialect import insert_ignoring_conflicts
from central.store.schema import movements, pithead_doors

router = APIRouter(tags=["mines"])

DoorPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="door name as the site reports it")]


class DoorBody(RequestBody):
    direction: Literal["in", "out"]


class DoorOut(BaseModel):
    door: str
    direction: str


class BelowOut(BaseModel):
    person: PersonOut
    since: datetime


class UndergroundOut(BaseModel):
    site: str
    count: int
    limit: int | None  # None: no limit configured
    over_limit: bool
    people: list[BelowOut]


class MovementOut(BaseModel):
    id: int
    person_id: int | None
    card: str
    reader: str | None
    door: str | None
    direction: str | None
    at: datetime


@router.put("/mines/{site}/doors/{door}", response_model=DoorOut,
            responses={404: {"description": "unknown site"}, 409: {"description": "not a mine site"}})
async def set_door(site: SitePath, door: DoorPath, body: DoorBody, _principal: Actor, context: Context) -> DoorOut:
    async with context.engine.begin() as connection:
        await site_of_kind(connection, site, "mine")
        await connection.execute(delete(pithead_doors).where(pithead_doors.c.site == site,
                                                             pithead_doors.c.door == door))
        await connection.execute(insert_ignoring_conflicts(connection.dialect.name, pithead_doors, ["site", "door"])
                                 .values(site=site, door=door, direction=body.direction))
    return DoorOut(door=door, direction=body.direction)


@router.delete("/mines/{site}/doors/{door}", status_code=204,
               responses={404: {"description": "unknown site or door"}})
async def remove_door(site: SitePath, door: DoorPath, _principal: Actor, context: Context) -> None:
    async with context.engine.begin() as connection:
        await site_of_kind(connection, site, "mine")
        result = await connection.execute(delete(pithead_doors).where(pithead_doors.c.site == site,
                                                                      pithead_doors.c.door == door))
    if not result.rowcount:
        raise HTTPException(404, detail=f"no pithead door {door!r} at {site!r}")


@router.get("/mines/{site}/doors", response_model=list[DoorOut])
async def list_doors(site: SitePath, _principal: Reader, context: Context) -> list[DoorOut]:
    async with context.engine.connect() as connection:
        await site_of_kind(connection, site, "mine")
        rows = await connection.execute(select(pithead_doors).where(pithead_doors.c.site == site)
                                        .order_by(pithead_doors.c.door))
        return [DoorOut(door=row.door, direction=row.direction) for row in rows]


@router.get("/mines/{site}/underground", response_model=UndergroundOut,
            responses={404: {"description": "unknown site"}, 409: {"description": "not a mine site"}})
async def underground_now(site: SitePath, principal: Reader, context: Context, people: People) -> UndergroundOut:
    """Who is below ground now (longest first) and how many, against the configured limit."""
    async with context.engine.connect() as connection:
        await site_of_kind(connection, site, "mine")
        rows = (await connection.execute(below_query(site))).all()
    limit = people.limit_of(site) or None
    below = [BelowOut(since=row.since, person=person_out(principal, person_id=row.person_id, id_number=row.id_number,
                                                         name=row.name, key_person=row.key_person)) for row in rows]
    return UndergroundOut(site=site, count=len(below), limit=limit,
                          over_limit=limit is not None and len(below) > limit, people=below)


@router.get("/mines/{site}/movements", response_model=list[MovementOut])
async def movement_list(site: SitePath, _principal: Reader, context: Context,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[MovementOut]:
    """Newest first."""
    async with context.engine.connect() as connection:
        await site_of_kind(connection, site, "mine")
        rows = await connection.execute(select(movements).where(movements.c.site == site)
                                        .order_by(movements.c.at.desc(), movements.c.id.desc()).limit(limit))
        return [MovementOut.model_validate(row, from_attributes=True) for row in rows]
