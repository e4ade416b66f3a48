"""Issuing a command to an edge site, for the site routes (arm, disarm) and the tracker routes (engine stop/resume).

The command is recorded first, then handed to the command sender (MQTT `shaobing/v1/{site}/cmd`) as
`{"cmd_id", "name", "args", "issued_at", "issued_by"}`. A send that fails is recorded as failed and answered 502;
one the broker did not take in time is recorded as not confirmed and answered 504 (it may still go out when the link
comes back, and the site's result, if one comes, replaces the record). Either way the record says what happened.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.context import ApiContext
from central.api.schemas import CommandOut
from central.store.commands import get_command, record_command
from central.store.schema import commands
from shaobing.clock import format_ts

NOT_TAKEN = "not confirmed: the broker did not take it in time (is central's link to the broker down?)"


async def issue_command(
    context: ApiContext,
    *,
    site: str,
    name: str,
    args: dict[str, Any],
    issued_by: str,
    target: str,
    check: Callable[[AsyncConnection], Awaitable[None]] | None = None,
) -> CommandOut:
    """Record, send, and answer the command as recorded. `target` names what it is for in the log; `check` runs in
    the recording transaction first (it raises to refuse the command, and nothing is recorded then)."""
    cmd_id = uuid.uuid4().hex
    issued_at = context.clock.now()
    async with context.engine.begin() as connection:
        if check is not None:
            await check(connection)
        await record_command(
            connection, cmd_id=cmd_id, site=site, name=name, args=args, issued_by=issued_by, issued_at=issued_at
        )
    payload = {"cmd_id": cmd_id, "name": name, "args": args, "issued_at": format_ts(issued_at), "issued_by": issued_by}
    try:
        await context.command_sender.send(site, payload)
    except TimeoutError:
        await _unsent(context, cmd_id, f"command {name} to {target}", NOT_TAKEN, 504)
    except Exception as exc:
        await _unsent(context, cmd_id, f"command {name} to {target}", f"not sent: {type(exc).__name__}: {exc}"[:500],
                      502)
    context.logger.info("command %s %s to %s via %s by %s", cmd_id, name, target, site, issued_by)
    async with context.engine.connect() as connection:
        command = await get_command(connection, cmd_id)
    assert command is not None
    return CommandOut.model_validate(command)


async def _unsent(context: ApiContext, cmd_id: str, what: str, reason: str, status: int) -> None:
    async with context.engine.begin() as connection:
        await connection.execute(
            update(commands)
            .where(commands.c.cmd_id == cmd_id)
            .values(ok=False, detail=reason, result_at=context.clock.now())
        )
    context.logger.error("%s (%s) %s", what, cmd_id, reason)
    raise HTTPException(status, detail=f"command {cmd_id} recorded but {reason}")
