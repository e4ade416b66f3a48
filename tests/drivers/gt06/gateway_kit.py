"""A GT06 gateway on a real TCP port with a recording sink, and raw trackers that speak to it byte by byte."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from drivers.base import DriverContext
from drivers.gt06.driver import Gt06Server, create
from drivers.gt06.framing import Gt06Framer
from shaobing.errors import FrameError
from tests.drivers.tcp_kit import RawClient, RecordingSink, connected, serving

LOG = logging.getLogger("tests.gt06")


class Gateway:
    def __init__(self, server: Gt06Server, ctx: DriverContext) -> None:
        self.server = server
        self.ctx = ctx

    @property
    def port(self) -> int:
        assert self.server.bound_port is not None
        return self.server.bound_port

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.ctx.stats.counts)

    def refused(self, prefix: str) -> int:
        return sum(count for name, count in self.ctx.stats.counts.items() if name.startswith(f"refused:{prefix}"))


@contextlib.asynccontextmanager
async def gateway(sink: RecordingSink, **options: Any) -> AsyncIterator[Gateway]:
    server = create({"listen": "127.0.0.1:0", **options}, source="test: driver 'gt06'")
    ctx = DriverContext(site="bikes", sink=sink, log=LOG)
    async with serving(server, ctx, "gt06-gateway"):
        yield Gateway(server, ctx)


class Tracker(RawClient):
    """A raw TCP client: writes bytes, reads the gateway's frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.framer = Gt06Framer()
        self.pending: list[bytes] = []

    async def frame(self, within: float = 5.0) -> bytes | None:
        """The next frame from the gateway, or None if it closed the connection first."""
        async with asyncio.timeout(within):
            while not self.pending:
                chunk = await self.reader.read(4096)
                if not chunk:
                    return None
                for item in self.framer.feed(chunk):
                    assert not isinstance(item, FrameError), item.reason
                    self.pending.append(item)
        return self.pending.pop(0)


def tracker(port: int) -> contextlib.AbstractAsyncContextManager[Tracker]:
    return connected(Tracker, port)


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
