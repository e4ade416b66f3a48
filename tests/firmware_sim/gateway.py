"""A GT06 gateway (the real driver) in the test process, a sink standing for the edge outbox, and small helpers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from firmware_sim.tracker.device import SimTracker

from drivers.base import DriverContext, OutboxRefused
from drivers.gt06.driver import Gt06Server, create
from shaobing.envelope import Kind, Reading

LOG = logging.getLogger("tests.tracker_sim")


class RecordingSink:
    """The edge outbox as the gateway sees it: commits readings to a list; can be held (`gate`) or made to
    refuse."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.refusals = 0
        self.gate: asyncio.Event | None = None
        self.held = 0

    async def submit(self, reading: Reading) -> int:
        if self.gate is not None:
            self.held += 1
            await self.gate.wait()
        if self.refusals:
            self.refusals -= 1
            raise OutboxRefused("outbox full")
        self.readings.append(reading)
        return len(self.readings)

    def of(self, kind: Kind, device: str | None = None) -> list[Reading]:
        return [r for r in self.readings if r.kind is kind and (device is None or r.device == device)]

    def gps(self, device: str | None = None) -> list[Reading]:
        return [r for r in self.of(Kind.POSITION, device) if r.data.get("source") == "gps"]


class Gateway:
    """A GT06 gateway driver running in this process, as an edge agent runs it; `stop()` ends it like a kill."""

    def __init__(self, sink: RecordingSink, port: int, options: dict[str, Any]) -> None:
        self.server: Gt06Server = create({"listen": f"127.0.0.1:{port}", **options}, source="test: driver 'gt06'")
        self._task = asyncio.create_task(self.server.run(DriverContext(site="bikes", sink=sink, log=LOG)))

    @property
    def port(self) -> int:
        assert self.server.bound_port is not None
        return self.server.bound_port

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def gateway(sink: RecordingSink, port: int = 0, **options: Any) -> AsyncIterator[Gateway]:
    running_gateway = Gateway(sink, port, options)
    try:
        await asyncio.wait_for(running_gateway.server.ready.wait(), 5)
        yield running_gateway
    finally:
        await running_gateway.stop()


@contextlib.asynccontextmanager
async def running(tracker: SimTracker) -> AsyncIterator[SimTracker]:
    task = asyncio.create_task(tracker.run(), name=f"tracker-{tracker.imei}")
    try:
        yield tracker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(condition: Callable[[], bool], within: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
