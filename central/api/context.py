"""What every route needs, built once by `create_app` and handed to routes as a dependency."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from central.rules_settings import RulesSettings
from shaobing.clock import Clock


class CommandSender(Protocol):
    """Hands a command to a site (the service publishes it on shaobing/v1/{site}/cmd)."""

    async def send(self, site: str, payload: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class ApiContext:
    engine: AsyncEngine
    settings: RulesSettings
    command_sender: CommandSender
    clock: Clock
    logger: logging.Logger
    on_commit: Callable[[], None] | None
    # Where people reach central from outside ("https://alarm.example.com"): share links handed to the police use it.
    public_url: str = "http://127.0.0.1:8640"

    def committed(self) -> None:
        """A change that may have enqueued webhooks was committed: wake the sender."""
        if self.on_commit is not None:
            self.on_commit()


def _context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


Context = Annotated[ApiContext, Depends(_context)]
