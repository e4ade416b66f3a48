"""What the tests of the TCP drivers (GT06 gateway, DC-09 receiver, NMEA tracker server) share: a sink standing for
the edge outbox, a server running in a task on a real port, and a raw TCP client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol, Self, TypeVar

from drivers.base import DriverContext, OutboxRefused
from shaobing.envelope import Kind, Reading


class RecordingSink:
    """Commits readings to a list and numbers them; can be held (`gate`) or made to refuse."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.entered = asyncio.Event()
        self.gate: asyncio.Event | None = None
        self.refusals = 0

    async def submit(self, reading: Reading) -> int:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.refusals:
            self.refusals -= 1
            raise OutboxRefused("outbox full")
        self.readings.append(reading)
        return len(self.readings)

    def of(self, kind: Kind) -> list[Reading]:
        return [reading for reading in self.readings if reading.kind is kind]


class Server(Protocol):
    ready: asyncio.Event

    async def run(self, ctx: DriverContext) -> None: ...


@contextlib.asynccontextmanager
async def serving(server: Server, ctx: DriverContext, name: str) -> AsyncIterator[None]:
    """`server` running in a task named `name`, listening before the block starts; cancelled after it."""
    task = asyncio.create_task(server.run(ctx), name=name)
    try:
        await asyncio.wait_for(server.ready.wait(), 5)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class RawClient:
    """A TCP client that writes raw bytes and watches the server's side of the connection."""

    wait_s = 5.0  # how long `closed_by_peer` waits by default

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> Self:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def nothing_within(self, seconds: float) -> bool:
        """No byte arrives (and the connection stays open) for `seconds`."""
        try:
            await asyncio.wait_for(self.reader.read(1), seconds)
        except TimeoutError:
            return True
        return False

    async def closed_by_peer(self, within: float | None = None) -> bool:
        try:
            async with asyncio.timeout(self.wait_s if within is None else within):
                while await self.reader.read(4096):
                    pass
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


Client = TypeVar("Client", bound=RawClient)


@contextlib.asynccontextmanager
async def connected(kind: type[Client], port: int) -> AsyncIterator[Client]:
    """A client of `kind` connected to `port`, closed after the block."""
    client = await kind.connect(port)
    try:
        yield client
    finally:
        await client.close()
