"""Storing readings exactly once: idempotent on (site, seq), whatever the broker re-delivers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.model import StoredReading
from central.store.dialect import insert_ignoring_conflicts
from central.store.schema import readings
from shaobing.envelope import Envelope


def _row(envelope: Envelope, stored_at: datetime) -> dict[str, Any]:
    return {
        "site": envelope.site,
        "seq": envelope.seq,
        "device": envelope.device,
        "kind": envelope.kind.value,
        "priority": envelope.priority,
        "ts": envelope.ts,
        "rx": envelope.rx,
        "stored_at": stored_at,
        "data": envelope.data,
    }


async def insert_readings(
    connection: AsyncConnection, envelopes: Sequence[Envelope], *, stored_at: datetime
) -> list[StoredReading]:
    """Insert a batch; return a `StoredReading` for each row actually inserted, in the order given.

    A reading already stored (a re-send) and the second copy of a (site, seq) within the batch are left out, so what
    comes back is exactly what is new: what the rules may act on.
    """
    first_copies: dict[tuple[str, int], Envelope] = {}
    for envelope in envelopes:
        first_copies.setdefault((envelope.site, envelope.seq), envelope)
    if not first_copies:
        return []
    statement = insert_ignoring_conflicts(connection.dialect.name, readings, ["site", "seq"]).returning(
        readings.c.id, readings.c.site, readings.c.seq
    )
    result = await connection.execute(statement, [_row(envelope, stored_at) for envelope in first_copies.values()])
    inserted = {(row.site, row.seq): int(row.id) for row in result}
    return [
        StoredReading(id=inserted[key], envelope=envelope, stored_at=stored_at)
        for key, envelope in first_copies.items()
        if key in inserted
    ]


def _same_reading(envelope: Envelope, device: str, kind: str, ts: datetime, data: Any) -> bool:
    return envelope.device == device and envelope.kind.value == kind and envelope.ts == ts and envelope.data == data


async def reused_seqs(
    connection: AsyncConnection, envelopes: Sequence[Envelope], stored: Sequence[StoredReading]
) -> list[Envelope]:
    """The envelopes left out by `insert_readings` that are NOT re-sends: their (site, seq) holds another reading.

    A re-send is the same reading again (device, kind, event time and data). A different one under a stored (site,
    seq) means the edge numbers from 1 again (its outbox file was lost or the box replaced): it must not pass for a
    duplicate, or every new reading of the site, alarms too, would vanish without a word.
    """
    stored_copies = {id(reading.envelope) for reading in stored}
    candidates = [envelope for envelope in envelopes if id(envelope) not in stored_copies]
    if not candidates:
        return []
    by_site: dict[str, set[int]] = {}
    for envelope in candidates:
        by_site.setdefault(envelope.site, set()).add(envelope.seq)
    held: dict[tuple[str, int], tuple[str, str, datetime, Any]] = {}
    for site, seqs in by_site.items():
        rows = await connection.execute(
            select(readings.c.seq, readings.c.device, readings.c.kind, readings.c.ts, readings.c.data).where(
                readings.c.site == site, readings.c.seq.in_(sorted(seqs))
            )
        )
        for row in rows:
            held[(site, int(row.seq))] = (row.device, row.kind, row.ts, row.data)
    reused: list[Envelope] = []
    for envelope in candidates:
        holder = held.get((envelope.site, envelope.seq))
        if holder is not None and not _same_reading(envelope, *holder):
            reused.append(envelope)
    return reused
