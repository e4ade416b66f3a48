"""A fleet of simulated trackers in one asyncio process: thousands of GT06 connections to one gateway.

Trackers start at `ramp_per_s` (a gateway sees a steady stream of new connections, not ten thousand SYNs at once),
share one random generator (seeded: the same `seed` gives the same IMEIs, parking spots and scenario mix) and one
set of counters, and run one task each. Reply latencies go to a fixed-size ring, so a long run does not grow.
"""

from __future__ import annotations

import asyncio
import logging
import random
from array import array
from dataclasses import asdict
from types import TracebackType
from typing import Any

from firmware_sim.tracker.bike import Bike
from firmware_sim.tracker.device import (
    DEFAULT_SETTINGS,
    EventHook,
    Exchange,
    SimTracker,
    TrackerSettings,
    TrackerStats,
)
from firmware_sim.tracker.geo import Point
from firmware_sim.tracker.imeis import DEFAULT_BASE, imei_at
from firmware_sim.tracker.scenarios import SCENARIOS, script_for
from firmware_sim.tracker.streets import StreetGrid
from shaobing.clock import Clock


class LatencyRing:
    """The last `size` reply latencies in seconds, in a flat array of doubles."""

    def __init__(self, size: int = 65536) -> None:
        self._values = array("d", bytes(8 * size))
        self._count = 0

    def add(self, seconds: float) -> None:
        self._values[self._count % len(self._values)] = seconds
        self._count += 1

    @property
    def count(self) -> int:
        return self._count

    def percentile(self, share: float) -> float | None:
        kept = sorted(self._values[:min(self._count, len(self._values))])
        if not kept:
            return None
        return kept[min(len(kept) - 1, int(share * len(kept)))]


def parking_spot(grid: StreetGrid, rng: random.Random) -> Point:
    """Somewhere along a street of the grid: a crossing, moved part of a block along one of its streets."""
    x, y = grid.point(grid.random_crossing(rng))
    along = rng.uniform(-grid.block_m / 2, grid.block_m / 2)
    half = (grid.size - 1) * grid.block_m / 2
    if rng.random() < 0.5:
        return max(-half, min(half, x + along)), y
    return x, max(-half, min(half, y + along))


class TrackerFleet:
    """`async with TrackerFleet(("127.0.0.1", port), 500) as fleet:` runs 500 trackers until the block ends."""

    def __init__(self, server: tuple[str, int], count: int, *, settings: TrackerSettings = DEFAULT_SETTINGS,
                 imei_base: str = DEFAULT_BASE, scenario: str = "mixed", seed: int | None = None,
                 ramp_per_s: float = 500.0, grid: StreetGrid | None = None, clock: Clock | None = None,
                 on_event: EventHook | None = None) -> None:
        if count < 1:
            raise ValueError("a fleet needs at least one tracker")
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
        if ramp_per_s <= 0:
            raise ValueError("the ramp must be positive (trackers started per second)")
        imei_at(imei_base, count - 1)  # a bad base or too many trackers for it fails here, not mid-ramp
        self.server = server
        self.count = count
        self.settings = settings
        self.imei_base = imei_base
        self.scenario = scenario
        self.ramp_per_s = ramp_per_s
        self.grid = grid or StreetGrid()
        self.rng = random.Random(seed)
        self.stats = TrackerStats()
        self.latency = LatencyRing()
        self.trackers: list[SimTracker] = []
        self._clock = clock
        self._on_event = on_event
        self._log = logging.getLogger("firmware_sim.tracker.fleet")
        self.crashed = 0  # trackers whose task ended with an error (a bug: each is logged with its traceback)
        self._tasks: list[asyncio.Task[None]] = []
        self._starter: asyncio.Task[None] | None = None
        self.started = asyncio.Event()  # every tracker has been started (not necessarily connected)

    async def __aenter__(self) -> TrackerFleet:
        self._starter = asyncio.create_task(self._start_all(), name="tracker-fleet-ramp")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def _record(self, tracker: SimTracker, exchange: Exchange) -> None:
        self.latency.add(exchange.replied_at - exchange.sent_at)

    def _make(self, index: int) -> SimTracker:
        bike = Bike(self.grid, parking_spot(self.grid, self.rng), self.rng)
        return SimTracker(imei_at(self.imei_base, index), self.server, bike, self.rng, settings=self.settings,
                          stats=self.stats, clock=self._clock, script=script_for(self.scenario, self.rng),
                          on_event=self._on_event, on_exchange=self._record)

    async def _start_all(self) -> None:
        batch = max(1, round(self.ramp_per_s / 50))  # start in small groups, 50 times a second
        for index in range(self.count):
            tracker = self._make(index)
            self.trackers.append(tracker)
            task = asyncio.create_task(tracker.run(), name=f"tracker-{tracker.imei}")
            task.add_done_callback(self._ended)
            self._tasks.append(task)
            if (index + 1) % batch == 0 and index + 1 < self.count:
                await asyncio.sleep(batch / self.ramp_per_s)
        self.started.set()

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.crashed += 1
            self._log.error("%s stopped", task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        tasks = [self._starter, *self._tasks] if self._starter is not None else list(self._tasks)
        for task in tasks:
            task.cancel()
        # A crashed tracker was logged when it ended: its exception is not raised again here.
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def wait_online(self, count: int | None = None, *, within: float = 60.0) -> bool:
        """Wait until `count` trackers (default: all) are online at once; False when `within` s ran out first."""
        wanted = self.count if count is None else count
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.stats.connected < wanted:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    def summary(self) -> dict[str, Any]:
        figures: dict[str, Any] = {"trackers": len(self.trackers), **asdict(self.stats)}
        figures["buffered"] = sum(tracker.buffer.waiting for tracker in self.trackers)
        median, p99 = self.latency.percentile(0.5), self.latency.percentile(0.99)
        figures["reply_ms_p50"] = None if median is None else round(median * 1000, 1)
        figures["reply_ms_p99"] = None if p99 is None else round(p99 * 1000, 1)
        figures["stolen"] = sum(1 for tracker in self.trackers if tracker.theft_mark is not None)
        figures["crashed"] = self.crashed
        return figures
