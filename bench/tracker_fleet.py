"""The simulated trackers of the tracker benchmarks, in a process of their own, driven over a pipe.

The fleet runs in its own process so that its CPU time and memory are counted apart from the gateway's and
central's: a real deployment does not carry it. The benchmark sends one JSON object a line on the child's stdin and
reads one JSON answer a line on its stdout:

    {"op": "start"}                        connect every tracker (the fleet's ramp); answered at once
    {"op": "status"}                       counters, trackers online, reply latency p50/p99
    {"op": "interval", "seconds": 5.0}     every tracker reports this often from its next report on
    {"op": "steal", "index": 3}            victim 3 is stolen (no power cut: the theft rule must see it move)
    {"op": "thefts"}                       per victim: its theft mark and the send time of each position since stolen
    {"op": "stop"}                         close every connection and exit

The last `victims` trackers are built here rather than by `TrackerFleet`, parked and with a journal that keeps the
wall-clock send time of each real-time position, by fix time: the theft latency is measured from the send time of the
fix whose fix time central's notification names (the one that made the theft rule trip). The victims share the
fleet's counters, so "online" counts all trackers.

Run by bench/trackers.py as: python -m bench.tracker_fleet --server HOST:PORT --count N [--victims M] ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import resource
import sys
import time
from dataclasses import asdict, replace
from typing import Any

from firmware_sim.tracker.bike import Bike
from firmware_sim.tracker.device import Report, SimTracker, TrackerSettings
from firmware_sim.tracker.fleet import TrackerFleet, parking_spot
from firmware_sim.tracker.imeis import DEFAULT_BASE, imei_at


class SendTimes(list[Report]):
    """A victim's journal: keeps no report, only the wall-clock time each real-time position went out, by the epoch
    second of its fix time (the tracker sends a real-time report in the same step that makes it)."""

    def __init__(self) -> None:
        super().__init__()
        self.tracker: SimTracker | None = None
        self.sent: dict[int, float] = {}

    def append(self, report: Report) -> None:
        if report.alarm is None and self.tracker is not None and self.tracker.online:
            # Two reports in one second: central counts the first, the second is a duplicate.
            self.sent.setdefault(int(report.fix_time.timestamp()), time.time())


class Victims:
    """Parked, armed bikes whose thefts are timed."""

    def __init__(self, server: tuple[str, int], first_index: int, count: int, settings: TrackerSettings,
                 fleet: TrackerFleet, seed: int) -> None:
        rng = random.Random(seed + 1)
        self.trackers: list[SimTracker] = []
        self.journals: list[SendTimes] = []
        self.stolen_at: list[float | None] = [None] * count
        for index in range(count):
            journal = SendTimes()
            bike = Bike(fleet.grid, parking_spot(fleet.grid, rng), rng)
            tracker = SimTracker(imei_at(DEFAULT_BASE, first_index + index), server, bike, rng, settings=settings,
                                 stats=fleet.stats, journal=journal)
            journal.tracker = tracker
            self.trackers.append(tracker)
            self.journals.append(journal)
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, spread_s: float) -> None:
        """Start them `spread_s` apart in all, like the fleet's ramp, so they do not report in step."""
        gap = spread_s / max(1, len(self.trackers))
        self.tasks = [asyncio.create_task(_later(index * gap, tracker), name=f"victim-{tracker.imei}")
                      for index, tracker in enumerate(self.trackers)]

    def steal(self, index: int) -> None:
        self.stolen_at[index] = time.time()
        # Without the power-cut alarm (which trips at once): the fixes moving away must trip the rule.
        self.trackers[index].steal(power_cut=False)

    def thefts(self) -> list[dict[str, Any]]:
        out = []
        for tracker, journal, stolen_at in zip(self.trackers, self.journals, self.stolen_at, strict=True):
            if stolen_at is None:
                continue
            mark = tracker.theft_mark
            out.append({
                "imei": tracker.imei,
                "stolen_at": stolen_at,
                "mark": None if mark is None else {"sent_at": mark.sent_wall.timestamp(),
                                                   "fix_time": int(mark.fix_time.timestamp()),
                                                   "distance_m": round(mark.distance_m, 1),
                                                   "archived": mark.archived},
                "sent": {str(fix): at for fix, at in journal.sent.items() if at >= stolen_at - 1.0},
            })
        return out

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _later(delay: float, tracker: SimTracker) -> None:
    await asyncio.sleep(delay)
    await tracker.run()


