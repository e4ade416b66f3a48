"""The audit log: every action of a person at central, with who and when, written in the action's own transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.schema import audit_log
from shaobing.clock import format_ts


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str | None
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": format_ts(self.at), "actor": self.actor, "role": self.role,
                "action": self.action, "target": self.target, "detail": dict(self.detail)}


async def record(
    connection: AsyncConnection, *, at: datetime, actor: str, role: str, action: str, target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await connection.execute(
        insert(audit_log).values(at=at, actor=actor, role=role, action=action, target=target, detail=detail or {})
    )


async def entries(
    connection: AsyncConnection, *, since: datetime, until: datetime, actor: str | None = None,
    target: str | None = None, before_id: int | None = None, limit: int = 200,
) -> list[AuditEntry]:
    """Newest first; `before_id` pages back."""
    query = select(audit_log).where(audit_log.c.at >= since, audit_log.c.at < until)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if target is not None:
        query = query.where(audit_log.c.target == target)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    rows = (await connection.execute(query.order_by(audit_log.c.id.desc()).limit(limit))).all()
    return [AuditEntry(int(row.id), row.at, row.actor, row.role, row.action, row.target, dict(row.detail or {}))
            for row in rows]
