"""Commands sent to sites and the results they answer on `{site}/cmd/result`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.schema import commands

MAX_DETAIL = 2000


class CommandResultError(ValueError):
    """A cmd/result payload that is not {"cmd_id": str, "ok": bool, "detail": str}."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    cmd_id: str
    ok: bool
    detail: str | None


@dataclass(frozen=True, slots=True)
class Command:
    cmd_id: str
    site: str
    name: str
    args: dict[str, Any]
    issued_by: str
    issued_at: datetime
    ok: bool | None
    detail: str | None
    result_at: datetime | None


def parse_result(payload: bytes) -> CommandResult:
    try:
        raw = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CommandResultError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise CommandResultError("result is not a JSON object")
    cmd_id, ok, detail = raw.get("cmd_id"), raw.get("ok"), raw.get("detail")
    if not isinstance(cmd_id, str) or not 0 < len(cmd_id) <= 64 or "\x00" in cmd_id:
        raise CommandResultError("cmd_id must be a string of 1..64 characters")
    if not isinstance(ok, bool):
        raise CommandResultError("ok must be true or false")
    if detail is not None and not isinstance(detail, str):
        raise CommandResultError("detail must be a string")
    if detail is not None:
        detail = detail.replace("\x00", "\ufffd")[:MAX_DETAIL]
    return CommandResult(cmd_id=cmd_id, ok=ok, detail=detail)


async def record_command(
    connection: AsyncConnection,
    *,
    cmd_id: str,
    site: str,
    name: str,
    args: dict[str, Any],
    issued_by: str,
    issued_at: datetime,
) -> None:
    await connection.execute(
        insert(commands).values(
            cmd_id=cmd_id, site=site, name=name, args=args, issued_by=issued_by, issued_at=issued_at
        )
    )


async def record_result(connection: AsyncConnection, *, site: str, result: CommandResult, now: datetime) -> bool:
    """Store a site's answer; False if no command of that id was issued to that site (a site answers only its own)."""
    outcome = await connection.execute(
        update(commands)
        .where(commands.c.cmd_id == result.cmd_id, commands.c.site == site)
        .values(ok=result.ok, detail=result.detail, result_at=now)
    )
    return bool(outcome.rowcount)


async def get_command(connection: AsyncConnection, cmd_id: str) -> Command | None:
    row = (await connection.execute(select(commands).where(commands.c.cmd_id == cmd_id))).first()
    if row is None:
        return None
    return Command(**{column.name: getattr(row, column.name) for column in commands.columns})
