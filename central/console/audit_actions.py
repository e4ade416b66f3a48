"""Audit-log entries for what staff do to dispatches, written in the action's own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.auth import Principal
from central.store.audit import record


async def audit_action(
    connection: AsyncConnection, principal: Principal, *, at: datetime, dispatch_id: int, action: str,
    detail: dict[str, Any] | None = None, taken_over_from: str | None = None,
) -> None:
    target = f"dispatch:{dispatch_id}"
    if taken_over_from is not None:
        await record(connection, at=at, actor=principal.name, role=principal.role.value, action="dispatch.take_over",
                     target=target, detail={"from": taken_over_from})
    await record(connection, at=at, actor=principal.name, role=principal.role.value, action=f"dispatch.{action}",
                 target=target, detail=detail or {})
