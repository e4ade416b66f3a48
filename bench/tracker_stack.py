"""The tracker benchmarks' stack: every part a real process, as deployed on a district's box.

- a private Mosquitto;
- central as a real `shaobing central` process (SQLite by default, PostgreSQL with --pg): in its own process so its
  CPU time is counted apart from this process's work (the webhook receivers, the API calls that set up owners, the
  database probe), and so that what it costs is what a deployment pays, HTTP API and webhook sender included;
- the tracker gateway as a real `shaobing edge` process with a gt06 driver and its outbox on disk;
- two webhook receivers in this process (`shaobing.demo.receiver.WebhookReceiver`, signatures verified): the owners'
  notification gateway (`owners` role) and the security company (every other role);
- the simulated trackers in a process of their own (bench/tracker_fleet.py), started by the figure that needs them.

Positions are counted in central's database, from this process, by id range: the ids of `positions` only grow, so
a window's count is a range scan of the rows it added, cheap at any table size.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import secrets
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import ingest
from bench.common import EdgeProcess, Memory, memory_of
from central.store.schema import dispatches, positions, readings, trackers
from shaobing.broker import BrokerUser, MosquittoBroker
from shaobing.demo.receiver import WebhookReceiver
from shaobing.net import free_port

GATEWAY_SITE = "trackers-bench"
CENTRAL_USER = "_central-trackers-bench"
REPO = Path(__file__).resolve().parent.parent


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a TOML basic string


def central_toml(path: Path, *, broker_url: str, password: str, db_url: str, listen: str, operator_token: str,
                 owners: WebhookReceiver, guards: WebhookReceiver) -> Path:
    path.write_text(f"""# central for the tracker benchmarks: the shipped defaults but for the addresses
[mqtt]
url = {_q(broker_url)}
username = {_q(CENTRAL_USER)}
password = {_q(password)}

[database]
url = {_q(db_url)}

[http]
listen = {_q(listen)}

[[api.tokens]]
token = {_q(operator_token)}
name = "bench-operator"
role = "operator"

[ingest]
client_id = "central-trackers-bench"

[rules.recipients]
security = ["guards"]
police = ["guards"]
fire = ["guards"]
medical = ["guards"]
owners = ["sms-gateway"]

[[webhooks.recipients]]
name = "guards"
url = {_q(guards.url)}
secret = {_q(guards.secret)}

[[webhooks.recipients]]
name = "sms-gateway"
url = {_q(owners.url)}
secret = {_q(owners.secret)}

[log]
level = "INFO"
""", encoding="utf-8")
    return path


def gateway_toml(path: Path, *, broker_url: str, password: str, listen: str, outbox: Path,
                 max_connections: int) -> Path:
    """As configs/tracker-gateway.toml has it (window 500, 2 ms group commits), the GT06 driver alone."""
    path.write_text(f"""# the tracker gateway of the tracker benchmarks
[site]
id = {_q(GATEWAY_SITE)}
name = "bench tracker gateway"

[mqtt]
url = {_q(broker_url)}
password = {_q(password)}
max_inflight = 500
reconnect_max = 1.0

[outbox]
path = {_q(str(outbox))}
commit_interval_ms = 2

[[drivers]]
type = "gt06"
name = "gt06"
listen = {_q(listen)}
max_connections = {max_connections}

[log]
level = "INFO"
""", encoding="utf-8")
    return path


class CentralProcess(EdgeProcess):
    """`shaobing central --config FILE` in its own process, its log in the work folder."""

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            self.started_at = time.time()
            return subprocess.Popen([sys.executable, "-m", "shaobing", "central", "--config", str(self.config)],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO)


@dataclass(frozen=True)
class Newest:
    """The newest rows of `positions` as seen now."""

    max_id: int
    fix_lag_s: float | None  # now - the newest fix time (device clock = this machine's, whole seconds)
    rx_lag_s: float | None  # now - the newest gateway receipt time (milliseconds)


@dataclass
class PositionsProbe:
    """Counts and ages of central's stored positions, read from its database by this process."""

    engine: AsyncEngine

    async def max_id(self) -> int:
        async with self.engine.connect() as connection:
            return int((await connection.execute(select(func.coalesce(func.max(positions.c.id), 0)))).scalar_one())

    async def count_between(self, after_id: int, up_to_id: int) -> int:
        query = (select(func.count()).select_from(positions)
                 .where(positions.c.id > after_id, positions.c.id <= up_to_id))
        async with self.engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    async def positioned(self, imeis: list[str]) -> int:
        """How many of these trackers have a current position at central."""
        query = (select(func.count()).select_from(trackers)
                 .where(trackers.c.imei.in_(imeis), trackers.c.position_id.is_not(None)))
        async with self.engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    async def theft_path(self, dispatch_ids: list[int]) -> dict[int, tuple[datetime, datetime]]:
        """For each theft dispatch: (the gateway's receipt time of the reading that raised it, its raised_at)."""
        query = (select(dispatches.c.id, readings.c.rx, dispatches.c.raised_at)
                 .join(readings, readings.c.id == dispatches.c.reading_id)
                 .where(dispatches.c.id.in_(dispatch_ids)))
        async with self.engine.connect() as connection:
            return {int(row.id): (row.rx, row.raised_at) for row in await connection.execute(query)}

    async def newest(self, recent_rows: int = 2000) -> Newest:
        top = await self.max_id()
        query = (select(func.max(positions.c.fix_time), func.max(positions.c.rx))
                 .where(positions.c.id > top - recent_rows, positions.c.archived.is_(False)))
        async with self.engine.connect() as connection:
            fix, rx = (await connection.execute(query)).one()
        now = datetime.now(UTC)
        return Newest(top, None if fix is None else (now - fix).total_seconds(),
                      None if rx is None else (now - rx).total_seconds())


