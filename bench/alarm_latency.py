"""Figure 1: alarm latency, from the DC-09 frame received at the edge to the dispatch committed at central.

A real `shaobing edge` process with a DC-09 receiver, a private Mosquitto and central (the `Central` service, on SQLite)
in this process. A simulated dialler arms the site (SIA CL), then sends burglary alarms (SIA BA) one after another,
each on its own zone so none folds into an open dispatch, with a short random gap after each ACK. For every alarm:

- `raised`: dispatches.raised_at - readings.rx, both stamped on this machine's clock (rx by the driver when the frame
  arrives, in milliseconds; raised_at when central's ingest transaction takes the batch);
- `committed`: the wall-clock time at which central's transaction holding the dispatch committed, minus rx.

(a) at idle: the agent runs the DC-09 driver only; (b) under load: the same agent also runs a synthetic_load driver at
1,000 position readings/s on the same site, so every alarm shares the outbox, the uplink, the broker and the ingest
with the positions. The load central actually stored during the alarms is reported beside it.

Run: .venv/bin/python -m bench.alarm_latency [--alarms N] [--rate R]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from firmware_sim.dc09_dialler import Dc09Dialler, sia_event
from sqlalchemy import func, select

from bench.common import (
    EdgeProcess,
    Figure,
    MemorySampler,
    Stack,
    at_most,
    central_stack,
    dc09_driver,
    edge_config,
    load_driver,
    percentile,
    quiet_logging,
    say,
    table,
)
from central.store.schema import dispatches, readings
from shaobing.net import free_port

SITE = "bench-shop"
ACCOUNT = "5678"
GOAL_P99_MS = 50.0
WARM_UP_S = 3.0  # under load: let the positions flow before the first alarm
ZONES_PER_PHASE = 500  # phase (b) uses zones from 501, so no alarm meets an open dispatch of phase (a)


@dataclass(frozen=True)
class PhaseResult:
    label: str
    sent: int
    raised_ms: list[float]
    committed_ms: list[float]
    load_stored_per_s: float | None
    edge_peak_rss_mb: float
    edge_hwm_mb: float | None

    def describe(self) -> str:
        def stats(values: list[float]) -> str:
            if not values:
                return "none"
            return (f"p50 {percentile(values, 0.5):.1f} ms, p99 {percentile(values, 0.99):.1f} ms, "
                    f"max {max(values):.1f} ms")

        load = "" if self.load_stored_per_s is None else f"; load stored by central {self.load_stored_per_s:.0f}/s"
        return (f"{self.label}: {len(self.raised_ms)}/{self.sent} alarms dispatched; "
                f"to raised_at {stats(self.raised_ms)}; to commit {stats(self.committed_ms)}{load}")


async def _latencies(stack: Stack, since: datetime, expected: int) -> tuple[list[float], list[float]]:
    """Per dispatched alarm since `since`: (raised_at - rx, commit - rx) in ms, once all `expected` are there."""
    query = (select(readings.c.site, readings.c.seq, readings.c.rx, dispatches.c.raised_at)
             .join(dispatches, dispatches.c.reading_id == readings.c.id)
             .where(dispatches.c.site == SITE, dispatches.c.alarm_class == "burglary", dispatches.c.raised_at >= since))
    count = select(func.count()).select_from(query.subquery())
    deadline = time.monotonic() + 15
    async with stack.engine.connect() as connection:
        while (await connection.execute(count)).scalar_one() < expected and time.monotonic() < deadline:
            await connection.rollback()  # a fresh snapshot on the next look
            await asyncio.sleep(0.1)
        rows = (await connection.execute(query)).all()
    raised = [(raised_at - rx).total_seconds() * 1000 for _site, _seq, rx, raised_at in rows]
    committed = [(stack.commits.at[(site, seq)] - rx.timestamp()) * 1000
                 for site, seq, rx, _raised in rows if (site, seq) in stack.commits.at]
    return raised, committed


@dataclass(frozen=True)
class Tuning:
    """Deliberate waits on the alarm's path, None for the shipped defaults (edge 2 ms, central 5 ms)."""

    edge_commit_ms: float | None = None  # the edge outbox's group-commit window ([outbox] commit_interval_ms)
    central_batch_wait_ms: float | None = None  # central's wait for a fuller batch ([ingest] batch_wait_ms)

    def describe(self) -> str:
        parts = [f"edge commit_interval_ms={self.edge_commit_ms:g}" if self.edge_commit_ms is not None else "",
                 f"central batch_wait_ms={self.central_batch_wait_ms:g}"
                 if self.central_batch_wait_ms is not None else ""]
        return ", ".join(part for part in parts if part) or "shipped defaults"


