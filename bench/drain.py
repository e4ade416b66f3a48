"""Figure 4: draining 100,000 readings buffered while the agent was away from the broker.

The site's outbox is filled with N position readings while no agent is connected (written through `edge.outbox.Outbox`
in this process, exactly the rows an agent writes). Then a real `shaobing edge` process starts on that outbox (both
drivers configured: DC-09 and a synthetic_load trickle of 1 reading/s) with the broker and central up. Timed from the
moment its MQTT connection is up (its retained online state arrives at a subscriber here):

- until every buffered reading has left the outbox (no row with seq <= N left in the file: with the default
  `confirm = "central"` that is once central confirmed it stored them);
- until central (the `Central` service on SQLite, in this process) has stored all N.

The agent's VmRSS is sampled throughout (figure 5, while draining).

Run: .venv/bin/python -m bench.drain [--readings N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import secrets
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    WATCH_USER,
    EdgeProcess,
    Figure,
    MemorySampler,
    Stack,
    at_most,
    central_stack,
    dc09_driver,
    edge_config,
    load_driver,
    position,
    quiet_logging,
    say,
    table,
)
from edge.outbox import Outbox
from shaobing import topics
from shaobing.mqtt import MqttLink, MqttSettings
from shaobing.net import free_port

SITE = "bench-drain"
GOAL_S = 20.0
FILL_CHUNK = 1000
LOG = logging.getLogger("bench.drain")


@dataclass(frozen=True)
class DrainResult:
    readings: int
    fill_per_s: float
    startup_s: float  # process start -> connected
    to_broker_s: float  # connected -> outbox holds none of the buffered readings
    to_central_s: float  # connected -> central stored all of them
    peak_rss_mb: float
    hwm_mb: float | None


async def fill(path: Path, readings: int) -> float:
    """Write the backlog as the agent would, `FILL_CHUNK` submits at a time; returns readings/s."""
    async with Outbox(path, SITE, log=LOG) as outbox:
        started = time.perf_counter()
        for first in range(0, readings, FILL_CHUNK):
            await asyncio.gather(*(outbox.submit_nowait(position(n)) for n in range(first, min(first + FILL_CHUNK,
                                                                                             readings))))
        return readings / (time.perf_counter() - started)


def buffered_left(path: Path, readings: int) -> int:
    """Rows of the backlog still in the outbox, read beside the running agent (WAL lets a reader in)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM outbox WHERE seq <= ?", (readings,)).fetchone()[0])


async def wait_connected_state(stack: Stack, connected: asyncio.Event) -> None:
    """Sets `connected` when the site's online state arrives (the agent announces it as soon as it connects)."""
    settings = MqttSettings(url=stack.broker.url, username=WATCH_USER, password=stack.passwords[WATCH_USER],
                            client_id=WATCH_USER)
    async with MqttLink(settings, log=LOG, subscriptions=[(topics.state(SITE), 1)]) as link:
        async for message in link.messages():
            with contextlib.suppress(ValueError):
                if json.loads(message.payload).get("online") is True:
                    connected.set()
                    return


async def measure(workdir: Path, readings: int, window: int | None = None) -> DrainResult:
    outbox_path = workdir / f"{SITE}-outbox.db"
    fill_rate = await fill(outbox_path, readings)
    say(f"  filled the outbox with {readings} readings at {fill_rate:,.0f}/s (group commit)")
    async with central_stack(workdir, [SITE]) as stack:
        drivers = [dc09_driver(f"127.0.0.1:{free_port()}", "5678", secrets.token_hex(16)), load_driver(1.0)]
        mqtt = {"max_inflight": window} if window is not None else None
        edge = EdgeProcess(edge_config(workdir, stack, SITE, drivers, outbox=outbox_path, mqtt=mqtt))
        connected = asyncio.Event()
        watcher = asyncio.create_task(wait_connected_state(stack, connected), name="bench-drain-watch")
        await asyncio.sleep(0.5)  # the watcher's subscription is in place before the agent can announce itself
        try:
            async with edge, asyncio.timeout(300):
                started = time.time()
                await edge.start(ready="edge agent for site", within=60)
                async with MemorySampler(edge.pid, interval=0.1) as memory:
                    await connected.wait()
                    connected_at = time.time()
                    to_broker = to_central = None
                    while to_broker is None or to_central is None:
                        now = time.time()
                        if to_broker is None and await asyncio.to_thread(buffered_left, outbox_path, readings) == 0:
                            to_broker = now - connected_at
                        if (to_central is None and stack.central.ingest.counters.stored >= readings
                                and await stack.stored(SITE, readings) == readings):
                            to_central = now - connected_at
                        await asyncio.sleep(0.05)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
    hwm = memory.last.hwm_mb if memory.last is not None else None
    assert to_broker is not None
    assert to_central is not None
    return DrainResult(readings, fill_rate, connected_at - started, to_broker, to_central, memory.peak_rss_mb, hwm)


async def run(*, readings: int = 100_000, window: int | None = None) -> tuple[list[Figure], DrainResult]:
    say(f"drain: {readings} buffered readings, agent connects, until the outbox is empty and until stored at central"
        + ("" if window is None else f" (uplink window {window})"))
    with tempfile.TemporaryDirectory(prefix="bench-drain-") as scratch:
        result = await measure(Path(scratch), readings, window)
    say(f"  agent start -> connected {result.startup_s:.2f} s; connected -> outbox empty {result.to_broker_s:.2f} s "
        f"({readings / result.to_broker_s:,.0f}/s); connected -> all stored at central {result.to_central_s:.2f} s "
        f"({readings / result.to_central_s:,.0f}/s); agent peak VmRSS {result.peak_rss_mb:.1f} MB")
    scaled = "" if readings == 100_000 else f" (goal is for 100,000; {readings:,} measured)"
    return [
        Figure(f"4 drain {readings:,}: connected -> outbox empty", result.to_broker_s, "s", f"< {GOAL_S:.0f} s",
               at_most(GOAL_S, result.to_broker_s) if readings >= 100_000 else None,
               f"{readings / result.to_broker_s:,.0f} readings/s out of the outbox{scaled}"),
        Figure(f"4 drain {readings:,}: connected -> all stored at central", result.to_central_s, "s",
               f"< {GOAL_S:.0f} s", at_most(GOAL_S, result.to_central_s) if readings >= 100_000 else None,
               f"{readings / result.to_central_s:,.0f} readings/s into central (SQLite){scaled}"),
    ], result


def main() -> None:
    parser = argparse.ArgumentParser(description="drain time of a buffered outbox after reconnect")
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=None,
                        help="the agent's [mqtt] max_inflight (its uplink window); default: the agent's default")
    arguments = parser.parse_args()
    quiet_logging()
    found, _ = asyncio.run(run(readings=arguments.readings, window=arguments.window))
    say(table(found))


if __name__ == "__main__":
    main()
