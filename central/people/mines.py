"""Card swipes in the ingest's transaction: who was seen where, granted swipes as movements, and each mine's
underground headcount from its pithead doors (a granted swipe at an "in" door: below; at an "out" door: above).

A person is known by the card's active binding at the site (central's `cards`), else by the allow-list entry's
`person` the site put in the swipe. A card central does not know is a movement with no person and is not counted.
Over the mine's limit raises one `headcount` dispatch to the security company; back at or under the limit writes a
`restore` step on it (the count can go over again only after that, and raises a new dispatch then).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.dispatch.repository import NewDispatch, get, raise_dispatch
from central.model import StoredReading
from central.people.settings import PeopleSettings
from central.store.dialect import insert_ignoring_conflicts
from central.store.schema import (
    cards,
    dispatch_transitions,
    mine_states,
    movements,
    persons,
    pithead_doors,
    tickets,
    underground,
)
from shaobing.envelope import Envelope

HEADCOUNT = "headcount"
KEY_ABSENT = "key_person_absent"
PRIORITY = 2
MAX_CARD = 32


@dataclass(frozen=True, slots=True)
class Swipe:
    reading_id: int
    site: str
    card: str
    granted: bool
    door: str | None
    reader: str | None
    person_hint: int | None  # the allow-list entry's person id, as the site reported it
    at: datetime
    seq: int


def _text(value: Any, limit: int) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value[:limit] if isinstance(value, str) and value else None


def _plain_number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes "²" (which int() refuses) and other scripts' digits."""
    return text.isascii() and text.isdigit() and len(text) < 18


def parse_swipe(reading: StoredReading) -> Swipe | None:
    envelope: Envelope = reading.envelope
    data = envelope.data
    card = _text(data.get("card"), 64)
    if card is None or len(card) > MAX_CARD:
        return None
    person = data.get("person")
    hint = int(person) if isinstance(person, str) and _plain_number(person) else None
    return Swipe(reading.id, envelope.site, card.upper(), data.get("decision") == "granted",
                 _text(data.get("door"), 64), _text(data.get("reader"), 128), hint, envelope.ts, envelope.seq)


async def _people(connection: AsyncConnection, swipes: list[Swipe]) -> dict[tuple[str, str], int]:
    keys = sorted({f"{swipe.site}|{swipe.card}" for swipe in swipes})
    rows = await connection.execute(select(cards.c.site, cards.c.uid, cards.c.person_id)
                                    .where(cards.c.active_key.in_(keys)))
    return {(row.site, row.uid): int(row.person_id) for row in rows}


async def _directions(connection: AsyncConnection, swipes: list[Swipe]) -> dict[tuple[str, str], str]:
    sites = sorted({swipe.site for swipe in swipes})
    rows = await connection.execute(select(pithead_doors).where(pithead_doors.c.site.in_(sites)))
    return {(row.site, row.door): row.direction for row in rows}


async def _seen(connection: AsyncConnection, seen: dict[int, Swipe], now: datetime) -> None:
    """The newest sighting of each person; a key person seen again closes their absence ticket."""
    for person_id, swipe in seen.items():
        await connection.execute(
            update(persons)
            .where(persons.c.id == person_id,
                   (persons.c.last_seen_at.is_(None)) | (persons.c.last_seen_at < swipe.at))
            .values(last_seen_at=swipe.at, last_seen_site=swipe.site)
        )
    if seen:
        await connection.execute(
            update(tickets)
            .where(tickets.c.trouble_class == KEY_ABSENT, tickets.c.closed_at.is_(None),
                   tickets.c.zone.in_([str(person_id) for person_id in seen]))
            .values(closed_at=now)
        )


async def _below(connection: AsyncConnection, swipe: Swipe, person_id: int, direction: str) -> None:
    if direction == "in":
        statement = insert_ignoring_conflicts(connection.dialect.name, underground, ["site", "person_id"])
        await connection.execute(statement.values(site=swipe.site, person_id=person_id, since=swipe.at,
                                                  reading_id=swipe.reading_id))
    else:
        await connection.execute(delete(underground).where(underground.c.site == swipe.site,
                                                           underground.c.person_id == person_id))


async def headcount(connection: AsyncConnection, site: str) -> int:
    return int((await connection.execute(
        select(func.count()).select_from(underground).where(underground.c.site == site))).scalar_one())