async def phase(stack: Stack, label: str, zones: range, load_rate: float | None,
                tuning: Tuning = Tuning()) -> PhaseResult:
    port, key = free_port(), secrets.token_hex(16)
    drivers = [dc09_driver(f"127.0.0.1:{port}", ACCOUNT, key)]
    if load_rate is not None:
        drivers.append(load_driver(load_rate))
    outbox = {"commit_interval_ms": tuning.edge_commit_ms} if tuning.edge_commit_ms is not None else None
    edge = EdgeProcess(edge_config(stack.workdir, stack, SITE, drivers, outbox_options=outbox))
    async with edge:
        await edge.start(ready="DC-09 receiver listening")
        await stack.wait_online(SITE)
        async with MemorySampler(edge.pid) as memory:
            if load_rate is not None:
                await asyncio.sleep(WARM_UP_S)
            since = datetime.now(UTC)
            stored_before, started = stack.central.ingest.counters.stored, time.monotonic()
            sent = 0
            async with Dc09Dialler("127.0.0.1", port, ACCOUNT, receiver="1", key=bytes.fromhex(key)) as dialler:
                if not await dialler.send(sia_event("CL", 7), timeout=5.0, attempts=3):
                    raise RuntimeError(f"the closing (arming) event was not acknowledged; see {edge.log_path}")
                for zone in zones:
                    if await dialler.send(sia_event("BA", zone), timeout=3.0, attempts=3):
                        sent += 1
                    await asyncio.sleep(random.uniform(0.01, 0.03))
            elapsed = time.monotonic() - started
            load = (stack.central.ingest.counters.stored - stored_before) / elapsed if load_rate is not None else None
        raised, committed = await _latencies(stack, since, sent)
    hwm = memory.last.hwm_mb if memory.last is not None else None
    return PhaseResult(label, sent, raised, committed, load, memory.peak_rss_mb, hwm)


async def measure(workdir: Path, alarms: int, load_rate: float,
                  tuning: Tuning = Tuning()) -> tuple[PhaseResult, PhaseResult]:
    if not 1 <= alarms < ZONES_PER_PHASE:
        raise ValueError(f"alarms must be 1..{ZONES_PER_PHASE - 1}")
    ingest = ({"batch_wait_ms": tuning.central_batch_wait_ms} if tuning.central_batch_wait_ms is not None else None)
    async with central_stack(workdir, [SITE], ingest=ingest) as stack:
        idle = await phase(stack, "idle", range(1, alarms + 1), None, tuning)
        say(f"  {idle.describe()}")
        loaded = await phase(stack, f"{load_rate:.0f} readings/s", range(ZONES_PER_PHASE + 1,
                                                                           ZONES_PER_PHASE + alarms + 1), load_rate,
                             tuning)
        say(f"  {loaded.describe()}")
    return idle, loaded


def figures(idle: PhaseResult, loaded: PhaseResult, load_rate: float) -> list[Figure]:
    out: list[Figure] = []
    for tag, result in (("1a idle", idle), (f"1b {load_rate:.0f}/s load", loaded)):
        lost = result.sent - len(result.raised_ms)
        for name, values in (("raised_at", result.raised_ms), ("commit", result.committed_ms)):
            p50 = percentile(values, 0.5) if values else None
            p99 = percentile(values, 0.99) if values else None
            goal = f"p99 < {GOAL_P99_MS:.0f} ms" + ("" if tag.startswith("1a") else " (idle goal)")
            note = ""
            if name == "raised_at":
                note = f"{len(result.raised_ms)} alarms" + (f", {lost} NOT dispatched" if lost else "")
                if result.load_stored_per_s is not None:
                    note += f"; background load stored by central: {result.load_stored_per_s:.0f} readings/s"
            out.append(Figure(f"{tag}: alarm latency p50, rx -> {name}", p50, "ms"))
            out.append(Figure(f"{tag}: alarm latency p99, rx -> {name}", p99, "ms", goal,
                              at_most(GOAL_P99_MS, p99) if tag.startswith("1a") else None, note))
    return out


async def run(*, alarms: int = 200, load_rate: float = 1000.0,
              tuning: Tuning = Tuning()) -> tuple[list[Figure], PhaseResult]:
    """The figures, and the loaded phase (whose edge process memory the RSS figure can use)."""
    say(f"alarm latency: {alarms} DC-09 burglary alarms at idle, then under {load_rate:.0f} readings/s "
        f"({tuning.describe()})")
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as scratch:
        idle, loaded = await measure(Path(scratch), alarms, load_rate, tuning)
    return figures(idle, loaded, load_rate), loaded


def main() -> None:
    parser = argparse.ArgumentParser(description="alarm latency, frame at the edge to dispatch at central")
    parser.add_argument("--alarms", type=int, default=200)
    parser.add_argument("--rate", type=float, default=1000.0, help="background readings/s in phase (b)")
    parser.add_argument("--edge-commit-ms", type=float, default=None,
                        help="the edge outbox's group-commit window (default: the agent's, 2 ms)")
    parser.add_argument("--central-batch-wait-ms", type=float, default=None,
                        help="central's wait for a fuller ingest batch (default: central's, 5 ms)")
    arguments = parser.parse_args()
    quiet_logging()
    tuning = Tuning(arguments.edge_commit_ms, arguments.central_batch_wait_ms)
    found, _ = asyncio.run(run(alarms=arguments.alarms, load_rate=arguments.rate, tuning=tuning))
    say(table(found))


if __name__ == "__main__":
    main()
