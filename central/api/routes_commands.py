"""Commands to a site (arm, disarm): recorded first, then handed to the command sender (MQTT .../cmd)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy import update

from central.api.auth import Actor, Reader
from central.api.context import ApiContext, Context
from central.api.routes_sites import SitePath
from central.api.schemas import CMD_ID_PATTERN, CommandBody, CommandOut
from central.store.commands import Command, get_command, record_command
from central.store.schema import commands
from central.store.sites import get_site
from shaobing.clock import format_ts

router = APIRouter(tags=["commands"])


def _out(command: Command) -> CommandOut:
    return CommandOut.model_validate(command)


@router.post(
    "/sites/{site}/commands",
    status_code=202,
    response_model=CommandOut,
    responses={
        404: {"description": "unknown site"},
        502: {"description": "the broker refused the command, or the connection dropped before it took it"},
        504: {"description": "the broker did not take the command in time (central's link to it is down)"},
    },
)
async def send_command(site: SitePath, body: CommandBody, principal: Actor, context: Context) -> CommandOut:
    cmd_id = uuid.uuid4().hex
    issued_at = context.clock.now()
    args = body.args.model_dump()
    async with context.engine.begin() as connection:
        if await get_site(connection, site) is None:
            raise HTTPException(404, detail=f"no site {site!r}")
        await record_command(
            connection,
            cmd_id=cmd_id,
            site=site,
            name=body.name,
            args=args,
            issued_by=principal.name,
            issued_at=issued_at,
        )
    payload = {
        "cmd_id": cmd_id,
        "name": body.name,
        "args": args,
        "issued_at": format_ts(issued_at),
        "issued_by": principal.name,
    }
    try:
        await context.command_sender.send(site, payload)
    except TimeoutError:
        # It may still go out when the link comes back; the site's result, if one comes, replaces this.
        reason = "not confirmed: the broker did not take it in time (is central's link to the broker down?)"
        await _record_unsent(context, cmd_id, reason)
        context.logger.error("command %s %s to %s %s", cmd_id, body.name, site, reason)
        raise HTTPException(504, detail=f"command {cmd_id} recorded but {reason}") from None
    except Exception as exc:
        reason = f"not sent: {type(exc).__name__}: {exc}"[:500]
        await _record_unsent(context, cmd_id, reason)
        context.logger.error("command %s %s to %s %s", cmd_id, body.name, site, reason)
        raise HTTPException(502, detail=f"command {cmd_id} recorded but {reason}") from None
    context.logger.info("command %s %s %s to %s by %s", cmd_id, body.name, args, site, principal.name)
    async with context.engine.connect() as connection:
        command = await get_command(connection, cmd_id)
    assert command is not None
    return _out(command)


async def _record_unsent(context: ApiContext, cmd_id: str, reason: str) -> None:
    async with context.engine.begin() as connection:
        await connection.execute(
            update(commands)
            .where(commands.c.cmd_id == cmd_id)
            .values(ok=False, detail=reason, result_at=context.clock.now())
        )


@router.get("/commands/{cmd_id}", response_model=CommandOut, responses={404: {"description": "unknown command"}})
async def command_detail(
    cmd_id: Annotated[str, Path(pattern=CMD_ID_PATTERN)], _principal: Reader, context: Context
) -> CommandOut:
    async with context.engine.connect() as connection:
        command = await get_command(connection, cmd_id)
    if command is None:
        raise HTTPException(404, detail=f"no command {cmd_id!r}")
    return _out(command)
