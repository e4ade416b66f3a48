"""Figure 5: resident memory of an edge agent process (`shaobing edge`, both drivers configured: DC-09 and
synthetic_load), read from /proc/PID/status: VmRSS (resident now) and VmHWM (the highest it has been).

- idle: the DC-09 receiver with no dialler connected and the load driver at a trickle of 1 reading/s, a few seconds
  after the agent connected;
- under load: the load driver at 1,000 readings/s for a while (peak VmRSS sampled every 0.2 s, and VmHWM);
- while draining: taken from the drain figure (100,000 buffered readings), when that runs.

Run: .venv/bin/python -m bench.edge_rss [--load-seconds T] [--rate R]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    EdgeProcess,
    Figure,
    Memory,
    MemorySampler,
    at_most,
    central_stack,
    dc09_driver,
    edge_config,
    load_driver,
    memory_of,
    quiet_logging,
    say,
    table,
)
from shaobing.net import free_port

SITE = "bench-rss"
GOAL_MB = 60.0
IDLE_SETTLE_S = 5.0


@dataclass(frozen=True)
class RssResult:
    idle: Memory
    load_peak_rss_mb: float
    load_hwm_mb: float
    load_rate: float
    load_stored_per_s: float


async def measure(workdir: Path, load_seconds: float, load_rate: float) -> RssResult:
    async with central_stack(workdir, [SITE]) as stack:

        def config(rate: float) -> Path:
            drivers = [dc09_driver(f"127.0.0.1:{free_port()}", "5678", secrets.token_hex(16)), load_driver(rate)]
            return edge_config(workdir, stack, SITE, drivers)

        async with EdgeProcess(config(1.0)) as idle_edge:
            await idle_edge.start(ready="DC-09 receiver listening")
            await stack.wait_online(SITE)
            await asyncio.sleep(IDLE_SETTLE_S)
            idle = memory_of(idle_edge.pid)
        async with EdgeProcess(config(load_rate)) as busy_edge:
            await busy_edge.start(ready="DC-09 receiver listening")
            await stack.wait_online(SITE)
            stored_before = stack.central.ingest.counters.stored
            async with MemorySampler(busy_edge.pid) as memory:
                await asyncio.sleep(load_seconds)
            stored = (stack.central.ingest.counters.stored - stored_before) / load_seconds
    hwm = memory.last.hwm_mb if memory.last is not None else memory.peak_rss_mb
    return RssResult(idle, memory.peak_rss_mb, hwm, load_rate, stored)


def figures(result: RssResult, draining: tuple[float, float | None] | None = None) -> list[Figure]:
    goal = f"< {GOAL_MB:.0f} MB"
    out = [
        Figure("5 edge RSS idle (VmRSS)", result.idle.rss_mb, "MB", goal, at_most(GOAL_MB, result.idle.rss_mb),
               "DC-09 receiver idle, load driver at 1 reading/s"),
        Figure(f"5 edge RSS at {result.load_rate:.0f} readings/s (peak VmRSS)", result.load_peak_rss_mb, "MB", goal,
               at_most(GOAL_MB, result.load_peak_rss_mb),
               f"VmHWM {result.load_hwm_mb:.1f} MB; central stored {result.load_stored_per_s:.0f} readings/s"),
    ]
    if draining is not None:
        peak, hwm = draining
        out.append(Figure("5 edge RSS while draining (peak VmRSS)", peak, "MB", goal, at_most(GOAL_MB, peak),
                          f"VmHWM {hwm:.1f} MB" if hwm is not None else ""))
    return out


async def run(*, load_seconds: float = 10.0, load_rate: float = 1000.0) -> RssResult:
    say(f"edge RSS: idle, then {load_rate:.0f} readings/s for {load_seconds:g} s")
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as scratch:
        result = await measure(Path(scratch), load_seconds, load_rate)
    say(f"  idle VmRSS {result.idle.rss_mb:.1f} MB (VmHWM {result.idle.hwm_mb:.1f}); under load peak VmRSS "
        f"{result.load_peak_rss_mb:.1f} MB (VmHWM {result.load_hwm_mb:.1f}), {result.load_stored_per_s:.0f}/s stored")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="resident memory of an edge agent process")
    parser.add_argument("--load-seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--with-drain", type=int, default=0, metavar="N",
                        help="also drain N buffered readings (bench.drain) and report the agent's memory meanwhile")
    arguments = parser.parse_args()
    quiet_logging()

    async def everything() -> list[Figure]:
        result = await run(load_seconds=arguments.load_seconds, load_rate=arguments.rate)
        draining = None
        if arguments.with_drain:
            from bench import drain

            _, drained = await drain.run(readings=arguments.with_drain)
            draining = (drained.peak_rss_mb, drained.hwm_mb)
        return figures(result, draining)

    say(table(asyncio.run(everything())))


if __name__ == "__main__":
    main()
