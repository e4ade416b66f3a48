"""Registrations and cards at rental sites (cards at mines too), and the sites' signed allow-lists.

A registration binds the person an ID card reader read at a service point (the `id_read` reading, by its id or by
the site's seq) to a free bed. Every change to who may open which door (a card issued or revoked, a tenant moving
out) sends the site its next complete list; the answer tells whether it went out. A watch-list hit at registration
is silent: the answer is the same as for anybody else.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.auth import Actor, Principal, Reader
from central.api.context import Context
from central.api.routes_people_common import People, PersonOut, person_out, site_of_kind
from central.api.routes_sites import SitePath
from central.api.schemas import MAX_ID, SITE_PATTERN, RequestBody
from central.people import access_lists, cards, persons, places, tenancy
from central.people.hits import REGISTRATION, screen, sighting_of
from central.people.push import ListSent, push
from central.store.schema import readings
from drivers.idcard import gb11643
from shaobing.access_list import ALL_DOORS
from shaobing.card_names import canonical_card
from shaobing.envelope import Kind

router = APIRouter(tags=["registrations and cards"])

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
DOOR = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
UID = re.compile(r"^(?:[0-9A-F]{2}){2,16}$")  # a contactless UID: whole bytes, 2 to 16 of them


class RegistrationBody(RequestBody):
    site: str = Field(pattern=SITE_PATTERN)
    bed_id: int = Field(ge=1, le=MAX_ID)
    reading_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    seq: int | None = Field(default=None, ge=0, le=MAX_ID)

    @model_validator(mode="after")
    def _one_reading(self) -> RegistrationBody:
        if (self.reading_id is None) == (self.seq is None):
            raise ValueError("name the ID card read by reading_id or by seq (one of them)")
        return self


class RegistrationOut(BaseModel):
    id: int
    site: str
    bed_id: int
    reading_id: int
    person: PersonOut
    moved_in_at: datetime
    moved_in_by: str
    moved_out_at: datetime | None
    access_list: ListSent | None = None


class CardBody(RequestBody):
    site: str = Field(pattern=SITE_PATTERN)
    uid: str = Field(max_length=64, description="hex UID, or W26:/W34:facility:number as a Wiegand door reader reads "
                     "it; kept in the canonical form the site's drivers name cards by")
    person_id: int = Field(ge=1, le=MAX_ID)
    doors: list[str] = Field(default_factory=lambda: [ALL_DOORS], min_length=1, max_length=64)
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    @field_validator("uid")
    @classmethod
    def _uid(cls, uid: str) -> str:
        card = canonical_card(uid)
        if card is None or (not card.startswith("W") and not UID.match(card)):
            raise ValueError("a card is hex of 2 to 16 whole bytes, or W26:/W34:facility:number")
        return card

    @field_validator("doors")
    @classmethod
    def _doors(cls, doors: list[str]) -> list[str]:
        if doors == [ALL_DOORS]:
            return doors
        for door in doors:
            if not DOOR.match(door):
                raise ValueError(f"a door is {ALL_DOORS!r} alone or a name of letters, digits, '_', '.', '-'")
        return sorted(set(doors))

    @model_validator(mode="after")
    def _window(self) -> CardBody:
        for moment in (self.valid_from, self.valid_to):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("validity bounds need a time zone (2026-11-24T08:00:00Z)")
            try:
                if moment is not None:
                    moment.astimezone(UTC)
            except OverflowError:
                raise ValueError("validity bounds must lie between years 1 and 9999 in UTC") from None
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        return self


class CardOut(BaseModel):
    id: int
    site: str
    uid: str
    person_id: int
    doors: list[str]
    valid_from: datetime | None
    valid_to: datetime | None
    issued_at: datetime
    issued_by: str
    revoked_at: datetime | None
    access_list: ListSent | None = None


def _card_out(card: cards.Card, sent: ListSent | None = None) -> CardOut:
    return CardOut(id=card.id, site=card.site, uid=card.uid, person_id=card.person_id, doors=card.doors,
                   valid_from=card.valid_from, valid_to=card.valid_to, issued_at=card.issued_at,
                   issued_by=card.issued_by, revoked_at=card.revoked_at, access_list=sent)


async def _id_read(connection: AsyncConnection, body: RegistrationBody) -> tuple[int, dict[str, object], datetime]:
    query = select(readings.c.id, readings.c.site, readings.c.kind, readings.c.data, readings.c.ts)
    query = query.where(readings.c.id == body.reading_id) if body.reading_id is not None else query.where(
        readings.c.site == body.site, readings.c.seq == body.seq)
    row = (await connection.execute(query)).first()
    if row is None or row.site != body.site:
        raise HTTPException(404, detail=f"no reading {body.reading_id or body.seq} of site {body.site!r}")
    if row.kind != Kind.ID_READ.value:
        raise HTTPException(422, detail=f"reading {row.id} is a {row.kind} reading, not an id_read")
    return int(row.id), dict(row.data), row.ts


def _registration_out(principal: Principal, found: tenancy.Tenancy, person: persons.Person,
                      sent: ListSent | None = None) -> RegistrationOut:
    return RegistrationOut(
        id=found.id, site=found.site, bed_id=found.bed_id, reading_id=found.reading_id, moved_in_at=found.moved_in_at,
        moved_in_by=found.moved_in_by, moved_out_at=found.moved_out_at, access_list=sent,
        person=person_out(principal, person_id=person.id, id_number=person.id_number, name=person.name,
                          key_person=person.key_person, last_seen_at=person.last_seen_at),
    )


@router.post("/registrations", status_code=201, response_model=RegistrationOut, responses={
    404: {"description": "unknown site, reading or bed"}, 409: {"description": "bed taken, or living there already"},
    422: {"description": "not an id_read, or its ID number is not valid"}})
async def register(body: RegistrationBody, principal: Actor, context: Context, people: People) -> RegistrationOut:
    now = context.clock.now()
    try:
        async with context.engine.begin() as connection:
            await site_of_kind(connection, body.site, "rental")
            reading_id, data, seen_at = await _id_read(connection, body)
            raw = data.get("id_number")
            number = gb11643.normalize(raw) if isinstance(raw, str) else ""
            if data.get("id_number_valid") is False or not gb11643.is_valid(number):
                raise HTTPException(422, detail=f"reading {reading_id} has no valid ID number (GB 11643)")
            if await places.bed_site(connection, body.bed_id) != body.site:
                raise HTTPException(404, detail=f"no bed {body.bed_id} at site {body.site!r}")
            person = await persons.upsert(connection, number, persons.read_fields(data), now=now)
            found = await tenancy.move_in(connection, site=body.site, bed_id=body.bed_id, person_id=person.id,
                                          reading_id=reading_id, by=principal.name, now=now)
            sighting = sighting_of(data, id_number=number, source=REGISTRATION, site=body.site,
                                   reading_id=reading_id, seen_at=seen_at)
            hit = await screen(connection, people.watchlist_key, sighting, police=context.settings.recipients.police,
                               at=now)
    except IntegrityError:
        raise HTTPException(409, detail="the bed is taken, or the person lives at this site already") from None
    if hit is not None:
        context.committed()
    context.logger.info("registration %d at %s: person %d on bed %d by %s", found.id, body.site, person.id,
                        body.bed_id, principal.name)
    return _registration_out(principal, found, person)


@router.post("/registrations/{registration_id}/move-out", response_model=RegistrationOut, responses={
    404: {"description": "unknown registration"}, 409: {"description": "moved out already"}})
async def move_out(registration_id: IdPath, principal: Actor, context: Context, people: People) -> RegistrationOut:
    """The tenancy ends, the person's cards at the site are revoked and the site gets its next list."""
    now = context.clock.now()
    async with context.engine.begin() as connection:
        found = await tenancy.get(connection, registration_id)
        if found is None:
            raise HTTPException(404, detail=f"no registration {registration_id}")
        if not await tenancy.move_out(connection, registration_id, by=principal.name, now=now):
            raise HTTPException(409, detail=f"registration {registration_id} has ended already")
        await cards.revoke_person(connection, found.site, found.person_id, by=principal.name, now=now)
        args = await access_lists.next_list(connection, found.site, now=now)
        ended = await tenancy.get(connection, registration_id)
        person = await persons.get(connection, found.person_id)
    assert ended is not None
    assert person is not None
    sent = await push(context, args, key=people.access_list_key, actor=principal.name)
    return _registration_out(principal, ended, person, sent)


