"""What the tests of the line drivers (NMEA receivers and trackers, Contact ID panels) share: a sink that numbers
readings like the outbox and can hold or refuse them, a deadline-bound wait, and a serial driver running on a port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import pytest

from drivers.base import DriverContext, OutboxRefused
from shaobing.envelope import Reading


class RecordingSink:
    """Numbers readings in order; refuses the first `refuse` submits, or holds each until `gate` is set."""

    def __init__(self, *, refuse: int = 0, gate: asyncio.Event | None = None) -> None:
        self.readings: list[Reading] = []
        self.refuse = refuse
        self.gate = gate
        self.entered = asyncio.Event()
        self.calls = 0

    async def submit(self, reading: Reading) -> int:
        self.calls += 1
        self.entered.set()
        if self.refuse > 0:
            self.refuse -= 1
            raise OutboxRefused("outbox full")
        if self.gate is not None:
            await self.gate.wait()
        self.readings.append(reading)
        return len(self.readings)


async def eventually(check: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Poll a condition (driver counters have no event to wait on) until it holds, or fail after `within` s."""
    try:
        async with asyncio.timeout(within):
            while not check():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not within {within} s: {what}") from None


class Driver(Protocol):
    async def run(self, ctx: DriverContext) -> None: ...


@contextlib.asynccontextmanager
async def running_on_port(driver: Driver, ctx: DriverContext, name: str) -> AsyncIterator[None]:
    """A serial driver in a task named `name`, the port open before the block starts; cancelled after it."""
    task = asyncio.create_task(driver.run(ctx), name=name)
    try:
        # pyserial flushes the port's input when it opens it: wait for that before anything is written
        await eventually(lambda: ctx.stats.counts["opened"] >= 1 or task.done(), "port opened")
        assert not task.done()
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