async def _judge(connection: AsyncConnection, site: str, reading_id: int, *, limit: int, security: list[str],
                 logger: logging.Logger, now: datetime) -> bool:
    """Raise or restore the mine's headcount alarm; True when a dispatch was written."""
    if limit <= 0:
        return False
    count = await headcount(connection, site)
    await connection.execute(insert_ignoring_conflicts(connection.dialect.name, mine_states, ["site"])
                             .values(site=site))
    state = (await connection.execute(select(mine_states).where(mine_states.c.site == site))).one()
    if count > limit and state.over_since is None:
        new = NewDispatch(site=site, reading_id=reading_id, alarm_class=HEADCOUNT, zone=None, partition=None,
                          priority=PRIORITY, recipients=list(security), escalate_at=None, escalation_reason=None)
        dispatch, _ = await raise_dispatch(connection, new, at=now, actor="rule:headcount",
                                           extra={"mine": {"underground": count, "limit": limit}})
        await connection.execute(update(mine_states).where(mine_states.c.site == site)
                                 .values(over_since=now, dispatch_id=dispatch.id))
        logger.warning("mine %s: %d underground, over its limit of %d: dispatch %d", site, count, limit, dispatch.id)
        return True
    if count <= limit and state.over_since is not None:
        raised = await get(connection, int(state.dispatch_id)) if state.dispatch_id is not None else None
        if raised is not None:
            await connection.execute(insert(dispatch_transitions).values(
                dispatch_id=raised.id, action="restore", from_state=raised.state.value,
                to_state=raised.state.value, actor="rule:headcount", at=now,
                detail={"underground": count, "limit": limit}))
        await connection.execute(update(mine_states).where(mine_states.c.site == site)
                                 .values(over_since=None, dispatch_id=None))
        logger.warning("mine %s: %d underground, back within its limit of %d", site, count, limit)
    return False


async def apply_swipes(connection: AsyncConnection, stored: list[StoredReading], *, settings: PeopleSettings,
                       security: list[str], logger: logging.Logger, now: datetime) -> bool:
    """Everything a batch's card swipes change; True when a dispatch was written (wake the webhook sender)."""
    swipes = sorted((s for r in stored if (s := parse_swipe(r)) is not None), key=lambda s: (s.at, s.seq))
    if not swipes:
        return False
    bound = await _people(connection, swipes)
    directions = await _directions(connection, swipes)
    seen: dict[int, Swipe] = {}
    rows: list[dict[str, Any]] = []
    touched: dict[str, int] = {}  # mine site -> the last reading that moved someone there
    for swipe in swipes:
        person_id = bound.get((swipe.site, swipe.card), swipe.person_hint)
        if person_id is not None:
            seen[person_id] = swipe
        if not swipe.granted:
            continue
        direction = directions.get((swipe.site, swipe.door)) if swipe.door is not None else None
        rows.append({"site": swipe.site, "reading_id": swipe.reading_id, "person_id": person_id, "card": swipe.card,
                     "reader": swipe.reader, "door": swipe.door, "direction": direction, "at": swipe.at})
        if direction is not None and person_id is not None:
            await _below(connection, swipe, person_id, direction)
            touched[swipe.site] = swipe.reading_id
    if rows:
        await connection.execute(insert(movements), rows)
    known = {person_id: swipe for person_id, swipe in seen.items()}
    if known:
        existing = set((await connection.execute(
            select(persons.c.id).where(persons.c.id.in_(sorted(known))))).scalars())
        await _seen(connection, {p: s for p, s in known.items() if p in existing}, now)
    raised = False
    for site, reading_id in sorted(touched.items()):
        raised = await _judge(connection, site, reading_id, limit=settings.limit_of(site), security=security,
                              logger=logger, now=now) or raised
    return raised


def below_query(site: str) -> Any:
    """Who is below ground at `site`, longest first (the API's answer)."""
    return (select(underground.c.person_id, underground.c.since, persons.c.id_number, persons.c.name,
                   persons.c.key_person)
            .select_from(underground.join(persons, and_(persons.c.id == underground.c.person_id)))
            .where(underground.c.site == site).order_by(underground.c.since, underground.c.person_id))