@router.post("/cards", status_code=201, response_model=CardOut, responses={
    404: {"description": "unknown site or person"},
    409: {"description": "the UID is bound already, the person does not live there, or the site is not rental/mine"}})
async def issue_card(body: CardBody, principal: Actor, context: Context, people: People) -> CardOut:
    now = context.clock.now()
    uid = body.uid
    try:
        async with context.engine.begin() as connection:
            kind = await _card_site_kind(connection, body.site)
            if await persons.get(connection, body.person_id) is None:
                raise HTTPException(404, detail=f"no person {body.person_id}")
            if kind == "rental" and await tenancy.current_of(connection, body.site, body.person_id) is None:
                raise HTTPException(409, detail=f"person {body.person_id} does not live at {body.site!r}: register "
                                    "them on a bed first")
            card = await cards.issue(connection, site=body.site, uid=uid, person_id=body.person_id, doors=body.doors,
                                     valid_from=body.valid_from, valid_to=body.valid_to, by=principal.name, now=now)
            args = await access_lists.next_list(connection, body.site, now=now)
    except IntegrityError:
        raise HTTPException(409, detail=f"card {uid} is bound at {body.site!r} already: revoke it first") from None
    sent = await push(context, args, key=people.access_list_key, actor=principal.name)
    return _card_out(card, sent)


