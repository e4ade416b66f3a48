"""What the people routes share: the `[people]` settings, a site of a given kind, a person as a role may see it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.auth import Principal
from central.people.masking import id_for, name_for
from central.people.settings import PeopleSettings
from central.store.sites import Site, get_site


def _people(request: Request) -> PeopleSettings:
    settings: PeopleSettings = request.app.state.people
    return settings


People = Annotated[PeopleSettings, Depends(_people)]


class PersonOut(BaseModel):
    id: int
    id_number: str  # masked (110101********1234) below supervisor
    name: str  # partly masked (张**) for viewers
    key_person: bool
    last_seen_at: datetime | None = None


def person_out(principal: Principal, *, person_id: int, id_number: str, name: str, key_person: bool,
               last_seen_at: datetime | None = None) -> PersonOut:
    return PersonOut(id=person_id, id_number=id_for(principal, id_number), name=name_for(principal, name),
                     key_person=key_person, last_seen_at=last_seen_at)


async def site_of_kind(connection: AsyncConnection, site: str, kind: str) -> Site:
    found = await get_site(connection, site)
    if found is None:
        raise HTTPException(404, detail=f"no site {site!r}")
    if found.kind != kind:
        raise HTTPException(409, detail=f"site {site!r} is a {found.kind!r} site, not a {kind!r} one")
    return found
