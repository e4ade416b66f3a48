"""Places and persons: a site's kind (rental, mine), a rental site's buildings, rooms and beds, and persons entered
from a residence card (miners). ID numbers are masked below supervisor and names partly for viewers
(central.people.masking)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, Field
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from central.api.auth import Actor, Principal, Reader, Role, require
from central.api.context import Context
from central.api.routes_people_common import PersonOut, person_out, site_of_kind
from central.api.routes_sites import SitePath
from central.api.schemas import MAX_ID, RequestBody
from central.people import persons, places
from central.store.dialect import insert_ignoring_conflicts
from central.store.schema import sites
from drivers.idcard import gb11643

router = APIRouter(tags=["people"])

Supervisor = Annotated[Principal, Depends(require(frozenset({Role.SUPERVISOR, Role.ADMIN})))]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
NAME = r"^[^\x00-\x1f]{1,128}$"


class SiteKindBody(RequestBody):
    kind: Literal["shop", "rental", "mine", "tracker_gateway"]
    name: str | None = Field(default=None, max_length=200, pattern=r"^[^\x00-\x1f]*$")


class NameBody(RequestBody):
    name: str = Field(pattern=NAME)


class Created(BaseModel):
    id: int
    name: str


class BedOut(BaseModel):
    building_id: int
    building: str
    room_id: int | None
    room: str | None
    bed_id: int | None
    bed: str | None
    tenancy_id: int | None
    person: PersonOut | None


class PersonBody(RequestBody):
    id_number: str = Field(min_length=18, max_length=18)
    name: str = Field(pattern=r"^[^\x00-\x1f]{1,64}$")
    key_person: bool = False


class KeyPersonBody(RequestBody):
    key_person: bool


@router.put("/sites/{site}/kind", responses={403: {"description": "supervisor or admin only"}})
async def set_site_kind(site: SitePath, body: SiteKindBody, principal: Supervisor, context: Context) -> dict[str, str]:
    """A site's kind (created if central has not heard from it yet): `rental` for buildings and registrations,
    `mine` for pithead doors and the underground headcount."""
    async with context.engine.begin() as connection:
        await connection.execute(insert_ignoring_conflicts(connection.dialect.name, sites, ["id"])
                                 .values(id=site, name=body.name or "", kind=body.kind))
        values: dict[str, str] = {"kind": body.kind}
        if body.name is not None:
            values["name"] = body.name
        await connection.execute(update(sites).where(sites.c.id == site).values(**values))
    context.logger.info("site %s is a %s site (by %s)", site, body.kind, principal.name)
    return {"site": site, "kind": body.kind}


def _taken(what: str) -> HTTPException:
    return HTTPException(409, detail=f"{what} of that name exists already")


@router.post("/sites/{site}/buildings", status_code=201, response_model=Created,
             responses={404: {"description": "unknown site"}, 409: {"description": "not a rental site, or taken"}})
async def add_building(site: SitePath, body: NameBody, _principal: Actor, context: Context) -> Created:
    try:
        async with context.engine.begin() as connection:
            await site_of_kind(connection, site, "rental")
            return Created(id=await places.add_building(connection, site, body.name), name=body.name)
    except IntegrityError:
        raise _taken("a building") from None


@router.post("/buildings/{building_id}/rooms", status_code=201, response_model=Created,
             responses={404: {"description": "unknown building"}, 409: {"description": "taken"}})
async def add_room(building_id: IdPath, body: NameBody, _principal: Actor, context: Context) -> Created:
    try:
        async with context.engine.begin() as connection:
            if await places.building_site(connection, building_id) is None:
                raise HTTPException(404, detail=f"no building {building_id}")
            return Created(id=await places.add_room(connection, building_id, body.name), name=body.name)
    except IntegrityError:
        raise _taken("a room") from None


@router.post("/rooms/{room_id}/beds", status_code=201, response_model=Created,
             responses={404: {"description": "unknown room"}, 409: {"description": "taken"}})
async def add_bed(room_id: IdPath, body: NameBody, _principal: Actor, context: Context) -> Created:
    try:
        async with context.engine.begin() as connection:
            if await places.room_site(connection, room_id) is None:
                raise HTTPException(404, detail=f"no room {room_id}")
            return Created(id=await places.add_bed(connection, room_id, body.name), name=body.name)
    except IntegrityError:
        raise _taken("a bed") from None


@router.get("/sites/{site}/beds", response_model=list[BedOut], responses={404: {"description": "unknown site"}})
async def site_beds(site: SitePath, principal: Reader, context: Context) -> list[BedOut]:
    async with context.engine.connect() as connection:
        await site_of_kind(connection, site, "rental")
        rows = await places.layout(connection, site)
    return [BedOut(
        building_id=row.building_id, building=row.building, room_id=row.room_id, room=row.room, bed_id=row.bed_id,
        bed=row.bed, tenancy_id=row.tenancy_id,
        person=None if row.person_id is None else person_out(
            principal, person_id=row.person_id, id_number=row.id_number, name=row.person_name,
            key_person=row.key_person),
    ) for row in rows]


@router.post("/persons", status_code=201, response_model=PersonOut,
             responses={422: {"description": "not a valid ID number (GB 11643)"}})
async def add_person(body: PersonBody, principal: Actor, context: Context) -> PersonOut:
    """A person from a residence card (a miner): created, or updated when the ID number is known. (Not compared with
    the watch-list: a 110 dispatch names the reading it comes from; the person's ID card read is compared.)"""
    number = gb11643.normalize(body.id_number)
    if not gb11643.is_valid(number):
        raise HTTPException(422, detail="id_number is not a valid ID number (GB 11643 check character or date)")
    now = context.clock.now()
    async with context.engine.begin() as connection:
        person = await persons.upsert(connection, number, {"name": body.name, "key_person": body.key_person},
                                      now=now)
    return person_out(principal, person_id=person.id, id_number=person.id_number, name=person.name,
                      key_person=person.key_person, last_seen_at=person.last_seen_at)


@router.get("/persons/{person_id}", response_model=PersonOut, responses={404: {"description": "unknown person"}})
async def person_detail(person_id: IdPath, principal: Reader, context: Context) -> PersonOut:
    async with context.engine.connect() as connection:
        person = await persons.get(connection, person_id)
    if person is None:
        raise HTTPException(404, detail=f"no person {person_id}")
    return person_out(principal, person_id=person.id, id_number=person.id_number, name=person.name,
                      key_person=person.key_person, last_seen_at=person.last_seen_at)


@router.patch("/persons/{person_id}", response_model=PersonOut, responses={404: {"description": "unknown person"}})
async def mark_key_person(person_id: IdPath, body: KeyPersonBody, principal: Actor, context: Context) -> PersonOut:
    async with context.engine.begin() as connection:
        if not await persons.set_key_person(connection, person_id, body.key_person, now=context.clock.now()):
            raise HTTPException(404, detail=f"no person {person_id}")
        person = await persons.get(connection, person_id)
    assert person is not None
    return person_out(principal, person_id=person.id, id_number=person.id_number, name=person.name,
                      key_person=person.key_person, last_seen_at=person.last_seen_at)
