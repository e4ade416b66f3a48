"""Access cards: a card UID bound to a person at a site, for some doors, within a validity window.

A UID is bound to one person at a time per site (a unique key emptied on revoking), so a lost card is revoked and
the same UID can be issued again later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.schema import cards


@dataclass(frozen=True, slots=True)
class Card:
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
    revoked_by: str | None


def _card(row: Any) -> Card:
    return Card(int(row.id), row.site, row.uid, int(row.person_id), list(row.doors or []), row.valid_from,
                row.valid_to, row.issued_at, row.issued_by, row.revoked_at, row.revoked_by)


def active_key(site: str, uid: str) -> str:
    return f"{site}|{uid}"


async def issue(connection: AsyncConnection, *, site: str, uid: str, person_id: int, doors: list[str],
                valid_from: datetime | None, valid_to: datetime | None, by: str, now: datetime) -> Card:
    """Raises IntegrityError when the UID is bound at the site already."""
    result = await connection.execute(insert(cards).values(
        site=site, uid=uid, person_id=person_id, doors=doors, valid_from=valid_from, valid_to=valid_to, issued_at=now,
        issued_by=by, active_key=active_key(site, uid),
    ).returning(cards.c.id))
    found = await get(connection, int(result.scalar_one()))
    assert found is not None
    return found


async def get(connection: AsyncConnection, card_id: int) -> Card | None:
    row = (await connection.execute(select(cards).where(cards.c.id == card_id))).first()
    return None if row is None else _card(row)


async def revoke(connection: AsyncConnection, card_id: int, *, by: str, now: datetime) -> bool:
    result = await connection.execute(
        update(cards).where(cards.c.id == card_id, cards.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=by, active_key=None)
    )
    return bool(result.rowcount)


async def revoke_person(connection: AsyncConnection, site: str, person_id: int, *, by: str, now: datetime) -> int:
    result = await connection.execute(
        update(cards).where(cards.c.site == site, cards.c.person_id == person_id, cards.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=by, active_key=None)
    )
    return int(result.rowcount)


async def valid_at_site(connection: AsyncConnection, site: str, now: datetime) -> list[Card]:
    """The site's cards not revoked and not expired, by UID."""
    query = (select(cards).where(cards.c.site == site, cards.c.revoked_at.is_(None),
                                 or_(cards.c.valid_to.is_(None), cards.c.valid_to > now))
             .order_by(cards.c.uid))
    return [_card(row) for row in (await connection.execute(query)).all()]


async def of_site(connection: AsyncConnection, site: str, *, include_revoked: bool) -> list[Card]:
    query = select(cards).where(cards.c.site == site).order_by(cards.c.id)
    if not include_revoked:
        query = query.where(cards.c.revoked_at.is_(None))
    return [_card(row) for row in (await connection.execute(query)).all()]
