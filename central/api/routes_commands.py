"""Commands to a site (arm, disarm): recorded first, then handed to the command sender (MQTT .../cmd), as
central.api.command_issue does for every command."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy.ext.asyncio import AsyncConnection

from central.api.auth import Actor, Reader
from central.api.command_issue import issue_command
from central.api.context import Context
from central.api.routes_sites import SitePath
from central.api.schemas import CMD_ID_PATTERN, CommandBody, CommandOut
from central.store.commands import Command, get_command
from central.store.sites import get_site

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
    async def known_site(connection: AsyncConnection) -> None:
        if await get_site(connection, site) is None:
            raise HTTPException(404, detail=f"no site {site!r}")

    args = body.args.model_dump()
    return await issue_command(
        context, site=site, name=body.name, args=args, issued_by=principal.name, target=f"site {site} {args}",
        check=known_site,
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
