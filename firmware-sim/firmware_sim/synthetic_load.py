"""A load generator that runs inside an edge agent as a driver: e-bike-like position readings at a steady rate.

Used by the benchmarks (background load of N readings/s through the real outbox and uplink) and by load tests. It
speaks no wire protocol: it stands for many devices whose frames are already decoded.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from drivers.base import DriverContext, OutboxRefused
from shaobing.config import Closed, validate_table
from shaobing.envelope import Kind, Reading


class SyntheticLoadConfig(Closed):
    name: str = "load"
    rate: float = Field(default=100.0, gt=0, le=100_000)  # readings per second
    devices: int = Field(default=100, ge=1, le=1_000_000)
    concurrency: int = Field(default=64, ge=1, le=4096)  # submits in flight, as many devices reporting at once


def synthetic_position(number: int, *, devices: int, name: str = "load") -> Reading:
    """The `number`th position of the load: `devices` e-bikes circling central Beijing, one report each in turn."""
    device = number % devices
    angle = number / 1000.0
    return Reading(
        device=f"{name}-{device:06d}",
        kind=Kind.POSITION,
        data={
            "lat": 39.9042 + 0.01 * math.sin(angle + device),
            "lon": 116.4074 + 0.01 * math.cos(angle + device),
            "valid": True,
            "satellites": 9,
            "speed_kmh": 18.0,
            "course": 90,
            "source": "gps",
        },
    )


class SyntheticLoad:
    def __init__(self, config: SyntheticLoadConfig) -> None:
        self.config = config
        self.name = config.name
        self.submitted = 0

    def _reading(self, number: int) -> Reading:
        return synthetic_position(number, devices=self.config.devices, name=self.name)

    async def run(self, ctx: DriverContext) -> None:
        interval = 1.0 / self.config.rate
        slots = asyncio.Semaphore(self.config.concurrency)
        loop = asyncio.get_running_loop()
        start = loop.time()
        pending: set[asyncio.Task[None]] = set()

        async def submit(number: int) -> None:
            try:
                await ctx.sink.submit(self._reading(number))
                self.submitted += 1
            except OutboxRefused:
                ctx.stats.count("refused_by_outbox")
            finally:
                slots.release()

        number = 0
        while True:
            due = start + number * interval
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            task = asyncio.create_task(submit(number), name=f"{self.name}-submit")
            pending.add(task)
            task.add_done_callback(pending.discard)
            number += 1


def create(options: Mapping[str, Any], *, source: str) -> SyntheticLoad:
    return SyntheticLoad(validate_table(options, SyntheticLoadConfig, source))
