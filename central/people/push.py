"""Sending a site its allow-list: signed with central's key, then issued like every command (recorded, then
published on the site's cmd topic). A send that fails leaves the list recorded as not sent; the next change (or a
resend) sends a newer, complete list, so nothing is lost by not retrying this one."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel

from central.api.command_issue import issue_command
from central.api.context import ApiContext
from shaobing.access_list import COMMAND, load_private_key, sign


class ListSent(BaseModel):
    version: int
    entries: int
    sent: bool
    cmd_id: str | None = None
    detail: str | None = None


async def push(context: ApiContext, args: dict[str, Any], *, key: str | None, actor: str) -> ListSent:
    site, version, entries = args["site"], int(args["version"]), len(args["entries"])
    if key is None:
        context.logger.warning("access list %d of %s not sent: no [people] access_list_key", version, site)
        return ListSent(version=version, entries=entries, sent=False,
                        detail="not sent: no [people] access_list_key configured")
    signed = sign(args, load_private_key(key))
    try:
        command = await issue_command(context, site=site, name=COMMAND, args=signed, issued_by=actor,
                                      target=f"site {site} allow-list v{version} ({entries} cards)")
    except HTTPException as refused:  # recorded as failed by issue_command
        return ListSent(version=version, entries=entries, sent=False, detail=str(refused.detail))
    return ListSent(version=version, entries=entries, sent=True, cmd_id=command.cmd_id)
