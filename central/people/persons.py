"""Persons: created or refreshed from an ID card read (or entered by hand from a residence card), found by ID number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.dialect import insert_ignoring_conflicts
from central.store.schema import persons

# The read's fields a person row keeps, with their column widths.
READ_FIELDS = {"name": 64, "gender": 16, "nation": 32, "birth_date": 16, "address": 200, "card_type": 32}


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    id_number: str
    name: str
    key_person: bool
    last_seen_at: datetime | None
    last_seen_site: str | None


def _person(row: Any) -> Person:
    return Person(int(row.id), row.id_number, row.name, bool(row.key_person), row.last_seen_at, row.last_seen_site)


def read_fields(data: dict[str, Any]) -> dict[str, str]:
    return {name: value[:limit] for name, limit in READ_FIELDS.items()
            if isinstance(value := data.get(name), str) and value}


async def upsert(connection: AsyncConnection, id_number: str, fields: dict[str, Any], *, now: datetime) -> Person:
    """The person with this ID number, created if new, its fields set from `fields` (name, gender, ...)."""
    await connection.execute(insert_ignoring_conflicts(connection.dialect.name, persons, ["id_number"])
                             .values(id_number=id_number, name="", created_at=now, updated_at=now))
    if fields:
        await connection.execute(update(persons).where(persons.c.id_number == id_number)
                                 .values(**fields, updated_at=now))
    row = (await connection.execute(select(persons).where(persons.c.id_number == id_number))).one()
    return _person(row)


async def get(connection: AsyncConnection, person_id: int) -> Person | None:
    row = (await connection.execute(select(persons).where(persons.c.id == person_id))).first()
    return None if row is None else _person(row)


async def set_key_person(connection: AsyncConnection, person_id: int, key_person: bool, *, now: datetime) -> bool:
    result = await connection.execute(update(persons).where(persons.c.id == person_id)
                                      .values(key_person=key_person, updated_at=now))
    return bool(result.rowcount)
