"""Figure 3: durable outbox writes per second (SQLite, WAL, synchronous=FULL: one fsync per commit).

- group commit: many submitters at once, each waiting for its reading to be on disk before sending the next (as
  devices wait for their acknowledgement); one transaction takes every reading queued meanwhile;
- one at a time: a single submitter, so every reading is its own transaction: the rate a lone device sees, for
  contrast; measured with the agent's default group-commit window (2 ms) and with none.

Run: .venv/bin/python -m bench.outbox [--readings N] [--submitters S] [--single-seconds T]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import Figure, percentile, position, quiet_logging, say, table
from edge.outbox import Outbox

SITE = "bench-outbox"
LOG = logging.getLogger("bench.outbox")


@dataclass(frozen=True)
class OutboxResult:
    readings: int
    seconds: float
    commits: int
    submit_ms: list[float]

    @property
    def rate(self) -> float:
        return self.readings / self.seconds

    def describe(self) -> str:
        return (f"{self.readings} readings in {self.seconds:.2f} s = {self.rate:,.0f}/s, {self.commits} commits "
                f"({self.readings / max(self.commits, 1):.1f} readings each), submit p50 "
                f"{percentile(self.submit_ms, 0.5):.2f} ms, p99 {percentile(self.submit_ms, 0.99):.2f} ms")


async def concurrent(path: Path, readings: int, submitters: int, commit_interval: float = 0.002) -> OutboxResult:
    latencies: list[float] = []
    async with Outbox(path, SITE, log=LOG, commit_interval=commit_interval) as outbox:
        commits_before = outbox.counts().commits

        async def submitter(first: int) -> None:
            for number in range(first, readings, submitters):
                reading = position(number)
                started = time.perf_counter()
                await outbox.submit(reading)
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(submitter(index) for index in range(submitters)))
        seconds = time.perf_counter() - started
        return OutboxResult(readings, seconds, outbox.counts().commits - commits_before, latencies)


async def single(path: Path, seconds: float, commit_interval: float) -> OutboxResult:
    latencies: list[float] = []
    async with Outbox(path, SITE, log=LOG, commit_interval=commit_interval) as outbox:
        commits_before = outbox.counts().commits
        started = time.perf_counter()
        number = 0
        while time.perf_counter() - started < seconds:
            before = time.perf_counter()
            await outbox.submit(position(number))
            latencies.append((time.perf_counter() - before) * 1000)
            number += 1
        elapsed = time.perf_counter() - started
        return OutboxResult(number, elapsed, outbox.counts().commits - commits_before, latencies)


async def run(*, readings: int = 50_000, submitters: int = 500, single_seconds: float = 3.0) -> list[Figure]:
    say(f"outbox: {readings} readings from {submitters} concurrent submitters; then one submitter for "
        f"{single_seconds:g} s, with a 2 ms and a 0 ms group-commit window")
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as scratch:
        work = Path(scratch)
        group = await concurrent(work / "group.db", readings, submitters)
        say(f"  group commit: {group.describe()}")
        lone = await single(work / "single.db", single_seconds, 0.002)
        say(f"  one at a time (2 ms window): {lone.describe()}")
        lone_now = await single(work / "single-0.db", single_seconds, 0.0)
        say(f"  one at a time (no window): {lone_now.describe()}")
    return [
        Figure(f"3 outbox writes/s, {submitters} concurrent submitters", group.rate, "/s",
               note=f"{group.readings / max(group.commits, 1):.0f} readings per commit (fsync); submit p99 "
                    f"{percentile(group.submit_ms, 0.99):.1f} ms"),
        Figure("3 outbox writes/s, one submitter (2 ms window)", lone.rate, "/s",
               note=f"submit p50 {percentile(lone.submit_ms, 0.5):.2f} ms"),
        Figure("3 outbox writes/s, one submitter (no window)", lone_now.rate, "/s",
               note=f"submit p50 {percentile(lone_now.submit_ms, 0.5):.2f} ms"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="durable outbox writes per second")
    parser.add_argument("--readings", type=int, default=50_000)
    parser.add_argument("--submitters", type=int, default=500)
    parser.add_argument("--single-seconds", type=float, default=3.0)
    arguments = parser.parse_args()
    quiet_logging()
    say(table(asyncio.run(run(readings=arguments.readings, submitters=arguments.submitters,
                              single_seconds=arguments.single_seconds))))


if __name__ == "__main__":
    main()
