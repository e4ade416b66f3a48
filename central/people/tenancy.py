"""Registrations: a person read at a service point moved in on a bed, until moving out.

One person per bed and one bed per person and site while it lasts: both held by unique columns that are emptied on
moving out, so two operators registering at once cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.schema import tenancies


@dataclass(frozen=True, slots=True)
class Tenancy:
    id: int
    site: str
    bed_id: int
    person_id: int
    reading_id: int
    moved_in_at: datetime
    moved_in_by: str
    moved_out_at: datetime | None
    moved_out_by: str | None


def _tenancy(row: Any) -> Tenancy:
    return Tenancy(int(row.id), row.site, int(row.bed_id), int(row.person_id), int(row.reading_id), row.moved_in_at,
                   row.moved_in_by, row.moved_out_at, row.moved_out_by)


def person_key(site: str, person_id: int) -> str:
    return f"{site}|{person_id}"


async def move_in(connection: AsyncConnection, *, site: str, bed_id: int, person_id: int, reading_id: int, by: str,
                  now: datetime) -> Tenancy:
    """Raises IntegrityError when the bed is taken or the person lives at the site already."""
    result = await connection.execute(insert(tenancies).values(
        site=site, bed_id=bed_id, person_id=person_id, reading_id=reading_id, moved_in_at=now, moved_in_by=by,
        bed_open=bed_id, person_open=person_key(site, person_id),
    ).returning(tenancies.c.id))
    found = await get(connection, int(result.scalar_one()))
    assert found is not None
    return found


async def get(connection: AsyncConnection, tenancy_id: int) -> Tenancy | None:
    row = (await connection.execute(select(tenancies).where(tenancies.c.id == tenancy_id))).first()
    return None if row is None else _tenancy(row)


async def current_of(connection: AsyncConnection, site: str, person_id: int) -> Tenancy | None:
    query = select(tenancies).where(tenancies.c.person_open == person_key(site, person_id))
    row = (await connection.execute(query)).first()
    return None if row is None else _tenancy(row)


async def move_out(connection: AsyncConnection, tenancy_id: int, *, by: str, now: datetime) -> bool:
    """False when it had ended already (or a concurrent move-out won)."""
    result = await connection.execute(
        update(tenancies).where(tenancies.c.id == tenancy_id, tenancies.c.moved_out_at.is_(None))
        .values(moved_out_at=now, moved_out_by=by, bed_open=None, person_open=None)
    )
    return bool(result.rowcount)
