"""The durable webhook outbox: rows written in the same transaction as the change they announce, sent later.

A row is pending until delivered (2xx) or failed for good (410 Gone). Each recipient's rows are sent in id order, so
a recipient that was down gets every dispatch, in order, when it is back.

Several central processes share one outbox: before sending a row a process claims it with a lease (`claim`), one
conditional UPDATE that only one process can win (PostgreSQL re-checks the condition on the locked row; SQLite has a
single writer). A row whose lease has expired (its process died mid-POST) is taken over by the next claimant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.schema import dispatches, webhook_outbox

DeliveryStatus = Literal["pending", "failed", "delivered"]


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    recipient: str
    event: str
    dispatch_id: int | None
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None
    last_error: str | None
    last_status: int | None
    claimed_by: str | None = None
    claimed_until: datetime | None = None

    @property
    def status(self) -> DeliveryStatus:
        if self.delivered_at is not None:
            return "delivered"
        return "failed" if self.failed_at is not None else "pending"


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        recipient=row.recipient,
        event=row.event,
        dispatch_id=row.dispatch_id,
        payload=row.payload,
        created_at=row.created_at,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        failed_at=row.failed_at,
        last_error=row.last_error,
        last_status=row.last_status,
        claimed_by=row.claimed_by,
        claimed_until=row.claimed_until,
    )


async def enqueue(
    connection: AsyncConnection,
    *,
    recipients: Iterable[str],
    event: str,
    dispatch_id: int | None,
    payload: dict[str, Any],
    now: datetime,
) -> list[int]:
    """Add one delivery per recipient inside the caller's transaction; returns their ids (the delivery ids)."""
    ids: list[int] = []
    for recipient in recipients:
        result = await connection.execute(
            insert(webhook_outbox)
            .values(
                recipient=recipient,
                event=event,
                dispatch_id=dispatch_id,
                payload=payload,
                created_at=now,
                attempts=0,
                next_attempt_at=now,
            )
            .returning(webhook_outbox.c.id)
        )
        ids.append(int(result.scalar_one()))
    return ids


def _pending() -> Any:
    return and_(webhook_outbox.c.delivered_at.is_(None), webhook_outbox.c.failed_at.is_(None))


async def next_for(connection: AsyncConnection, recipient: str) -> Delivery | None:
    """The oldest pending delivery of `recipient`, due or not: later ones wait behind it to keep the order."""
    row = (
        await connection.execute(
            select(webhook_outbox)
            .where(webhook_outbox.c.recipient == recipient, _pending())
            .order_by(webhook_outbox.c.id)
            .limit(1)
        )
    ).first()
    return None if row is None else _delivery(row)


async def claim(
    connection: AsyncConnection, delivery_id: int, *, worker: str, now: datetime, lease: timedelta
) -> Delivery | None:
    """Take the lease of a pending, due row for `worker`; None when another process holds it (or it is settled).

    One statement, so that of several processes claiming the same row exactly one wins: PostgreSQL re-evaluates the
    WHERE on the row it has locked once the first claimant commits, SQLite has a single writer.
    """
    row = (
        await connection.execute(
            update(webhook_outbox)
            .where(
                webhook_outbox.c.id == delivery_id,
                _pending(),
                webhook_outbox.c.next_attempt_at <= now,
                or_(
                    webhook_outbox.c.claimed_until.is_(None),
                    webhook_outbox.c.claimed_until <= now,
                    webhook_outbox.c.claimed_by == worker,
                ),
            )
            .values(claimed_by=worker, claimed_until=now + lease)
            .returning(*webhook_outbox.c)
        )
    ).first()
    return None if row is None else _delivery(row)


def _held_by(delivery_id: int, worker: str) -> Any:
    return and_(webhook_outbox.c.id == delivery_id, webhook_outbox.c.claimed_by == worker, _pending())


async def mark_delivered(connection: AsyncConnection, delivery_id: int, *, status: int, now: datetime) -> None:
    """Delivered is a fact whoever holds the lease now; the attempt is counted once."""
    await connection.execute(
        update(webhook_outbox)
        .where(webhook_outbox.c.id == delivery_id, _pending())
        .values(
            delivered_at=now,
            attempts=webhook_outbox.c.attempts + 1,
            last_status=status,
            last_error=None,
            claimed_by=None,
            claimed_until=None,
        )
    )


async def _record_failed_attempt(
    connection: AsyncConnection, delivery_id: int, *, error: str, status: int | None, worker: str, **outcome: object
) -> bool:
    """Count a failed attempt, keep its error, release the lease; False when the lease was lost meanwhile."""
    result = await connection.execute(
        update(webhook_outbox)
        .where(_held_by(delivery_id, worker))
        .values(
            attempts=webhook_outbox.c.attempts + 1,
            last_error=error[:2000],
            last_status=status,
            claimed_by=None,
            claimed_until=None,
            **outcome,
        )
    )
    return bool(result.rowcount)


async def mark_retry(
    connection: AsyncConnection,
    delivery_id: int,
    *,
    error: str,
    status: int | None,
    next_attempt_at: datetime,
    worker: str,
) -> bool:
    """Record a failed attempt to be tried again at `next_attempt_at`."""
    return await _record_failed_attempt(connection, delivery_id, error=error, status=status, worker=worker,
                                        next_attempt_at=next_attempt_at)


async def mark_failed(
    connection: AsyncConnection, delivery_id: int, *, error: str, status: int | None, now: datetime, worker: str
) -> bool:
    """Refused for good (410 Gone): kept, never sent again."""
    return await _record_failed_attempt(connection, delivery_id, error=error, status=status, worker=worker,
                                        failed_at=now)


async def list_deliveries(
    connection: AsyncConnection,
    *,
    statuses: Iterable[DeliveryStatus] = ("pending", "failed"),
    recipient: str | None = None,
    limit: int = 100,
    hidden_classes: frozenset[str] = frozenset(),
) -> list[Delivery]:
    wanted = set(statuses)
    conditions = []
    if "pending" in wanted:
        conditions.append(_pending())
    if "failed" in wanted:
        conditions.append(webhook_outbox.c.failed_at.is_not(None))
    if "delivered" in wanted:
        conditions.append(webhook_outbox.c.delivered_at.is_not(None))
    if not conditions:
        return []
    query = select(webhook_outbox).where(or_(*conditions))
    if recipient is not None:
        query = query.where(webhook_outbox.c.recipient == recipient)
    if hidden_classes:
        hidden = select(dispatches.c.id).where(dispatches.c.alarm_class.in_(sorted(hidden_classes)))
        query = query.where(or_(webhook_outbox.c.dispatch_id.is_(None), webhook_outbox.c.dispatch_id.not_in(hidden)))
    rows = (await connection.execute(query.order_by(webhook_outbox.c.id).limit(limit))).all()
    return [_delivery(row) for row in rows]