async def _card_site_kind(connection: AsyncConnection, site: str) -> str:
    for kind in ("rental", "mine"):
        try:
            await site_of_kind(connection, site, kind)
            return kind
        except HTTPException as refused:
            if refused.status_code == 404:
                raise
    raise HTTPException(409, detail=f"site {site!r} is neither a rental nor a mine site: it has no cards")


@router.post("/cards/{card_id}/revoke", response_model=CardOut, responses={
    404: {"description": "unknown card"}, 409: {"description": "revoked already"}})
async def revoke_card(card_id: IdPath, principal: Actor, context: Context, people: People) -> CardOut:
    now = context.clock.now()
    async with context.engine.begin() as connection:
        if await cards.get(connection, card_id) is None:
            raise HTTPException(404, detail=f"no card {card_id}")
        if not await cards.revoke(connection, card_id, by=principal.name, now=now):
            raise HTTPException(409, detail=f"card {card_id} is revoked already")
        card = await cards.get(connection, card_id)
        assert card is not None
        args = await access_lists.next_list(connection, card.site, now=now)
    sent = await push(context, args, key=people.access_list_key, actor=principal.name)
    return _card_out(card, sent)


@router.get("/sites/{site}/cards", response_model=list[CardOut], responses={404: {"description": "unknown site"}})
async def site_cards(site: SitePath, _principal: Reader, context: Context,
                     revoked: Annotated[bool, Query(description="include revoked cards")] = False) -> list[CardOut]:
    async with context.engine.connect() as connection:
        await _card_site_kind(connection, site)
        return [_card_out(card) for card in await cards.of_site(connection, site, include_revoked=revoked)]


@router.post("/sites/{site}/access-list", response_model=ListSent, responses={404: {"description": "unknown site"}})
async def resend_list(site: SitePath, principal: Actor, context: Context, people: People) -> ListSent:
    """Send the site its list again, under the next version (after a failed send, or a site replaced)."""
    now = context.clock.now()
    async with context.engine.begin() as connection:
        await _card_site_kind(connection, site)
        args = await access_lists.next_list(connection, site, now=now)
    return await push(context, args, key=people.access_list_key, actor=principal.name)
