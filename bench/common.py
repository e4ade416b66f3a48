"""What the benchmarks share: figures and their table, a private broker with central in this process, edge agents as
real `shaobing edge` processes, position readings, percentiles and /proc memory figures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware_sim.synthetic_load import synthetic_position
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.config import CentralConfig
from central.ingest import AfterCommit
from central.model import StoredReading
from central.service import Central
from central.store.db import open_database
from central.store.schema import readings, sites
from shaobing.broker import BrokerUser, MosquittoBroker
from shaobing.config import validate_table
from shaobing.demo.receiver import WebhookReceiver
from shaobing.envelope import Kind, Reading
from shaobing.net import free_port

CENTRAL_USER = "_central-bench"
# The broker names every connection after its user, so a benchmark's own observer needs a user of its own.
WATCH_USER = "_central-bench-watch"

# -- figures and the table ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One measured figure; `met` is None when the issue sets no goal for it."""

    name: str
    value: float | None
    unit: str
    goal: str = ""
    met: bool | None = None
    note: str = ""

    def shown(self) -> str:
        if self.value is None:
            return "n/a"
        digits = 0 if abs(self.value) >= 100 else 1
        return f"{self.value:,.{digits}f} {self.unit}"


def at_most(limit: float, value: float | None) -> bool | None:
    return None if value is None else value <= limit


def at_least(limit: float, value: float | None) -> bool | None:
    return None if value is None else value >= limit


