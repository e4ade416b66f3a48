"""Trouble tickets: what is wrong with a site or a device, open until the cause clears.

A ticket is keyed by (site, class, device, zone, source): a `trouble` reading opens one, its restore closes it; a site
whose MQTT will says offline gets a `comm_fail` ticket from the state topic, closed when it is back; supervision opens
its own `comm_fail` when tests stop coming (one per site, one per device). The ingest opens `seq_reused` when a site's
readings come again under seqs that hold other readings, and `ingest_failed` when it set a message aside. Each source
closes only its own tickets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from central.model import StoredReading
from central.store.schema import tickets
from shaobing.envelope import Kind

COMM_FAIL = "comm_fail"
SEQ_REUSED = "seq_reused"  # the edge numbers its readings from 1 again (outbox lost, box replaced)
INGEST_FAILED = "ingest_failed"  # a message that failed again and again alone was set aside
SOURCE_READING = "reading"
SOURCE_STATE = "state"
SOURCE_SUPERVISION = "supervision"
SOURCE_INGEST = "ingest"  # opened by central's ingest; closed by an operator
OPENING_QUALIFIERS = frozenset({None, "new", "repeat"})
CLOSING_QUALIFIERS = frozenset({"restore"})


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    site: str
    trouble_class: str
    device: str | None
    zone: str | None
    source: str
    opened_at: datetime
    closed_at: datetime | None
    reading_id: int | None
    detail: str


def _key(site: str, trouble_class: str, device: str | None, zone: str | None, source: str) -> ColumnElement[bool]:
    return and_(
        tickets.c.site == site,
        tickets.c.trouble_class == trouble_class,
        tickets.c.device.is_not_distinct_from(device),
        tickets.c.zone.is_not_distinct_from(zone),
        tickets.c.source == source,
        tickets.c.closed_at.is_(None),
    )


async def open_ticket(
    connection: AsyncConnection,
    *,
    site: str,
    trouble_class: str,
    now: datetime,
    device: str | None = None,
    zone: str | None = None,
    source: str = SOURCE_READING,
    detail: str = "",
    reading_id: int | None = None,
) -> int | None:
    """Open a ticket unless the same one is already open; return the new id, or None if one was open."""
    existing = await connection.execute(select(tickets.c.id).where(_key(site, trouble_class, device, zone, source)))
    if existing.first() is not None:
        return None
    result = await connection.execute(
        insert(tickets)
        .values(
            site=site,
            trouble_class=trouble_class,
            device=device,
            zone=zone,
            source=source,
            opened_at=now,
            reading_id=reading_id,
            detail=detail,
        )
        .returning(tickets.c.id)
    )
    return int(result.scalar_one())


async def close_tickets(
    connection: AsyncConnection,
    *,
    site: str,
    trouble_class: str,
    now: datetime,
    device: str | None = None,
    zone: str | None = None,
    source: str = SOURCE_READING,
) -> int:
    """Close the open ticket(s) of this key; return how many were closed."""
    result = await connection.execute(
        update(tickets).where(_key(site, trouble_class, device, zone, source)).values(closed_at=now)
    )
    return int(result.rowcount)


async def close_ticket_by_id(connection: AsyncConnection, ticket_id: int, *, now: datetime) -> bool:
    """Close one open ticket (an operator's decision); False if it was not open."""
    result = await connection.execute(
        update(tickets).where(tickets.c.id == ticket_id, tickets.c.closed_at.is_(None)).values(closed_at=now)
    )
    return bool(result.rowcount)


def _text_field(data: dict[str, Any], name: str, limit: int) -> str | None:
    value = data.get(name)
    if value is None or isinstance(value, bool | dict | list):
        return None
    return str(value)[:limit]


async def apply_trouble_readings(connection: AsyncConnection, stored: list[StoredReading], *, now: datetime) -> None:
    """Open or close tickets for the `trouble` readings among `stored`, in seq order per site."""
    troubles = [reading for reading in stored if reading.envelope.kind is Kind.TROUBLE]
    for reading in sorted(troubles, key=lambda r: (r.envelope.site, r.envelope.seq)):
        envelope = reading.envelope
        trouble_class = _text_field(envelope.data, "class", 32) or "unknown"
        zone = _text_field(envelope.data, "zone", 32)
        qualifier = envelope.data.get("qualifier")
        if qualifier in CLOSING_QUALIFIERS:
            await close_tickets(
                connection, site=envelope.site, trouble_class=trouble_class, device=envelope.device, zone=zone, now=now
            )
        elif qualifier in OPENING_QUALIFIERS:
            await open_ticket(
                connection,
                site=envelope.site,
                trouble_class=trouble_class,
                device=envelope.device,
                zone=zone,
                now=now,
                reading_id=reading.id,
                detail=_text_field(envelope.data, "detail", 500) or "",
            )


async def list_tickets(connection: AsyncConnection, *, site: str | None = None, open_only: bool = True) -> list[Ticket]:
    query = select(tickets)
    if site is not None:
        query = query.where(tickets.c.site == site)
    if open_only:
        query = query.where(tickets.c.closed_at.is_(None))
    rows = await connection.execute(query.order_by(tickets.c.id))
    return [Ticket(**{column.name: getattr(row, column.name) for column in tickets.columns}) for row in rows]