@dataclass
class LagSampler:
    """How far central's stored positions trail now, sampled every `every` seconds while running."""

    probe: PositionsProbe
    every: float = 1.0
    fix_lags: list[float] = field(default_factory=list)
    rx_lags: list[float] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            newest = await self.probe.newest()
            if newest.fix_lag_s is not None and newest.rx_lag_s is not None:
                self.fix_lags.append(newest.fix_lag_s)
                self.rx_lags.append(newest.rx_lag_s)
            await asyncio.sleep(self.every)

    def fix_lag_growth(self, samples: int = 5) -> float | None:
        """How much the fix lag grew over the window: the median of the last `samples` samples minus that of the
        first ones. Medians, so that one busy moment at either end does not decide; ~0 while central keeps up."""
        if len(self.fix_lags) < 3:
            return None
        count = max(1, min(samples, len(self.fix_lags) // 3))  # a short window: a third of its samples each
        return statistics.median(self.fix_lags[-count:]) - statistics.median(self.fix_lags[:count])

    async def __aenter__(self) -> LagSampler:
        self._task = asyncio.create_task(self._sample(), name="lag-sampler")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class TrackerStack:
    workdir: Path
    broker: MosquittoBroker
    central: CentralProcess
    gateway: EdgeProcess
    gt06: tuple[str, int]
    api: httpx.AsyncClient  # central's API with the operator's token
    owners_hook: WebhookReceiver
    guards_hook: WebhookReceiver
    probe: PositionsProbe
    database: str  # "SQLite" or "PostgreSQL"
    outbox: Path  # the gateway's

    def pids(self) -> dict[str, int]:
        broker_pid = self.broker.pid
        if broker_pid is None:
            raise RuntimeError("the broker is not running")
        return {"gateway": self.gateway.pid, "central": self.central.pid, "broker": broker_pid}

    async def gateway_backlog(self) -> int:
        """Readings in the gateway's outbox: committed and acknowledged to their trackers, not yet confirmed
        stored by central."""
        def count() -> int:
            with contextlib.closing(sqlite3.connect(f"file:{self.outbox}?mode=ro", uri=True, timeout=5.0)) as db:
                return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])

        return await asyncio.to_thread(count)

    def gateway_memory(self) -> Memory:
        return memory_of(self.gateway.pid)

    async def site_online(self) -> bool:
        response = await self.api.get(f"/api/sites/{GATEWAY_SITE}")
        return response.status_code == 200 and bool(response.json().get("online"))


async def _until(what: str, check: Any, within: float, processes: list[EdgeProcess]) -> None:
    deadline = time.monotonic() + within
    while not await check():
        for process in processes:
            if process.process is not None and process.process.poll() is not None:
                raise RuntimeError(f"{process.config.name}: exited:\n{process.log_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {within:.0f} s")
        await asyncio.sleep(0.2)


