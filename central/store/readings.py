"""Storing readings exactly once: idempotent on (site, seq), whatever the broker re-delivers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

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
