"""Every change a person makes through the API goes into the audit log with who and when.

The routes whose actions the audit log must read back in detail (dispatch actions, plan steps, site profiles, log-ins)
write their own entry in the action's transaction. Every other successful POST, PUT, PATCH or DELETE by an
authenticated caller (a command sent, a ticket closed, a tracker provisioned, a watch-list imported, a bike armed by
its owner, ...) is recorded here once the answer has gone out: the route's template and its path parameters, never the
body (it may carry personal data). Written after the route's own commit: a crash between the two loses the entry, not
the action.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from central.api.auth import Principal
from central.store.audit import record
from shaobing.clock import Clock

CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Routes that record their own, richer entry.
SELF_AUDITED = frozenset({
    ("POST", "/api/dispatches/{dispatch_id}/actions"),
    ("POST", "/api/dispatches/{dispatch_id}/plan/{step}"),
    ("PATCH", "/api/sites/{site}"),
    ("POST", "/api/staff/login"),
    ("POST", "/api/staff/logout"),
})


class AuditRequests:
    def __init__(self, app: ASGIApp, engine: AsyncEngine, clock: Clock, logger: logging.Logger) -> None:
        self._app = app
        self._engine = engine
        self._clock = clock
        self._log = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in CHANGING:
            await self._app(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self._app(scope, receive, watch)
        principal = scope.get("state", {}).get("principal")
        route = scope.get("route")
        template = getattr(route, "path", None)
        if not isinstance(principal, Principal) or template is None or status >= 400:
            return
        if scope["path"].startswith("/api/") and not template.startswith("/api/"):
            template = "/api" + template  # the router's prefix is not in the route's own path
        if (scope["method"], template) in SELF_AUDITED:
            return
        params: dict[str, Any] = {key: str(value)[:200] for key, value in scope.get("path_params", {}).items()}
        try:
            async with self._engine.begin() as connection:
                await record(connection, at=self._clock.now(), actor=principal.name, role=principal.role.value,
                             action=f"{scope['method']} {template}", target=_target(params),
                             detail={"status": status, **params})
        except Exception:  # the action is done and answered: a lost entry is logged, never turned into an error
            self._log.exception("audit: could not record %s %s by %s", scope["method"], template, principal.name)


def _target(params: dict[str, Any]) -> str | None:
    for key in ("dispatch_id", "site", "imei", "ticket_id", "cmd_id"):
        if key in params:
            name = "dispatch" if key == "dispatch_id" else key
            return f"{name}:{params[key]}"
    return None