def raise_fd_limit() -> None:
    """Open files up to the hard limit for this process and the processes it starts."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@asynccontextmanager
async def tracker_stack(workdir: Path, *, max_connections: int, pg: str | None = None) -> AsyncIterator[TrackerStack]:
    """Broker, central, gateway and receivers up, the gateway online at central. `pg`: a PostgreSQL admin URL (a
    scratch database is made on it); None: SQLite in `workdir`."""
    raise_fd_limit()  # the gateway, started from here, inherits it: one descriptor per tracker
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < max_connections + 100:
        raise RuntimeError(f"ulimit -n is {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}: the gateway and the fleet "
                           f"each need one descriptor per tracker ({max_connections:,} and more)")
    passwords = {name: secrets.token_urlsafe(12) for name in (GATEWAY_SITE, CENTRAL_USER)}
    users = [BrokerUser(GATEWAY_SITE, passwords[GATEWAY_SITE], "site"),
             BrokerUser(CENTRAL_USER, passwords[CENTRAL_USER], "central")]
    owners_hook = WebhookReceiver("sms-gateway", secrets.token_urlsafe(16))
    guards_hook = WebhookReceiver("guards", secrets.token_urlsafe(16))
    operator_token = secrets.token_urlsafe(24)
    listen = f"127.0.0.1:{free_port()}"
    gt06 = ("127.0.0.1", free_port())
    kind = "postgresql" if pg else "sqlite"
    async with (MosquittoBroker(workdir / "broker", users) as broker,
                ingest.database(kind, pg or "", workdir) as engine,
                httpx.AsyncClient(base_url=f"http://{listen}", timeout=30.0,
                                  headers={"Authorization": f"Bearer {operator_token}"}) as api):
        await owners_hook.start()
        await guards_hook.start()
        db_url = engine.url.render_as_string(hide_password=False)
        central = CentralProcess(central_toml(workdir / "central.toml", broker_url=broker.url,
                                              password=passwords[CENTRAL_USER], db_url=db_url, listen=listen,
                                              operator_token=operator_token, owners=owners_hook, guards=guards_hook))
        gateway = EdgeProcess(gateway_toml(workdir / f"{GATEWAY_SITE}.toml", broker_url=broker.url,
                                           password=passwords[GATEWAY_SITE], listen=f"{gt06[0]}:{gt06[1]}",
                                           outbox=workdir / "gateway-outbox.db", max_connections=max_connections))
        stack = TrackerStack(workdir, broker, central, gateway, gt06, api, owners_hook, guards_hook,
                             PositionsProbe(engine), "PostgreSQL" if pg else "SQLite", workdir / "gateway-outbox.db")
        try:
            await central.start(ready="serving http://", within=60.0)
            await gateway.start(ready="GT06 gateway listening", within=30.0)
            await _until("the gateway online at central", stack.site_online, 30.0, [central, gateway])
            yield stack
        finally:
            await gateway.stop()
            await central.stop()
            await owners_hook.stop()
            await guards_hook.stop()


class FleetProcess:
    """bench/tracker_fleet.py in a child process, driven by JSON lines (see there)."""

    def __init__(self, server: tuple[str, int], count: int, *, victims: int = 0, interval: float = 10.0,
                 scenario: str = "mixed", log: Path) -> None:
        self.arguments = ["--server", f"{server[0]}:{server[1]}", "--count", str(count), "--victims", str(victims),
                          "--interval", str(interval), "--scenario", scenario]
        self.count = count
        self.log_path = log
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("not started")
        return self._process.pid

    def memory(self) -> Memory:
        return memory_of(self.pid)

    async def _read(self) -> dict[str, Any]:
        assert self._process is not None
        assert self._process.stdout is not None
        line = await self._process.stdout.readline()
        if not line:
            tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            raise RuntimeError(f"the tracker fleet exited:\n{tail}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def ask(self, op: str, **arguments: Any) -> dict[str, Any]:
        async with self._lock:
            assert self._process is not None
            assert self._process.stdin is not None
            self._process.stdin.write((json.dumps({"op": op, **arguments}) + "\n").encode())
            await self._process.stdin.drain()
            answer = await self._read()
        if "error" in answer:
            raise RuntimeError(f"tracker fleet: {answer['error']}")
        return answer

    async def __aenter__(self) -> FleetProcess:
        with self.log_path.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.tracker_fleet", *self.arguments, cwd=REPO,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log)
        await self._read()  # {"ready": true}: imported and built, nothing connected yet
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            assert process.stdin is not None
            process.stdin.write(b'{"op": "stop"}\n')
            await process.stdin.drain()
        try:
            async with asyncio.timeout(20):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()

    async def start(self) -> None:
        await self.ask("start")

    async def wait_online(self, within: float, say: Any = None) -> float:
        """Wait until every tracker is logged in at once; the seconds it took."""
        started = time.monotonic()
        last_said = started
        while True:
            status = await self.ask("status")
            if status["connected"] >= self.count:
                return time.monotonic() - started
            now = time.monotonic()
            if now - started > within:
                raise RuntimeError(f"only {status['connected']} of {self.count} trackers online after {within:.0f} s")
            if say is not None and now - last_said >= 5.0:
                say(f"  {status['connected']:,} of {self.count:,} trackers online")
                last_said = now
            await asyncio.sleep(0.25)
