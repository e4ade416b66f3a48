"""A rental site's buildings, rooms and beds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.schema import beds, buildings, persons, rooms, tenancies


async def add_building(connection: AsyncConnection, site: str, name: str) -> int:
    """Raises IntegrityError when the site has a building of that name."""
    result = await connection.execute(insert(buildings).values(site=site, name=name).returning(buildings.c.id))
    return int(result.scalar_one())


async def add_room(connection: AsyncConnection, building_id: int, name: str) -> int:
    result = await connection.execute(insert(rooms).values(building_id=building_id, name=name).returning(rooms.c.id))
    return int(result.scalar_one())


async def add_bed(connection: AsyncConnection, room_id: int, name: str) -> int:
    result = await connection.execute(insert(beds).values(room_id=room_id, name=name).returning(beds.c.id))
    return int(result.scalar_one())


async def building_site(connection: AsyncConnection, building_id: int) -> str | None:
    return (await connection.execute(select(buildings.c.site).where(buildings.c.id == building_id))).scalar()


async def room_site(connection: AsyncConnection, room_id: int) -> str | None:
    query = select(buildings.c.site).select_from(rooms.join(buildings)).where(rooms.c.id == room_id)
    return (await connection.execute(query)).scalar()


async def bed_site(connection: AsyncConnection, bed_id: int) -> str | None:
    query = (select(buildings.c.site).select_from(beds.join(rooms).join(buildings)).where(beds.c.id == bed_id))
    return (await connection.execute(query)).scalar()


async def layout(connection: AsyncConnection, site: str) -> list[Any]:
    """Every bed of the site with its room, building and current occupant (None when free), in name order."""
    occupant = tenancies.c.bed_open == beds.c.id
    query = (
        select(buildings.c.id.label("building_id"), buildings.c.name.label("building"),
               rooms.c.id.label("room_id"), rooms.c.name.label("room"), beds.c.id.label("bed_id"),
               beds.c.name.label("bed"), tenancies.c.id.label("tenancy_id"), persons.c.id.label("person_id"),
               persons.c.id_number, persons.c.name.label("person_name"), persons.c.key_person)
        .select_from(buildings.outerjoin(rooms).outerjoin(beds).outerjoin(tenancies, occupant)
                     .outerjoin(persons, persons.c.id == tenancies.c.person_id))
        .where(buildings.c.site == site)
        .order_by(buildings.c.name, rooms.c.name, beds.c.name)
    )
    return list((await connection.execute(query)).all())
