"""Measure what a simulated tracker costs in the fleet's process: `python -m firmware_sim.tracker.memory`.

A GT06 gateway runs in a child process (its own memory is not counted) with a sink that takes every reading; this
process measures its resident set before the fleet starts and once every tracker is online and has reported a few
times, and prints the difference per tracker. Needs two file descriptors per tracker across the two processes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import resource

from drivers.base import DriverContext
from drivers.gt06.driver import create
from firmware_sim.tracker.device import TrackerSettings
from firmware_sim.tracker.fleet import TrackerFleet
from shaobing.envelope import Reading
from shaobing.net import free_port


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    async def submit(self, reading: Reading) -> int:
        self.count += 1
        return self.count


def _serve(port: int, max_connections: int) -> None:
    async def serve() -> None:
        server = create({"listen": f"127.0.0.1:{port}", "max_connections": max_connections}, source="memory")
        await server.run(DriverContext(site="memory", sink=CountingSink(), log=logging.getLogger("memory")))

    _raise_fd_limit()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def measure(count: int, interval: float, port: int, *, rounds: int = 3) -> dict[str, float]:
    settings = TrackerSettings(interval_s=interval, heartbeat_s=interval * 2)
    gc.collect()
    before = rss_bytes()
    loop = asyncio.get_running_loop()
    async with TrackerFleet(("127.0.0.1", port), count, settings=settings, scenario="mixed", seed=1,
                            ramp_per_s=2000.0) as fleet:
        started = loop.time()
        if not await fleet.wait_online(within=120.0):
            raise SystemExit(f"only {fleet.stats.connected} of {count} trackers came online")
        online_s = loop.time() - started
        await asyncio.sleep(interval * rounds)  # every tracker reports and heartbeats a few times
        gc.collect()
        after = rss_bytes()
        summary = fleet.summary()
    return {"trackers": count, "online_after_s": round(online_s, 1), "rss_before_mb": round(before / 2**20, 1),
            "rss_after_mb": round(after / 2**20, 1), "bytes_per_tracker": round((after - before) / count),
            "reports_made": summary["reports_made"], "replies": summary["replies"],
            "reply_ms_p50": summary["reply_ms_p50"], "reply_ms_p99": summary["reply_ms_p99"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=10.0)
    args = parser.parse_args()
    _raise_fd_limit()
    port = free_port()
    gateway = multiprocessing.get_context("spawn").Process(target=_serve, args=(port, args.count + 100),
                                                           daemon=True)
    gateway.start()
    try:
        figures = asyncio.run(measure(args.count, args.interval, port))
    finally:
        gateway.terminate()
        gateway.join(10)
    for key, value in figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