def _status(fleet: TrackerFleet, victims: Victims, started: bool) -> dict[str, Any]:
    stats = asdict(fleet.stats)
    p50, p99 = fleet.latency.percentile(0.5), fleet.latency.percentile(0.99)
    return {"started": started, "trackers": fleet.count + len(victims.trackers), "crashed": fleet.crashed,
            "reply_ms_p50": None if p50 is None else round(p50 * 1000, 1),
            "reply_ms_p99": None if p99 is None else round(p99 * 1000, 1),
            "positions_sent": stats["realtime_sent"] + stats["archived_sent"] - stats["alarms_sent"], **stats}


def _set_interval(fleet: TrackerFleet, victims: Victims, seconds: float) -> None:
    for tracker in [*fleet.trackers, *victims.trackers]:
        tracker.settings = replace(tracker.settings, interval_s=seconds)


async def serve(arguments: argparse.Namespace) -> None:
    host, _, port = arguments.server.rpartition(":")
    server = (host, int(port))
    settings = TrackerSettings(interval_s=arguments.interval)
    background = arguments.count - arguments.victims
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)

    def answer(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    # Logins spread over one report interval by default: each tracker reports on logging in and every interval
    # after, so a faster ramp would make the trackers report in bursts rather than at a steady rate.
    ramp = arguments.ramp or arguments.count / arguments.interval
    fleet = TrackerFleet(server, background, settings=settings, scenario=arguments.scenario, seed=arguments.seed,
                         ramp_per_s=ramp)
    victims = Victims(server, background, arguments.victims, settings, fleet, arguments.seed)
    started = False
    answer({"ready": True})
    async with contextlib.AsyncExitStack() as running:
        running.push_async_callback(victims.close)
        while line := await commands.readline():
            command = json.loads(line)
            op = command.get("op")
            if op == "start" and not started:
                await running.enter_async_context(fleet)
                victims.start(spread_s=arguments.count / ramp)
                started = True
                answer({"ok": True})
            elif op == "status":
                answer(_status(fleet, victims, started))
            elif op == "interval":
                _set_interval(fleet, victims, float(command["seconds"]))
                answer({"ok": True})
            elif op == "steal":
                victims.steal(int(command["index"]))
                answer({"ok": True})
            elif op == "thefts":
                answer({"thefts": victims.thefts()})
            elif op == "stop":
                break
            else:
                answer({"error": f"unknown or repeated op {op!r}"})
    answer({"stopped": True})


def main() -> None:
    parser = argparse.ArgumentParser(description="simulated GT06 trackers for the tracker benchmarks")
    parser.add_argument("--server", required=True, help="the GT06 gateway, HOST:PORT")
    parser.add_argument("--count", type=int, required=True, help="trackers in all, victims included")
    parser.add_argument("--victims", type=int, default=0, help="of which parked bikes whose thefts are timed")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between position reports")
    parser.add_argument("--scenario", default="mixed", help="what the other trackers do (firmware_sim scenarios)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ramp", type=float, default=None,
                        help="trackers connected per second (default: all within one report interval)")
    arguments = parser.parse_args()
    if not 0 <= arguments.victims < arguments.count:
        parser.error("--victims must be at least 0 and fewer than --count")
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one descriptor per tracker
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(arguments))


if __name__ == "__main__":
    main()
