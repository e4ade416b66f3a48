"""Figures 7-9: e-bike trackers end to end — 10,000 trackers, the highest sustained rate, theft alert latency, memory
per connected tracker.

Everything is a real process (bench/tracker_stack.py): simulated GT06 trackers (bench/tracker_fleet.py, one process,
one TCP connection each) -> the tracker gateway (`shaobing edge` with the gt06 driver; each packet committed to its
SQLite outbox before the reply) -> Mosquitto -> central (`shaobing central`, SQLite by default) -> rows in
`positions`. Central runs as its own process rather than in this one, so each process's CPU time is its own: this
process only receives webhooks, calls the API and counts rows.

7. Positions/s. The fleet (the `mixed` scenario: 70 % parked and drifting, 20 % riding, 5 % losing the network and
   re-uploading, 5 % losing the fix) reports every 10 s; after a warm-up, positions are counted in central's database
   over a steady window. Beside it: the rate the fleet actually sent, how old the newest stored fix is (`now - fix
   time`, whole seconds, so up to a second of it is truncation) and the newest gateway receipt (`now - rx`), and the
   CPU time of each process (/proc/PID/stat) and of the machine (/proc/stat) over the window, as shares of the
   machine. The goal's "box under half load" is judged on gateway + central + broker: a real deployment does not
   carry the fleet. Then the report interval is shortened step by step (the same trackers, more positions each);
   a step is kept up with when central stored at least 95 % of the offered rate over its window, the newest stored
   fix was under 5 s old at the end and that age did not grow by 2 s over the window (medians of the first and
   last five samples), and the gateway's outbox held under 5 s worth of readings not yet confirmed by central. The
   highest such rate is the figure. A step the fleet itself cannot offer (it sent under 95 %) ends the search: the
   figure is then a lower bound set by the simulator. On PostgreSQL the database server's CPU is not among the
   processes counted: it shows in the machine's "other work".
8. Theft alert latency. N parked bikes are provisioned, claimed by their owners (signed up and logged in) and armed,
   all through the real HTTP API; the other trackers are the background load. The N bikes are stolen one after
   another (no power-cut alarm, which would trip at once: the fixes moving away must trip the rule). Central's rule
   needs `theft_fixes` (2) consecutive fixes beyond `theft_distance_m` (100 m) from the bike's anchor, so the
   latency is measured from the send time of the fix that tripped it (the notification names its fix time; the
   fleet kept each fix's send time) to the owners' webhook receiving `owner.theft` (signature verified), and also
   from the first fix the simulator saw beyond 100 m (which includes waiting one report interval for the next fix).
9. Memory per connected tracker: the gateway's VmRSS with every tracker logged in and reporting, minus its VmRSS
   before any connected, over the number of trackers; the same for the fleet process.

Run: .venv/bin/python -m bench.trackers [--quick] [--only load theft] [--trackers N] [--thefts N] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from firmware_sim.tracker.imeis import DEFAULT_BASE, imei_at

from bench.common import CpuWindow, Figure, at_least, at_most, percentile, quiet_logging, say, table
from bench.tracker_stack import FleetProcess, LagSampler, TrackerStack, tracker_stack
from shaobing.clock import parse_ts
from shaobing.demo.receiver import Delivery

INTERVAL_S = 10.0  # the trackers' report interval, parked or moving (GT06's usual setting)
KEEP_UP_SHARE = 0.95  # a step is kept up with when central stored this share of what was offered ...
LAG_LIMIT_S = 5.0  # ... its newest stored fix was younger than this at the end of the window ...
LAG_GROWTH_LIMIT_S = 2.0  # ... that age grew by less than this over the window (fix times are whole seconds) ...
# ... and the gateway's outbox held fewer than LAG_LIMIT_S seconds' worth of readings not yet confirmed by central.
HALF_LOAD = 0.5
THEFT_GOAL_S = 1.0


@dataclass(frozen=True)
class TrackerSizes:
    trackers: int
    thefts: int
    warm_up_s: float  # after every tracker is online, before the window
    window_s: float
    step_settle_s: float  # after changing the interval: every tracker's next report uses it within one old interval
    step_window_s: float
    rates: tuple[float, ...]  # offered positions/s tried for the highest sustained rate, in order
    steal_over_s: float  # the thefts are spread over this long


FULL = TrackerSizes(trackers=10_000, thefts=100, warm_up_s=20.0, window_s=30.0, step_settle_s=12.0,
                    step_window_s=25.0, rates=(1500.0, 2000.0, 2500.0, 3000.0, 4000.0, 5000.0), steal_over_s=60.0)
QUICK = TrackerSizes(trackers=2_000, thefts=20, warm_up_s=5.0, window_s=10.0, step_settle_s=3.0, step_window_s=8.0,
                     rates=(1000.0, 1500.0, 2000.0), steal_over_s=10.0)


# -- one measured window ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    trackers: int
    interval_s: float
    seconds: float
    sent_per_s: float  # positions the fleet sent (real-time and re-uploads)
    stored_per_s: float  # rows central added to `positions`
    fix_lag_p50: float | None
    fix_lag_end: float | None
    rx_lag_p50: float | None
    rx_lag_max: float | None
    fix_lag_growth: float | None  # how much the lag grew over the window
    reply_ms_p50: float | None
    reply_ms_p99: float | None
    dropped: int  # connections lost (the `offline` trackers drop theirs on purpose, a few a second)
    gateway_backlog: int  # readings in the gateway's outbox at the end, not yet confirmed by central
    cpu: CpuWindow

    @property
    def offered_per_s(self) -> float:
        return self.trackers / self.interval_s

    @property
    def fleet_kept_up(self) -> bool:
        return self.sent_per_s >= KEEP_UP_SHARE * self.offered_per_s

    @property
    def central_kept_up(self) -> bool:
        return (self.stored_per_s >= KEEP_UP_SHARE * self.offered_per_s and self.fix_lag_end is not None
                and self.fix_lag_end < LAG_LIMIT_S and self.fix_lag_growth is not None
                and self.fix_lag_growth < LAG_GROWTH_LIMIT_S
                and self.gateway_backlog < LAG_LIMIT_S * self.offered_per_s)

    @property
    def stack_share(self) -> float:
        return sum(self.cpu.share(name) for name in ("gateway", "central", "broker"))

    def describe(self) -> str:
        def seconds(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.1f} s"

        return (f"offered {self.offered_per_s:,.0f}/s, fleet sent {self.sent_per_s:,.0f}/s, central stored "
                f"{self.stored_per_s:,.0f}/s; newest fix {seconds(self.fix_lag_p50)} old (p50; "
                f"{seconds(self.fix_lag_end)} at the end, grew {seconds(self.fix_lag_growth)}), newest rx "
                f"{seconds(self.rx_lag_p50)} (max {seconds(self.rx_lag_max)}); gateway outbox "
                f"{self.gateway_backlog:,} unconfirmed; replies p50 {self.reply_ms_p50} ms p99 {self.reply_ms_p99} "
                f"ms; {self.dropped} connections dropped; CPU {self.cpu.describe()}")


async def measure_window(stack: TrackerStack, fleet: FleetProcess, seconds: float, interval_s: float) -> Window:
    before = await fleet.ask("status")
    first_id = await stack.probe.max_id()
    cpu = CpuWindow({**stack.pids(), "fleet": fleet.pid, "bench": os.getpid()})
    cpu.start()
    async with LagSampler(stack.probe) as lags:
        await asyncio.sleep(seconds)
    cpu.stop()
    last_id = await stack.probe.max_id()
    after = await fleet.ask("status")
    newest = await stack.probe.newest()
    stored = await stack.probe.count_between(first_id, last_id)
    return Window(
        trackers=fleet.count, interval_s=interval_s, seconds=cpu.seconds,
        sent_per_s=(after["positions_sent"] - before["positions_sent"]) / cpu.seconds,
        stored_per_s=stored / cpu.seconds,
        fix_lag_p50=percentile(lags.fix_lags, 0.5) if lags.fix_lags else None,
        fix_lag_end=newest.fix_lag_s,
        rx_lag_p50=percentile(lags.rx_lags, 0.5) if lags.rx_lags else None,
        rx_lag_max=max(lags.rx_lags) if lags.rx_lags else None, fix_lag_growth=lags.fix_lag_growth(),
        reply_ms_p50=after["reply_ms_p50"], reply_ms_p99=after["reply_ms_p99"],
        dropped=after["disconnects"] - before["disconnects"], gateway_backlog=await stack.gateway_backlog(), cpu=cpu)


async def settle(stack: TrackerStack, at_least_s: float, within: float) -> None:
    """Wait `at_least_s`, then until central's newest stored fix is younger than LAG_LIMIT_S (the login burst and
    the backlog it left are behind), at most `within` seconds in all."""
    deadline = time.monotonic() + within
    await asyncio.sleep(at_least_s)
    while time.monotonic() < deadline:
        newest = await stack.probe.newest()
        if newest.fix_lag_s is not None and newest.fix_lag_s < LAG_LIMIT_S:
            return
        await asyncio.sleep(1.0)
    say(f"  (central still behind after {within:.0f} s; measuring anyway)")


# -- figures 7 and 9: positions/s, the highest sustained rate, memory ---------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    steady: Window
    steps: list[Window]
    online_s: float
    gateway_before_mb: float
    gateway_after_mb: float
    fleet_before_mb: float
    fleet_after_mb: float
    trackers: int
    database: str


async def measure_load(workdir: Path, sizes: TrackerSizes, pg: str | None) -> LoadResult:
    async with tracker_stack(workdir, max_connections=sizes.trackers + 100, pg=pg) as stack:
        await asyncio.sleep(2.0)
        gateway_before = stack.gateway_memory().rss_mb
        async with FleetProcess(stack.gt06, sizes.trackers, interval=INTERVAL_S,
                                log=workdir / "fleet.log") as fleet:
            fleet_before = fleet.memory().rss_mb
            say(f"  gateway and central up ({stack.database}); gateway VmRSS {gateway_before:.1f} MB; "
                f"connecting {sizes.trackers:,} trackers")
            await fleet.start()
            online_s = await fleet.wait_online(within=180.0, say=say)
            say(f"  all {sizes.trackers:,} online after {online_s:.1f} s; warming up")
            await settle(stack, sizes.warm_up_s, within=sizes.warm_up_s + 60.0)
            gateway_after = stack.gateway_memory().rss_mb
            fleet_after = fleet.memory().rss_mb
            say(f"  gateway VmRSS {gateway_after:.1f} MB with {sizes.trackers:,} trackers; measuring "
                f"{sizes.window_s:.0f} s at one report every {INTERVAL_S:.0f} s")
            steady = await measure_window(stack, fleet, sizes.window_s, INTERVAL_S)
            say(f"  {steady.describe()}")
            steps: list[Window] = []
            for rate in sizes.rates:
                interval = sizes.trackers / rate
                await fleet.ask("interval", seconds=interval)
                previous = steps[-1].interval_s if steps else INTERVAL_S
                await asyncio.sleep(previous + sizes.step_settle_s)  # every tracker on the new cadence
                step = await measure_window(stack, fleet, sizes.step_window_s, interval)
                steps.append(step)
                verdict = ("kept up" if step.central_kept_up else
                           "fleet could not offer it" if not step.fleet_kept_up else "fell behind")
                say(f"  step {rate:,.0f}/s (every {interval:.2f} s): {verdict}: {step.describe()}")
                if not (step.central_kept_up and step.fleet_kept_up):
                    break
    return LoadResult(steady, steps, online_s, gateway_before, gateway_after, fleet_before, fleet_after,
                      sizes.trackers, stack.database)


def load_figures(result: LoadResult) -> list[Figure]:
    steady, n = result.steady, result.trackers
    tag = f"7 trackers {n:,} every {INTERVAL_S:.0f} s ({result.database})"
    offered = steady.offered_per_s
    kept = [step for step in result.steps if step.central_kept_up and step.fleet_kept_up]
    best = max([steady, *kept], key=lambda w: w.offered_per_s) if steady.central_kept_up else None
    limit_step = next((step for step in result.steps if not (step.central_kept_up and step.fleet_kept_up)), None)
    if limit_step is None:
        limit = "every step tried was kept up with: the figure is a lower bound"
    elif not limit_step.fleet_kept_up:
        limit = (f"at {limit_step.offered_per_s:,.0f}/s the fleet itself sent only {limit_step.sent_per_s:,.0f}/s "
                 f"(fleet CPU {limit_step.cpu.share('fleet'):.0%}): a lower bound set by the simulator")
    else:
        limit = (f"at {limit_step.offered_per_s:,.0f}/s central stored {limit_step.stored_per_s:,.0f}/s, newest "
                 f"fix {limit_step.fix_lag_end or 0:.1f} s old (grew {limit_step.fix_lag_growth or 0:.1f} s), "
                 f"gateway outbox {limit_step.gateway_backlog:,} unconfirmed, replies p50 "
                 f"{limit_step.reply_ms_p50} ms; CPU {limit_step.cpu.describe()}")
    cpu = steady.cpu
    fleet_kb = (result.fleet_after_mb - result.fleet_before_mb) * 1024 / n
    gateway_kb = (result.gateway_after_mb - result.gateway_before_mb) * 1024 / n
    return [
        Figure(f"{tag}: positions stored", steady.stored_per_s, "/s", f">= {offered:,.0f}/s offered",
               steady.central_kept_up,
               f"offered {offered:,.0f}/s, fleet sent {steady.sent_per_s:,.0f}/s, counted in `positions` over "
               f"{steady.seconds:.0f} s after the warm-up; all {n:,} online in {result.online_s:.1f} s; fleet replies "
               f"p50 {steady.reply_ms_p50} ms, p99 {steady.reply_ms_p99} ms; {steady.dropped} connections dropped "
               f"(the 5 % `offline` trackers drop theirs on purpose)"),
        Figure(f"{tag}: central lag, newest stored fix (p50)", steady.fix_lag_p50, "s", f"< {LAG_LIMIT_S:.0f} s",
               at_most(LAG_LIMIT_S, steady.fix_lag_p50),
               f"now - newest fix time (whole seconds: up to 1 s is truncation); now - newest gateway receipt p50 "
               f"{steady.rx_lag_p50 or 0:.2f} s, max {steady.rx_lag_max or 0:.2f} s"),
        Figure(f"{tag}: CPU of gateway + central + broker", steady.stack_share * 100, "% of box",
               f"< {HALF_LOAD:.0%} of box", at_most(HALF_LOAD, steady.stack_share),
               f"{cpu.describe()}; the fleet (simulator) is not part of a deployment; 'machine' is everything "
               f"on this box, other work included"),
        Figure(f"7 highest sustained rate, {n:,} trackers ({result.database})",
               best.offered_per_s if best else None, "/s", ">= 1,000/s", at_least(1000.0, best.offered_per_s)
               if best else False,
               f"the offered rate of the last step kept up with (>= {KEEP_UP_SHARE:.0%} stored, newest fix "
               f"< {LAG_LIMIT_S:.0f} s old and its age growing < {LAG_GROWTH_LIMIT_S:.0f} s over the window, under "
               f"{LAG_LIMIT_S:.0f} s worth unconfirmed in the gateway's outbox); {limit}"),
        Figure(f"9 gateway memory per connected tracker ({n:,})", gateway_kb, "KB", "", None,
               f"VmRSS {result.gateway_before_mb:.1f} MB before any tracker, {result.gateway_after_mb:.1f} MB with "
               f"{n:,} logged in and reporting"),
        Figure(f"9 fleet (simulator) memory per tracker ({n:,})", fleet_kb, "KB", "", None,
               f"VmRSS {result.fleet_before_mb:.1f} MB -> {result.fleet_after_mb:.1f} MB; not part of a deployment"),
    ]


# -- figure 8: theft alert latency --------------------------------------------------------------------------------


@dataclass
class Owner:
    imei: str
    token: str


async def enrol(stack: TrackerStack, imeis: list[str]) -> list[Owner]:
    """Through the API as people do it: the operator provisions each tracker with its bind code, an owner signs up,
    logs in and claims the bike with the code. Four at a time."""
    gate = asyncio.Semaphore(4)
    anonymous = {"Authorization": ""}

    async def one(index: int, imei: str) -> Owner:
        async with gate:
            bind_code = secrets.token_hex(4)
            provisioned = await stack.api.post("/api/trackers", json={"imei": imei, "bind_code": bind_code})
            if provisioned.status_code not in (200, 201):
                raise RuntimeError(f"provisioning {imei}: HTTP {provisioned.status_code} {provisioned.text}")
            account = {"phone": f"+86139{index:08d}", "name": f"车主 {index}", "password": secrets.token_urlsafe(12)}
            (await stack.api.post("/api/owners", json=account, headers=anonymous)).raise_for_status()
            login = await stack.api.post("/api/owners/login", headers=anonymous,
                                         json={"phone": account["phone"], "password": account["password"]})
            login.raise_for_status()
            owner = Owner(imei, login.json()["token"])
            claim = await stack.api.post("/api/my/bikes", headers=_as(owner),
                                         json={"imei": imei, "bind_code": bind_code, "name": f"bike {index}"})
            if claim.status_code != 201:
                raise RuntimeError(f"claiming {imei}: HTTP {claim.status_code} {claim.text}")
            return owner

    return list(await asyncio.gather(*(one(index, imei) for index, imei in enumerate(imeis))))


def _as(owner: Owner) -> dict[str, str]:
    return {"Authorization": f"Bearer {owner.token}"}


@dataclass(frozen=True)
class TheftResult:
    trackers: int
    thefts: int
    notified: int
    from_trip_s: list[float]
    from_first_s: list[float]
    from_steal_s: list[float]
    unmatched: int  # notifications whose fix the fleet has no send time for
    not_moved: int  # thefts raised for another reason than the fixes moving away
    late: int
    later: int  # tripped on a fix after the one following the first beyond 100 m
    archived_marks: int
    enrol_s: float
    load: Window
    database: str
    stages: dict[str, list[float]]


async def measure_thefts(workdir: Path, sizes: TrackerSizes, pg: str | None) -> TheftResult:
    count, thefts = sizes.trackers, sizes.thefts
    victims = [imei_at(DEFAULT_BASE, count - thefts + index) for index in range(thefts)]
    async with tracker_stack(workdir, max_connections=count + 100, pg=pg) as stack:
        say(f"  {thefts} owners sign up, log in and claim their bike through the API")
        started = time.monotonic()
        owners = await enrol(stack, victims)
        enrol_s = time.monotonic() - started
        say(f"  enrolled in {enrol_s:.1f} s; connecting {count:,} trackers ({thefts} of them the victims)")
        async with FleetProcess(stack.gt06, count, victims=thefts, interval=INTERVAL_S,
                                log=workdir / "fleet.log") as fleet:
            await fleet.start()
            online_s = await fleet.wait_online(within=180.0, say=say)
            say(f"  all online after {online_s:.1f} s; waiting for the victims' first positions at central")
            deadline = time.monotonic() + 60.0
            while await stack.probe.positioned(victims) < thefts:
                if time.monotonic() > deadline:
                    raise RuntimeError("the victims' positions did not all reach central within 60 s")
                await asyncio.sleep(0.5)
            for owner in owners:
                (await stack.api.post(f"/api/my/bikes/{owner.imei}/arm", headers=_as(owner))).raise_for_status()
            say(f"  {thefts} bikes armed by their owners; settling")
            await settle(stack, sizes.warm_up_s, within=sizes.warm_up_s + 60.0)
            say(f"  stealing {thefts} bikes over {sizes.steal_over_s:.0f} s")
            load_task = asyncio.create_task(measure_window(stack, fleet, sizes.steal_over_s, INTERVAL_S))
            gap = sizes.steal_over_s / thefts
            for index in range(thefts):
                await fleet.ask("steal", index=index)
                await asyncio.sleep(gap)
            load = await load_task
            say(f"  background while stealing: {load.describe()}")

            def notified() -> dict[str, Delivery]:
                return {str(d.payload.get("imei")): d for d in stack.owners_hook.received
                        if d.event == "owner.theft" and d.payload.get("imei") in victims}

            deadline = time.monotonic() + 120.0
            while len(notified()) < thefts and time.monotonic() < deadline:  # noqa: ASYNC110 - a list filled by
                await asyncio.sleep(0.5)  # the receiver, with a deadline
            marks = {theft["imei"]: theft for theft in (await fleet.ask("thefts"))["thefts"]}
        deliveries = notified()
        paths = await stack.probe.theft_path([int(d.payload["dispatch_id"]) for d in deliveries.values()
                                              if d.payload.get("dispatch_id") is not None])
    trip_sent: dict[int, tuple[float, float]] = {}
    from_trip, from_first, from_steal = [], [], []
    unmatched = not_moved = late = later = 0
    for imei, delivery in deliveries.items():
        payload, theft = delivery.payload, marks.get(imei)
        if payload.get("reason") != "moved":
            not_moved += 1
        late += bool(payload.get("late"))
        if theft is None:
            unmatched += 1
            continue
        from_steal.append(delivery.received_at - theft["stolen_at"])
        if theft["mark"] is not None:
            from_first.append(delivery.received_at - theft["mark"]["sent_at"])
        position = payload.get("position") or {}
        fix = int(parse_ts(position["fix_time"]).timestamp()) if position.get("fix_time") else None
        sent_at = theft["sent"].get(str(fix)) if fix is not None else None
        if fix is not None and theft["mark"] is not None and fix - theft["mark"]["fix_time"] > 1.5 * INTERVAL_S:
            later += 1  # the rule tripped on a fix after the one following the first beyond 100 m
        if sent_at is None:
            unmatched += 1
        else:
            from_trip.append(delivery.received_at - sent_at)
            if payload.get("dispatch_id") is not None:
                trip_sent[int(payload["dispatch_id"])] = (sent_at, delivery.received_at)
    stages = _stages(trip_sent, paths)
    archived = sum(1 for theft in marks.values() if theft["mark"] is not None and theft["mark"]["archived"])
    return TheftResult(count, thefts, len(deliveries), from_trip, from_first, from_steal, unmatched, not_moved, late,
                       later, archived, enrol_s, load, stack.database, stages)


def _stages(trip_sent: dict[int, tuple[float, float]],
            paths: dict[int, tuple[datetime, datetime]]) -> dict[str, list[float]]:
    """Where each theft's latency went: fix sent -> gateway receipt (rx) -> dispatch raised at central (the start of
    the ingest transaction that raised it) -> notification received."""
    stages: dict[str, list[float]] = {"to gateway": [], "gateway to central": [], "central to owner": []}
    for dispatch_id, (sent_at, received_at) in trip_sent.items():
        if dispatch_id not in paths:
            continue
        rx, raised_at = paths[dispatch_id]
        stages["to gateway"].append(max(0.0, rx.timestamp() - sent_at))  # rx is kept to the millisecond
        stages["gateway to central"].append(raised_at.timestamp() - rx.timestamp())
        stages["central to owner"].append(received_at - raised_at.timestamp())
    return stages


def _stats(values: list[float]) -> str:
    if not values:
        return "none"
    return (f"p50 {percentile(values, 0.5) * 1000:.0f} ms, p99 {percentile(values, 0.99) * 1000:.0f} ms, "
            f"max {max(values) * 1000:.0f} ms")


def theft_figures(result: TheftResult) -> list[Figure]:
    tag = f"8 theft alert, {result.thefts} thefts among {result.trackers:,} trackers ({result.database})"
    trip, first = result.from_trip_s, result.from_first_s

    def ms(values: list[float], share: float) -> float | None:
        return percentile(values, share) * 1000 if values else None

    missing = result.thefts - result.notified
    later = result.later
    note = (f"{result.notified}/{result.thefts} owners notified"
            + (f", {missing} NOT notified" if missing else "")
            + (f", {result.unmatched} with no matching send time" if result.unmatched else "")
            + (f", {result.not_moved} raised for another reason than moving" if result.not_moved else "")
            + (f", {result.late} marked late" if result.late else "")
            + f"; trackers report every {INTERVAL_S:.0f} s parked or moving; background stored "
              f"{result.load.stored_per_s:,.0f} positions/s while stealing (CPU {result.load.cpu.describe()}); "
              + "; ".join(f"{stage} {_stats(values)}" for stage, values in result.stages.items()))
    p99 = ms(trip, 0.99)
    return [
        Figure(f"{tag}: tripping fix sent -> owner notified, p50", ms(trip, 0.5), "ms"),
        Figure(f"{tag}: tripping fix sent -> owner notified, p99", p99, "ms", f"p99 < {THEFT_GOAL_S * 1000:.0f} ms",
               at_most(THEFT_GOAL_S * 1000, p99) if missing == 0 else False, note),
        Figure(f"{tag}: tripping fix sent -> owner notified, max", ms(trip, 1.0), "ms"),
        Figure(f"{tag}: first fix beyond 100 m -> owner notified, p50", ms(first, 0.5), "ms"),
        Figure(f"{tag}: first fix beyond 100 m -> owner notified, p99", ms(first, 0.99), "ms", "", None,
               f"includes waiting for the next report ({INTERVAL_S:.0f} s); max {max(first, default=0) * 1000:.0f} "
               f"ms; {later} of {len(first)} tripped later than the next fix (central's anchor is the mean of the "
               f"parked drift, not the simulator's spot, and a thief's route may pass back near it); from the thief "
               f"taking the bike (6 s of handling, then the ride): {_stats(result.from_steal_s)}"),
    ]


# -- running ------------------------------------------------------------------------------------------------------


async def run_load(*, quick: bool = False, pg: str | None = None, sizes: TrackerSizes | None = None) -> list[Figure]:
    chosen = sizes or (QUICK if quick else FULL)
    say(f"trackers: {chosen.trackers:,} GT06 trackers -> gateway -> Mosquitto -> central, every {INTERVAL_S:.0f} s, "
        f"then shorter intervals (bench/trackers.py)")
    with tempfile.TemporaryDirectory(prefix="bench-trackers-") as scratch:
        return load_figures(await measure_load(Path(scratch), chosen, pg))


async def run_theft(*, quick: bool = False, pg: str | None = None, sizes: TrackerSizes | None = None) -> list[Figure]:
    chosen = sizes or (QUICK if quick else FULL)
    say(f"theft alert latency: {chosen.thefts} armed bikes stolen among {chosen.trackers:,} trackers "
        f"(bench/trackers.py)")
    with tempfile.TemporaryDirectory(prefix="bench-thefts-") as scratch:
        result = await measure_thefts(Path(scratch), chosen, pg)
    say(f"  {result.notified}/{result.thefts} notified; from the tripping fix {_stats(result.from_trip_s)}; "
        f"from the first fix beyond 100 m {_stats(result.from_first_s)}")
    return theft_figures(result)


RUNS: dict[str, Callable[..., Any]] = {"load": run_load, "theft": run_theft}


def main() -> None:
    parser = argparse.ArgumentParser(description="tracker figures: positions/s end to end, theft alert latency, "
                                                 "memory per tracker")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK.trackers:,} trackers, {QUICK.thefts} thefts")
    parser.add_argument("--only", nargs="+", choices=tuple(RUNS), default=list(RUNS))
    parser.add_argument("--trackers", type=int, help="trackers connected (default 10,000; quick 2,000)")
    parser.add_argument("--thefts", type=int, help="bikes stolen (default 100; quick 20)")
    parser.add_argument("--pg", default=None, help="PostgreSQL admin URL: central on a scratch database there "
                                                   "(default: SQLite)")
    arguments = parser.parse_args()
    quiet_logging()
    sizes = QUICK if arguments.quick else FULL
    if arguments.trackers is not None:
        sizes = TrackerSizes(**{**sizes.__dict__, "trackers": arguments.trackers})
    if arguments.thefts is not None:
        sizes = TrackerSizes(**{**sizes.__dict__, "thefts": arguments.thefts})

    async def both() -> list[Figure]:
        found: list[Figure] = []
        for name in arguments.only:
            found += await RUNS[name](pg=arguments.pg, sizes=sizes)
        return found

    say(table(asyncio.run(both())))


if __name__ == "__main__":
    main()