def table(figures: Sequence[Figure]) -> str:
    rows = [("figure", "value", "goal", "met?")]
    for figure in figures:
        met = "" if figure.met is None else ("yes" if figure.met else "NO")
        rows.append((figure.name, figure.shown(), figure.goal or "-", met))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = []
    for index, row in enumerate(rows):
        lines.append("| " + " | ".join(cell.ljust(widths[column]) for column, cell in enumerate(row)) + " |")
        if index == 0:
            lines.append("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    notes = [f"- {figure.name}: {figure.note}" for figure in figures if figure.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def say(message: str) -> None:
    print(message, flush=True)


# -- statistics ---------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 200 samples is the second largest)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


# -- memory of a process ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    rss_mb: float  # VmRSS: resident now
    hwm_mb: float  # VmHWM: the highest resident size since the process started


def memory_of(pid: int) -> Memory:
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(rest.split()[0]) / 1024  # kB -> MiB
    return Memory(fields["VmRSS"], fields["VmHWM"])


@dataclass
class MemorySampler:
    """Samples a process's VmRSS every `interval` seconds while running; keeps the peak and the last sample."""

    pid: int
    interval: float = 0.2
    peak_rss_mb: float = 0.0
    last: Memory | None = None
    _task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            with contextlib.suppress(FileNotFoundError, KeyError):
                self.last = memory_of(self.pid)
                self.peak_rss_mb = max(self.peak_rss_mb, self.last.rss_mb)
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> MemorySampler:
        self._task = asyncio.create_task(self._sample(), name=f"memory-{self.pid}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(FileNotFoundError, KeyError):
            self.last = memory_of(self.pid)
            self.peak_rss_mb = max(self.peak_rss_mb, self.last.rss_mb)


# -- readings -----------------------------------------------------------------------------------------------------


def position(number: int, devices: int = 1000) -> Reading:
    """An e-bike position exactly like the synthetic load driver's (the same size on the wire)."""
    return synthetic_position(number, devices=devices)


# -- central in this process, with a private broker ---------------------------------------------------------------


class CommitTimes:
    """Central's after-commit hook, wrapped: the wall-clock time at which each stored reading's batch committed."""

    def __init__(self, inner: AfterCommit) -> None:
        self._inner = inner
        self.at: dict[tuple[str, int], float] = {}

    async def __call__(self, stored: list[StoredReading]) -> None:
        now = time.time()
        for reading in stored:
            if reading.envelope.kind is Kind.ALARM:
                self.at[(reading.envelope.site, reading.envelope.seq)] = now
        await self._inner(stored)


@dataclass
class Stack:
    workdir: Path
    broker: MosquittoBroker
    central: Central
    engine: AsyncEngine
    commits: CommitTimes
    passwords: dict[str, str] = field(default_factory=dict)

    async def stored(self, site: str, max_seq: int | None = None) -> int:
        query = select(func.count()).select_from(readings).where(readings.c.site == site)
        if max_seq is not None:
            query = query.where(readings.c.seq <= max_seq)
        async with self.engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    async def online(self, site: str) -> bool:
        async with self.engine.connect() as connection:
            found = (await connection.execute(select(sites.c.online).where(sites.c.id == site))).scalar_one_or_none()
        return bool(found)

    async def wait_online(self, site: str, within: float = 30.0) -> None:
        async with asyncio.timeout(within):
            while not await self.online(site):  # noqa: ASYNC110 - polling central's own view of the site
                await asyncio.sleep(0.05)


def central_config(workdir: Path, broker_url: str, password: str, hook_url: str, hook_secret: str,
                   ingest: Mapping[str, Any] | None = None,
                   sections: Mapping[str, Any] | None = None) -> CentralConfig:
    raw: dict[str, Any] = {
        "mqtt": {"url": broker_url, "username": CENTRAL_USER, "password": password},
        "database": {"url": f"sqlite:///{workdir / 'central.db'}"},
        "http": {"listen": f"127.0.0.1:{free_port()}"},
        "ingest": {"client_id": "central-bench", **(ingest or {})},
        "rules": {"recipients": {"security": ["guards"], "police": ["guards"]}},
        "webhooks": {"recipients": [{"name": "guards", "url": hook_url, "secret": hook_secret}]},
        "log": {"level": "ERROR"},
        **(sections or {}),
    }
    return validate_table(raw, CentralConfig, "bench central")


@asynccontextmanager
async def central_stack(workdir: Path, site_ids: Sequence[str], *,
                        ingest: Mapping[str, Any] | None = None,
                        sections: Mapping[str, Any] | None = None) -> AsyncIterator[Stack]:
    """A private Mosquitto, a webhook recipient, and central (the `Central` service, SQLite) running in this process.
    `ingest`: keys of central's [ingest] table other than the defaults; `sections`: more tables ([console], ...)."""
    passwords = {name: secrets.token_urlsafe(12) for name in (*site_ids, CENTRAL_USER, WATCH_USER)}
    users = [BrokerUser(site, passwords[site], "site") for site in site_ids]
    users += [BrokerUser(name, passwords[name], "central") for name in (CENTRAL_USER, WATCH_USER)]
    log = logging.getLogger("bench.central")
    log.setLevel(logging.ERROR)  # every dispatch is a warning in central's log: not wanted on the bench's screen
    receiver = WebhookReceiver("guards", secrets.token_hex(16))
    async with MosquittoBroker(workdir / "broker", users) as broker:
        await receiver.start()
        config = central_config(workdir, broker.url, passwords[CENTRAL_USER], receiver.url, receiver.secret, ingest,
                                sections)
        engine = await open_database(config.database.url)
        central = Central(config, engine, log=log)
        # The service as built, with its ingest's after-commit hook timed: the latency figure is measured up to the
        # commit, which no column records.
        commits = CommitTimes(central.rules.after_commit)
        if not hasattr(central.ingest, "_after_commit"):
            raise RuntimeError("central's ingest no longer has the after-commit hook the benchmark times")
        central.ingest._after_commit = commits
        task = asyncio.create_task(central.run(), name="bench-central")
        try:
            async with asyncio.timeout(20):
                await central.ingest.wait_connected()
            yield Stack(workdir, broker, central, engine, commits, passwords)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await engine.dispose()
            await receiver.stop()


# -- edge agents as processes -------------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are valid in a TOML basic string
    raise TypeError(f"no TOML form for {value!r}")


def _toml_table(header: str, table_: Mapping[str, Any]) -> str:
    scalars = [f"{key} = {_toml_value(value)}" for key, value in table_.items() if not isinstance(value, Mapping)]
    text = f"{header}\n" + "".join(line + "\n" for line in scalars)
    for key, value in table_.items():
        if isinstance(value, Mapping):
            name = header.strip("[]")
            text += "\n" + _toml_table(f"[{name}.{json.dumps(key)}]", value)
    return text


def edge_config(workdir: Path, stack: Stack, site: str, drivers: Sequence[Mapping[str, Any]], *,
                outbox: Path | None = None, mqtt: Mapping[str, Any] | None = None,
                outbox_options: Mapping[str, Any] | None = None) -> Path:
    """The site's TOML file, as an installer would write it; reconnects are kept short for the measurement.
    `mqtt`, `outbox_options`: more keys of the [mqtt] and [outbox] tables (e.g. max_inflight, commit_interval_ms)."""
    path = workdir / f"{site}.toml"
    text = _toml_table("[site]", {"id": site, "name": f"bench {site}"})
    text += "\n" + _toml_table("[mqtt]", {"url": stack.broker.url, "password": stack.passwords[site],
                                          "reconnect_max": 1.0, **(mqtt or {})})
    text += "\n" + _toml_table("[outbox]", {"path": str(outbox or workdir / f"{site}-outbox.db"),
                                            **(outbox_options or {})})
    for driver in drivers:
        text += "\n" + _toml_table("[[drivers]]", driver)
    text += "\n" + _toml_table("[log]", {"level": "INFO"})
    path.write_text(text, encoding="utf-8")
    return path


def dc09_driver(listen: str, account: str, key: str) -> dict[str, Any]:
    return {"type": "dc09", "name": "dialler", "listen": listen, "accounts": {account: {"key": key}}}


def load_driver(rate: float) -> dict[str, Any]:
    return {"type": "synthetic_load", "name": "load", "rate": rate, "devices": 1000}


class EdgeProcess:
    """`shaobing edge --config FILE` in its own process, its log in the work folder."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.log_path = config.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("not started")
        return self.process.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            self.started_at = time.time()
            return subprocess.Popen([sys.executable, "-m", "shaobing", "edge", "--config", str(self.config)],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    async def start(self, ready: str = "edge agent for site", within: float = 30.0) -> None:
        """Start it and wait until its log shows `ready`."""
        self.process = self._spawn()
        deadline = time.monotonic() + within
        while ready not in self.log_text():
            if self.process.poll() is not None:
                raise RuntimeError(f"edge agent exited with {self.process.returncode}:\n{self.log_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"edge agent not ready within {within} s:\n{self.log_text()[-2000:]}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)

    async def __aenter__(self) -> EdgeProcess:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def quiet_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# -- CPU time of processes and of the machine ---------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far, all its threads included (/proc/PID/stat)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()  # the command name in brackets may hold spaces
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of the whole line
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, summed over its cores (/proc/stat); idle and
    iowait count as not busy."""
    values = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal (guest time is inside user)
    busy = total - values[3] - values[4]
    ticks = os.sysconf("SC_CLK_TCK")
    return busy / ticks, total / ticks


@dataclass
class CpuWindow:
    """CPU used over a window by named processes and by the machine as a whole, as shares of the machine
    (1.0 = every core busy). `start()`, then `stop()`; processes that vanished meanwhile count as 0."""

    pids: Mapping[str, int]
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    started_at: float = 0.0
    seconds: float = 0.0
    _before: dict[str, float] = field(default_factory=dict)
    _machine_before: tuple[float, float] = (0.0, 0.0)
    used: dict[str, float] = field(default_factory=dict)  # CPU seconds per process over the window
    machine_busy_share: float = 0.0

    def start(self) -> None:
        self._before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._machine_before = machine_cpu_seconds()
        self.started_at = time.monotonic()

    def stop(self) -> None:
        self.seconds = time.monotonic() - self.started_at
        for name, pid in self.pids.items():
            try:
                self.used[name] = cpu_seconds(pid) - self._before[name]
            except (FileNotFoundError, ProcessLookupError):
                self.used[name] = 0.0
        busy, total = machine_cpu_seconds()
        busy_before, total_before = self._machine_before
        self.machine_busy_share = (busy - busy_before) / max(1e-9, total - total_before)

    def share(self, name: str) -> float:
        """A process's CPU over the window as a share of the whole machine (0.5 = one core of two)."""
        return self.used.get(name, 0.0) / max(1e-9, self.seconds * self.cores)

    @property
    def other_share(self) -> float:
        """The machine's busy share not used by the named processes: the rest of what runs on this box."""
        return max(0.0, self.machine_busy_share - sum(self.share(name) for name in self.pids))

    def describe(self) -> str:
        parts = [f"{name} {self.share(name):.0%}" for name in self.pids]
        return (f"{', '.join(parts)}; machine {self.machine_busy_share:.0%} of {self.cores} cores, of which "
                f"{self.other_share:.0%} other work")
