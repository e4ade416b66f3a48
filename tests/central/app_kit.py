"""What the API tests of central share: a movable clock, a command sender that records what it was handed, the
client over the app's ASGI transport (the `sender` and `client` fixtures: a conftest imports them and defines `clock`
and `app`), and the check of an error response."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from shaobing.net import bound_socket


class Clock:
    """The app's clock, moved by the tests (sessions and links expire, lockouts end)."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return self.moment.timestamp()

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


class RecordingSender:
    """The command sender as the API sees it; the service's one publishes to MQTT."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.failure: BaseException | None = None

    async def send(self, site: str, payload: dict[str, Any]) -> None:
        if self.failure is not None:
            raise self.failure
        self.sent.append((site, payload))


@pytest.fixture(name="sender")
def sender_fixture() -> RecordingSender:
    return RecordingSender()


@pytest.fixture(name="client")
async def client_fixture(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://central") as client:
        yield client


# One token for each staff role, for the tests of role checks.
ROLE_TOKENS = {
    "viewer-token-vic-00000001": ("vic", "viewer"),
    "operator-token-olga-00002": ("olga", "operator"),
    "supervisor-token-sam-0003": ("sam", "supervisor"),
    "admin-token-ann-000000004": ("ann", "admin"),
}
VIEWER = {"Authorization": "Bearer viewer-token-vic-00000001"}
OPERATOR = {"Authorization": "Bearer operator-token-olga-00002"}
SUPERVISOR = {"Authorization": "Bearer supervisor-token-sam-0003"}
ADMIN = {"Authorization": "Bearer admin-token-ann-000000004"}


def assert_detail(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert "detail" in response.json()


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app behind uvicorn on a free local port, as central's service runs it (a stream is sent as it is made)."""
    sock = bound_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                           timeout_graceful_shutdown=5))
    task = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    try:
        async with asyncio.timeout(30):
            while not server.started:
                await asyncio.sleep(0.01)
        host, port = sock.getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
