"""`shaobing sim tracker`: a fleet of simulated GT06 trackers against a gateway, with a line per notable event.

It runs until `--for` seconds have passed or until interrupted (Ctrl-C, SIGTERM), then stops every tracker and
prints a summary. The exit status is 1 when no tracker ever logged in (a wrong address, a gateway down), else 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal
import sys
import time
from typing import TextIO

from firmware_sim.tracker.device import SimTracker, TrackerSettings
from firmware_sim.tracker.fleet import TrackerFleet
from shaobing.net import split_host_port

QUIET_EVENTS = ("connection closed by the server",)  # a gateway restart would print one per tracker


def _stamp() -> str:
    return time.strftime("%H:%M:%S")


async def run_tracker_cli(*, server: str, count: int, interval: float, imei_base: str, scenario: str,
                          duration: float | None, seed: int | None, out: TextIO = sys.stdout) -> int:
    host, port = split_host_port(server)
    if interval <= 0:
        raise ValueError("--interval must be positive")
    if duration is not None and duration <= 0:
        raise ValueError("--for must be positive")
    quiet = {"closed": 0}

    def on_event(tracker: SimTracker, text: str) -> None:
        if text in QUIET_EVENTS:
            quiet["closed"] += 1
            return
        print(f"{_stamp()} {tracker.imei} {text}", file=out, flush=True)

    settings = TrackerSettings(interval_s=interval)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    started = loop.time()
    try:
        async with TrackerFleet((host, port), count, settings=settings, imei_base=imei_base, scenario=scenario,
                                seed=seed, on_event=on_event) as fleet:
            print(f"{_stamp()} {count} trackers ({scenario}) reporting every {interval:g} s to {host}:{port}",
                  file=out, flush=True)
            online = asyncio.create_task(fleet.wait_online(within=duration or 3600.0))
            stopped = asyncio.create_task(stop.wait())
            timer = asyncio.create_task(asyncio.sleep(duration if duration is not None else 10**9))
            try:
                await asyncio.wait([online, stopped, timer], return_when=asyncio.FIRST_COMPLETED)
                if online.done() and online.result():
                    print(f"{_stamp()} all {count} trackers online after {loop.time() - started:.1f} s",
                          file=out, flush=True)
                    await asyncio.wait([stopped, timer], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (online, stopped, timer):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            summary = fleet.summary()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    summary["connections_closed_by_server"] = quiet["closed"]
    summary["seconds"] = round(loop.time() - started, 1)
    summary["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(f"{_stamp()} summary: " + ", ".join(f"{key}={value}" for key, value in summary.items()), file=out,
          flush=True)
    return 0 if summary["logins"] else 1
