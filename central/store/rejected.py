"""MQTT messages central refused, kept with the reason so an operator can see what a site sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.schema import rejected_messages

KEPT_PAYLOAD_BYTES = 4096
MAX_TOPIC_CHARS = 1024
MAX_REASON_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Rejection:
    topic: str
    payload: bytes
    reason: str
    received_at: datetime


async def record_rejections(connection: AsyncConnection, rejections: Sequence[Rejection]) -> None:
    if not rejections:
        return
    await connection.execute(
        insert(rejected_messages),
        [
            {
                "topic": rejection.topic[:MAX_TOPIC_CHARS].replace("\x00", "\ufffd"),
                "payload": rejection.payload[:KEPT_PAYLOAD_BYTES],
                "payload_size": len(rejection.payload),
                "reason": rejection.reason[:MAX_REASON_CHARS].replace("\x00", "\ufffd"),
                "received_at": rejection.received_at,
            }
            for rejection in rejections
        ],
    )


async def recent_rejections(connection: AsyncConnection, limit: int = 100) -> list[Rejection]:
    rows = await connection.execute(select(rejected_messages).order_by(rejected_messages.c.id.desc()).limit(limit))
    return [Rejection(row.topic, bytes(row.payload), row.reason, row.received_at) for row in rows]
