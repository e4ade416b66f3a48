"""A site's allow-list: every valid card of the site with its doors, as the `access_list` command's args
(shaobing.access_list), under a version that only grows.

The version is taken in the transaction that changed the cards (its row locked by the UPDATE until commit), before
the cards are read, so the list numbered N holds every change committed before it: a later list is never less
complete than an earlier one, and if two are sent out of order the site keeps the newer and refuses the older.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.people import cards
from central.store.dialect import insert_ignoring_conflicts
from central.store.schema import access_lists
from shaobing.access_list import ALL_DOORS
from shaobing.clock import format_ts


def _bound(moment: datetime | None) -> str | None:
    return None if moment is None else format_ts(moment)


async def next_list(connection: AsyncConnection, site: str, *, now: datetime) -> dict[str, Any]:
    """The site's next list (unsigned args), its version recorded, in the caller's transaction."""
    await connection.execute(insert_ignoring_conflicts(connection.dialect.name, access_lists, ["site"])
                             .values(site=site, version=0, entries=0, issued_at=now))
    # The version first: the UPDATE locks the site's row, so the cards read next include every change committed by a
    # transaction that took the version before this one (PostgreSQL reads each statement afresh).
    version = (await connection.execute(
        update(access_lists).where(access_lists.c.site == site)
        .values(version=access_lists.c.version + 1, issued_at=now)
        .returning(access_lists.c.version)
    )).scalar_one()
    valid = await cards.valid_at_site(connection, site, now)
    entries = [{"card": card.uid, "person": str(card.person_id), "doors": card.doors or [ALL_DOORS],
                "valid_from": _bound(card.valid_from), "valid_to": _bound(card.valid_to)} for card in valid]
    await connection.execute(update(access_lists).where(access_lists.c.site == site).values(entries=len(entries)))
    return {"site": site, "version": int(version), "issued_at": format_ts(now), "entries": entries}


async def current_version(connection: AsyncConnection, site: str) -> int:
    version = (await connection.execute(select(access_lists.c.version).where(access_lists.c.site == site))).scalar()
    return int(version or 0)
