"""A webhook recipient for the demo and the tests: verifies each delivery's signature and keeps it once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from central.webhooks.signing import verify
from shaobing.net import bound_socket


@dataclass
class Delivery:
    delivery: str
    event: str
    payload: dict[str, Any]
    received_at: float


@dataclass
class WebhookReceiver:
    """Serves POST /hook on 127.0.0.1; `received` holds each verified delivery once, in arrival order."""

    name: str
    secret: str
    on_delivery: Callable[[WebhookReceiver, Delivery], None] | None = None
    received: list[Delivery] = field(default_factory=list)
    refused: int = 0
    port: int = 0
    _seen: set[str] = field(default_factory=set)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: Request) -> JSONResponse:
        body = await request.body()
        headers = request.headers
        if not verify(self.secret, timestamp=headers.get("x-shaobing-timestamp"),
                      signature=headers.get("x-shaobing-signature"), body=body, now=time.time()):
            self.refused += 1
            return JSONResponse({"detail": "bad signature"}, status_code=401)
        delivery_id = headers.get("x-shaobing-delivery", "")
        if delivery_id not in self._seen:  # a re-sent delivery is acknowledged again but kept once
            self._seen.add(delivery_id)
            delivery = Delivery(delivery_id, headers.get("x-shaobing-event", ""), json.loads(body), time.time())
            self.received.append(delivery)
            if self.on_delivery is not None:
                self.on_delivery(self, delivery)
        return JSONResponse({"ok": True})

    async def start(self, port: int = 0) -> None:
        sock = bound_socket(port=port)
        self.port = sock.getsockname()[1]
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name=f"receiver-{self.name}")
        while not self._server.started:  # noqa: ASYNC110 (uvicorn offers a flag, not an event)
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = None
