"""A site's recent history, newest first, from the tables that already hold it: readings, dispatches raised and
resolved, tickets opened and closed (a `comm_fail` of the state topic is the site going offline, its closing the site
coming back), open sequence gaps.

Each event has a key (at, rank, id): its time, a fixed rank per event type (so two events at the same instant always
come in the same order) and the row's id. A page is read from every source below the cursor's key, merged, and cut;
the last key of the page is the next cursor, so a page never repeats nor skips an event while new ones keep arriving.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.schema import dispatches, readings, seq_gaps, tickets
from central.store.tickets import COMM_FAIL, SOURCE_STATE

READING = "reading"
DISPATCH_RAISED = "dispatch_raised"
DISPATCH_RESOLVED = "dispatch_resolved"
TICKET_OPENED = "ticket_opened"
TICKET_CLOSED = "ticket_closed"
OFFLINE = "offline"
ONLINE = "online"
GAP = "gap"
# The order of events that share an instant, newest first: a higher rank comes first.
RANKS = {READING: 0, DISPATCH_RAISED: 1, DISPATCH_RESOLVED: 2, TICKET_OPENED: 3, TICKET_CLOSED: 4, GAP: 5}
MAX_ID = 2**63 - 1


class CursorError(ValueError):
    """A cursor this module did not hand out."""


@dataclass(frozen=True, slots=True, order=True)
class Key:
    at: datetime
    rank: int
    id: int

    def encode(self) -> str:
        text = f"{self.at.astimezone(UTC).strftime('%Y%m%dT%H%M%S.%f')}.{self.rank}.{self.id}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        moment, micros, rank, row_id = text.split(".")
        at = datetime.strptime(f"{moment}.{micros}", "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
        key = Key(at, int(rank), int(row_id))
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise CursorError("not a cursor of this timeline") from None
    if key.rank not in RANKS.values() or not 0 <= key.id <= MAX_ID:
        raise CursorError("not a cursor of this timeline")
    return key


@dataclass(frozen=True, slots=True)
class Event:
    key: Key
    type: str  # READING, DISPATCH_RAISED, ... OFFLINE, ONLINE, GAP
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def at(self) -> datetime:
        return self.key.at


def _below(at: Any, row_id: Any, rank: int, cursor: Key | None) -> ColumnElement[bool] | None:
    """Rows of a source of `rank` whose key is below `cursor`."""
    if cursor is None:
        return None
    if rank < cursor.rank:
        return at <= cursor.at  # type: ignore[no-any-return]
    if rank > cursor.rank:
        return at < cursor.at  # type: ignore[no-any-return]
    return or_(at < cursor.at, and_(at == cursor.at, row_id < cursor.id))


def _page(query: Select[Any], at: Any, row_id: Any, rank: int, cursor: Key | None, limit: int) -> Select[Any]:
    condition = _below(at, row_id, rank, cursor)
    if condition is not None:
        query = query.where(condition)
    return query.order_by(at.desc(), row_id.desc()).limit(limit)


async def _readings(connection: AsyncConnection, site: str, cursor: Key | None, limit: int) -> list[Event]:
    query = select(readings.c.id, readings.c.seq, readings.c.device, readings.c.kind, readings.c.ts,
                   readings.c.data).where(readings.c.site == site)
    rows = await connection.execute(_page(query, readings.c.ts, readings.c.id, RANKS[READING], cursor, limit))
    return [Event(Key(row.ts, RANKS[READING], int(row.id)), READING,
                  {"reading_id": int(row.id), "seq": int(row.seq), "device": row.device, "kind": row.kind,
                   "data": dict(row.data or {})}) for row in rows]


async def _dispatches(connection: AsyncConnection, site: str, cursor: Key | None, limit: int,
                      hidden_classes: Collection[str]) -> list[Event]:
    events: list[Event] = []
    for kind, at in ((DISPATCH_RAISED, dispatches.c.raised_at), (DISPATCH_RESOLVED, dispatches.c.resolved_at)):
        query = select(dispatches).where(dispatches.c.site == site, at.is_not(None))
        if hidden_classes:
            query = query.where(dispatches.c.alarm_class.not_in(sorted(hidden_classes)))
        for row in await connection.execute(_page(query, at, dispatches.c.id, RANKS[kind], cursor, limit)):
            moment = row.raised_at if kind == DISPATCH_RAISED else row.resolved_at
            events.append(Event(Key(moment, RANKS[kind], int(row.id)), kind,
                                {"dispatch_id": int(row.id), "alarm_class": row.alarm_class, "zone": row.zone,
                                 "priority": int(row.priority), "state": row.state, "outcome": row.outcome}))
    return events


async def _tickets(connection: AsyncConnection, site: str, cursor: Key | None, limit: int) -> list[Event]:
    events: list[Event] = []
    for kind, at in ((TICKET_OPENED, tickets.c.opened_at), (TICKET_CLOSED, tickets.c.closed_at)):
        query = select(tickets).where(tickets.c.site == site, at.is_not(None))
        for row in await connection.execute(_page(query, at, tickets.c.id, RANKS[kind], cursor, limit)):
            moment = row.opened_at if kind == TICKET_OPENED else row.closed_at
            presence = row.trouble_class == COMM_FAIL and row.source == SOURCE_STATE
            shown = (OFFLINE if kind == TICKET_OPENED else ONLINE) if presence else kind
            events.append(Event(Key(moment, RANKS[kind], int(row.id)), shown,
                                {"ticket_id": int(row.id), "trouble_class": row.trouble_class, "device": row.device,
                                 "zone": row.zone, "source": row.source, "detail": row.detail}))
    return events


async def _gaps(connection: AsyncConnection, site: str, cursor: Key | None, limit: int) -> list[Event]:
    query = select(seq_gaps).where(seq_gaps.c.site == site)
    rows = await connection.execute(_page(query, seq_gaps.c.detected_at, seq_gaps.c.id, RANKS[GAP], cursor, limit))
    return [Event(Key(row.detected_at, RANKS[GAP], int(row.id)), GAP,
                  {"first_seq": int(row.first_seq), "last_seq": int(row.last_seq),
                   "size": int(row.last_seq - row.first_seq + 1)}) for row in rows]


def _newest(events: Iterable[Event], limit: int) -> list[Event]:
    return sorted(events, key=lambda event: event.key, reverse=True)[:limit]


async def site_timeline(
    connection: AsyncConnection, site: str, *, cursor: Key | None, limit: int, hidden_classes: Collection[str] = (),
) -> tuple[list[Event], Key | None]:
    """The site's events below `cursor`, newest first, at most `limit`; and the cursor of the next page (None when
    there is nothing older). Dispatches of `hidden_classes` are left out."""
    fetch = limit + 1
    events = _newest(
        [
            *await _readings(connection, site, cursor, fetch),
            *await _dispatches(connection, site, cursor, fetch, hidden_classes),
            *await _tickets(connection, site, cursor, fetch),
            *await _gaps(connection, site, cursor, fetch),
        ],
        fetch,
    )
    if len(events) > limit:
        return events[:limit], events[limit - 1].key
    return events, None
