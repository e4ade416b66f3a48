"""The FastAPI application: routes under /api, OpenAPI at /openapi.json, bearer tokens, bounded request bodies.

Every error is JSON with a "detail"; bad input is a 4xx, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from central.api import (
    routes_audit,
    routes_bikes,
    routes_commands,
    routes_console,
    routes_dispatches,
    routes_health,
    routes_live,
    routes_owners,
    routes_people,
    routes_people_mines,
    routes_people_rental,
    routes_readings,
    routes_reports,
    routes_share,
    routes_sites,
    routes_staff,
    routes_trackers,
    routes_watchlist,
    routes_webhooks,
)
from central.api.audit_requests import AuditRequests
from central.api.auth import TokenTable
from central.api.context import ApiContext, CommandSender
from central.api.owner_auth import OwnerAccounts, OwnersSettings
from central.api.routes_staff import StaffAccounts
from central.console.live import LiveFeed
from central.console.settings import ConsoleSettings
from central.people.hits import STAFF_HIDDEN_CLASSES
from central.people.settings import PeopleSettings
from central.rules_settings import RulesSettings
from central.web import pages
from shaobing.clock import Clock

DEFAULT_MAX_BODY_BYTES = 64 * 1024


class BodyLimit:
    """Refuses request bodies over `max_bytes` with 413, whether announced by Content-Length or streamed; `larger`
    gives some paths a limit of their own (the watch-list's import)."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int] | None = None) -> None:
        self._app = app
        self._default = max_bytes
        self._larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self._larger.get(scope.get("path", ""), self._default)
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                await self._refuse(send, limit)
                return
        # Read the whole (bounded) body first, then replay it: the route never sees a body over the limit.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                messages.append(message)
                break
            size += len(message.get("body", b""))
            if size > limit:
                await self._refuse(send, limit)
                return
            messages.append(message)
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self._app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int) -> None:
        response = JSONResponse({"detail": f"request body larger than {limit} bytes"}, status_code=413)
        await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    # The offending input is left out: it may be huge or hostile, and the client has it anyway.
    return [
        {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": str(error.get("type", ""))}
        for error in exc.errors()
    ]


def create_app(
    engine: AsyncEngine,
    *,
    settings: RulesSettings,
    tokens: Mapping[str, tuple[str, str]],
    command_sender: CommandSender,
    clock: Clock,
    logger: logging.Logger | None = None,
    on_commit: Callable[[], None] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    public_url: str = "http://127.0.0.1:8640",
    owners: OwnersSettings | None = None,
    people: PeopleSettings | None = None,
    console: ConsoleSettings | None = None,
    live: LiveFeed | None = None,
) -> FastAPI:
    """The API over `engine`. `tokens` maps a bearer token to (name, role); `on_commit` is called after a change
    that may have enqueued webhooks (wire it to the webhook sender's `wake`); `owners` sets owner sessions, the login
    brake, share links and track windows; `people` the watch-list, allow-lists and mines; `console` the monitoring
    centre's users, plans and map tiles; `live` the feed of dispatch changes (made here when not given)."""
    log = logger or logging.getLogger("shaobing.central.api")
    app = FastAPI(
        title="shaobing central",
        version="1",
        description="Sites, readings, dispatches and their audit trail, webhooks and commands; e-bike owners, their "
        "bikes, tracks and share links; trackers for staff.",
        openapi_url="/openapi.json",
    )
    app.state.tokens = TokenTable(tokens)
    app.state.owner_accounts = OwnerAccounts(owners or OwnersSettings())
    app.state.people = people or PeopleSettings()
    app.state.console = console or ConsoleSettings()
    app.state.staff_accounts = StaffAccounts(app.state.console, owners or OwnersSettings())
    app.state.live = live or LiveFeed(engine, hidden_classes=STAFF_HIDDEN_CLASSES, logger=log.getChild("live"))
    app.state.context = ApiContext(
        engine=engine, settings=settings, command_sender=command_sender, clock=clock, logger=log, on_commit=on_commit,
        public_url=public_url.rstrip("/"),
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_detail(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    for module in (
        routes_health,
        routes_sites,
        routes_readings,
        routes_dispatches,
        routes_reports,
        routes_webhooks,
        routes_commands,
        routes_owners,
        routes_bikes,
        routes_trackers,
        routes_share,
        routes_watchlist,
        routes_people,
        routes_people_rental,
        routes_people_mines,
        routes_staff,
        routes_live,
        routes_console,
        routes_audit,
    ):
        app.include_router(module.router, prefix="/api")
    app.include_router(pages.api_router, prefix="/api")
    app.include_router(pages.router)
    app.mount("/static", pages.static_files(), name="static")
    app.include_router(routes_share.page_router)  # the address share links carry: /share/{token}
    app.add_middleware(AuditRequests, engine=engine, clock=clock, logger=log.getChild("audit"))
    app.add_middleware(GZipMiddleware, minimum_size=1024)  # not the event stream: Starlette leaves it alone
    app.add_middleware(pages.PageHeaders, policy=pages.content_security_policy(app.state.console))
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes,
                       larger={routes_watchlist.IMPORT_PATH: max(max_body_bytes, app.state.people.watchlist_max_bytes)})
    return app
