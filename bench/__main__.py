"""Every benchmark figure, measured on this machine, in one table with the goal beside each.

Run: .venv/bin/python -m bench [--quick] [--only FIGURE ...] [--pg URL]
FIGURE is one of: latency (1), ingest (2), outbox (3), drain (4), rss (5), decode (6), trackers (7, 9), theft (8),
watchlist (ID card reads and registrations checked against 1,000,000 listed people),
doors (card-to-door decision at an OSDP reader, uplink up and down; decide() with 1,000,000 entries),
console (an alarm to its row on 50 open console pages in headless Chromium; the pages' weight).
The trackers and theft figures run 10,000 simulated trackers (about 5 minutes; --quick: 2,000).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import tempfile
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench import (
    alarm_latency,
    console_latency,
    decode_rates,
    door_decision,
    drain,
    edge_rss,
    ingest,
    outbox,
    trackers,
    watchlist,
)
from bench.common import Figure, at_least, quiet_logging, say, table
from shaobing.broker import BrokerUser, MosquittoBroker

INGEST_GOAL = 10_000.0
FIGURES = ("latency", "ingest", "outbox", "drain", "rss", "decode", "trackers", "theft", "watchlist", "doors",
           "console")


@dataclass(frozen=True)
class Sizes:
    alarms: int
    ingest_readings: int
    ingest_sites: int
    outbox_readings: int
    single_seconds: float
    drain_readings: int
    rss_load_seconds: float


FULL = Sizes(alarms=200, ingest_readings=20_000, ingest_sites=20, outbox_readings=50_000, single_seconds=3.0,
             drain_readings=100_000, rss_load_seconds=10.0)
QUICK = Sizes(alarms=60, ingest_readings=5_000, ingest_sites=20, outbox_readings=10_000, single_seconds=1.0,
              drain_readings=20_000, rss_load_seconds=5.0)


async def ingest_figures(readings: int, site_count: int, pg: str) -> list[Figure]:
    """Figure 2 through bench/ingest.py: store only, and end to end through Mosquitto (drain and live)."""
    say(f"central ingest: {readings} readings from {site_count} sites, SQLite and PostgreSQL (bench/ingest.py)")
    out: list[Figure] = []
    goal = f">= {INGEST_GOAL:,.0f}/s"
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch_dir:
        scratch = Path(scratch_dir)
        batch = ingest.messages(readings, site_count)
        for kind in ("sqlite", "postgresql"):
            label = "SQLite" if kind == "sqlite" else "PostgreSQL"
            try:
                async with ingest.database(kind, pg, scratch) as engine:
                    store_rate = await ingest.store_only(engine, batch, 100)
                users = [ingest.CENTRAL, *(BrokerUser(ingest.site_name(i), f"pw-{ingest.site_name(i)}", "site")
                                          for i in range(site_count))]
                async with (MosquittoBroker(scratch / f"broker-{kind}", users) as broker,
                            ingest.database(kind, pg, scratch) as engine):
                    drained, live = await ingest.end_to_end(engine, broker, readings, site_count)
            except OSError as error:  # no database server to measure on
                say(f"  {label}: not measured: {error}")
                out.append(Figure(f"2 ingest {label}", None, "", goal, None, f"not measured: {error}"))
                continue
            say(f"  {label}: store only {store_rate:,.0f}/s; end to end drain {drained:,.0f}/s, live {live:,.0f}/s")
            out += [
                Figure(f"2 ingest {label}, store only (batches of 100)", store_rate, "/s", goal,
                       at_least(INGEST_GOAL, store_rate)),
                Figure(f"2 ingest {label}, MQTT end to end, backlog", drained, "/s", goal,
                       at_least(INGEST_GOAL, drained)),
                Figure(f"2 ingest {label}, MQTT end to end, live", live, "/s", goal, at_least(INGEST_GOAL, live),
                       "publisher process running at the same time on this 2-core machine"),
            ]
    return out


async def run(chosen: list[str], sizes: Sizes, pg: str) -> list[Figure]:
    figures: list[Figure] = []
    draining: tuple[float, float | None] | None = None
    for name in FIGURES:
        if name not in chosen:
            continue
        started = time.monotonic()
        try:
            if name == "latency":
                figures += (await alarm_latency.run(alarms=sizes.alarms))[0]
            elif name == "ingest":
                figures += await ingest_figures(sizes.ingest_readings, sizes.ingest_sites, pg)
            elif name == "outbox":
                figures += await outbox.run(readings=sizes.outbox_readings, single_seconds=sizes.single_seconds)
            elif name == "drain":
                found, drained = await drain.run(readings=sizes.drain_readings)
                figures += found
                draining = (drained.peak_rss_mb, drained.hwm_mb)
            elif name == "rss":
                rss = await edge_rss.run(load_seconds=sizes.rss_load_seconds)
                figures += edge_rss.figures(rss, draining)
            elif name == "decode":
                figures += decode_rates.run(seconds=sizes.single_seconds / 3)
            elif name == "trackers":
                figures += await trackers.run_load(quick=sizes is QUICK)
            elif name == "theft":
                figures += await trackers.run_theft(quick=sizes is QUICK)
            elif name == "doors":
                figures += await door_decision.run(quick=sizes is QUICK)
            elif name == "console":
                figures += await console_latency.run(consoles=50, alarms=20 if sizes is QUICK else 40)
            elif name == "watchlist":
                watchlist.LOG.setLevel(logging.ERROR)  # one warning per hit otherwise
                figures += await watchlist.run(quick=sizes is QUICK, pg=pg)
        except Exception as error:  # one figure failing must not hide the others: it shows as failed in the table
            traceback.print_exc()
            figures.append(Figure(f"{name}: FAILED", None, "", "", False, f"{type(error).__name__}: {error}"))
        say(f"  ({name}: {time.monotonic() - started:.0f} s)")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description="shaobing benchmarks: the issue's figures on this machine")
    parser.add_argument("--quick", action="store_true", help="smaller runs (about a minute); drain goal not judged")
    parser.add_argument("--only", nargs="+", choices=FIGURES, default=list(FIGURES), metavar="FIGURE",
                        help=f"run only these: {', '.join(FIGURES)}")
    parser.add_argument("--pg", default=os.environ.get("SHAOBING_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"),
                        help="PostgreSQL server (admin URL) for the ingest figure")
    arguments = parser.parse_args()
    quiet_logging()
    sizes = QUICK if arguments.quick else FULL
    started = time.monotonic()
    say(f"shaobing benchmarks, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {platform.node()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}{' (quick)' if arguments.quick else ''}")
    figures = asyncio.run(run(arguments.only, sizes, arguments.pg))
    say(f"\ndone in {time.monotonic() - started:.0f} s\n")
    say(table(figures))
    if any(figure.name.endswith("FAILED") for figure in figures):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
