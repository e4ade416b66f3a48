"""End-to-end fixtures: central in this process (the `Central` service on a real database), edge agents as real
`python -m shaobing edge` processes, a real Mosquitto between them, simulated panels and webhook recipients.

`database_url` (a SQLite file and a fresh PostgreSQL database) comes from central's fixtures; `sqlite_url` is the
SQLite one alone, for the tests whose promise does not depend on the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import httpx
import pytest
from firmware_sim.tracker.bike import Bike
from firmware_sim.tracker.device import Report, SimTracker
from firmware_sim.tracker.device import TrackerSettings as SimTrackerSettings
from firmware_sim.tracker.drift import PARKED, DriftModel
from firmware_sim.tracker.fleet import parking_spot
from firmware_sim.tracker.imeis import DEFAULT_BASE, imei_at
from firmware_sim.tracker.streets import StreetGrid
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse

from central.config import CentralConfig
from central.service import Central
from central.store.db import open_database
from central.store.schema import dispatches, positions, readings, rejected_messages, seq_gaps, webhook_outbox
from shaobing.broker import BrokerUser, MosquittoBroker
from shaobing.demo.receiver import WebhookReceiver
from shaobing.net import free_port
from tests.central.conftest import database_url
from tests.conftest import default_broker_users

__all__ = ["database_url"]  # central's two-store fixture, used here as is

LOG = logging.getLogger("test.e2e")
OPERATOR_TOKEN = "e2e-operator-" + "0" * 24
T = TypeVar("T")


# --- waiting with a deadline ---------------------------------------------------------------------------------------

async def eventually(what: str, check: Callable[[], Awaitable[T | None]], *, within: float = 20.0,
                     watch: list[EdgeProcess] | None = None) -> T:
    """Poll `check` until it returns something truthy (returned); fail with `what` at the deadline, or at once if a
    watched edge process has died."""
    deadline = time.monotonic() + within
    while True:
        last = await check()
        if last:
            return last
        for process in watch or []:
            if process.exited_unexpectedly():
                pytest.fail(f"while waiting for {what}: edge process exited with {process.returncode}; "
                            f"log tail:\n{process.log_tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {within:.0f} s waiting for {what} (last: {last!r})")
        await asyncio.sleep(0.1)


async def wait_listening(port: int, *, within: float = 15.0, watch: list[EdgeProcess] | None = None) -> None:
    async def listening() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    await eventually(f"something listening on port {port}", listening, within=within, watch=watch)


# --- edge agents as processes --------------------------------------------------------------------------------------

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _toml_table(header: str, table: dict[str, Any], *, array: bool = False) -> str:
    scalars = {key: value for key, value in table.items() if not isinstance(value, dict)}
    tables = {key: value for key, value in table.items() if isinstance(value, dict)}
    text = f"\n[[{header}]]\n" if array else f"\n[{header}]\n"
    text += "".join(f"{json.dumps(key)} = {_toml_value(value)}\n" for key, value in scalars.items())
    for key, sub in tables.items():
        text += _toml_table(f"{header}.{json.dumps(key)}", sub)
    return text


def write_edge_config(path: Path, *, site: str, broker: MosquittoBroker, outbox: Path,
                      drivers: list[dict[str, Any]], mqtt: dict[str, Any] | None = None,
                      access: dict[str, Any] | None = None) -> Path:
    """An edge TOML file as a person would write it; quick reconnects so a test does not wait on backoff; `access`
    the [access] table (the allow-list's public key)."""
    mqtt_table = {"url": broker.url, "password": broker.user(site).password, "reconnect_min": 0.05,
                  "reconnect_max": 0.5, **(mqtt or {})}
    text = f"# end-to-end test site {site}\n"
    text += _toml_table("site", {"id": site, "name": f"e2e {site}"})
    text += _toml_table("mqtt", mqtt_table)
    text += _toml_table("outbox", {"path": str(outbox)})
    if access is not None:
        text += _toml_table("access", access)
    text += "".join(_toml_table("drivers", driver, array=True) for driver in drivers)
    path.write_text(text, encoding="utf-8")
    return path


class EdgeProcess:
    """`python -m shaobing edge --config FILE`, its output appended to a log file next to the config."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.log_path = config.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = False

    def start(self) -> EdgeProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "shaobing", "edge", "--config", str(self.config)],
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._stopping = False
        return self

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def exited_unexpectedly(self) -> bool:
        return not self._stopping and self.process is not None and self.process.poll() is not None

    def kill(self) -> None:
        """SIGKILL, as a power cut: nothing is flushed, nothing said goodbye (the reaping is left to `wait`)."""
        assert self.process is not None
        self._stopping = True
        self.process.send_signal(signal.SIGKILL)

    async def wait(self, timeout: float = 15.0) -> int:
        assert self.process is not None
        return await asyncio.to_thread(self.process.wait, timeout)

    async def terminate(self) -> int:
        """SIGTERM: the agent stops its drivers, says it is offline and commits what is queued."""
        assert self.process is not None
        self._stopping = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return await self.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


@pytest.fixture
def edges() -> Iterator[list[EdgeProcess]]:
    """Edge processes a test started: whatever is still running at the end is killed and reaped."""
    started: list[EdgeProcess] = []
    yield started
    for edge in started:
        if edge.process is not None and edge.process.poll() is None:
            edge.process.kill()
        if edge.process is not None:
            edge.process.wait(10)


def start_edge(edges: list[EdgeProcess], config: Path) -> EdgeProcess:
    edge = EdgeProcess(config).start()
    edges.append(edge)
    return edge


@dataclass(frozen=True)
class OutboxState:
    last_seq: int
    pending: int


def outbox_state(path: Path) -> OutboxState:
    """Read an edge's outbox file (a running agent's too: SQLite WAL lets a reader in beside the writer)."""
    with contextlib.closing(sqlite3.connect(path, timeout=5.0)) as db:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        (pending,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
    return OutboxState(int(meta.get("last_seq", 0)), int(pending))


# --- central in this process ---------------------------------------------------------------------------------------

@dataclass
class RunningCentral:
    central: Central
    engine: AsyncEngine
    api: httpx.AsyncClient

    async def seqs(self, site: str) -> list[int]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(select(readings.c.seq).where(readings.c.site == site)
                                            .order_by(readings.c.seq))
        return [int(seq) for (seq,) in rows]

    async def count(self, site: str) -> int:
        async with self.engine.connect() as connection:
            counted = await connection.execute(select(func.count()).where(readings.c.site == site))
        return int(counted.scalar_one())

    async def readings(self, site: str) -> list[dict[str, Any]]:
        """The site's readings in the order central stored them (readings.id)."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(select(readings.c.id, readings.c.seq, readings.c.kind, readings.c.device,
                                                   readings.c.data).where(readings.c.site == site)
                                            .order_by(readings.c.id))
        return [dict(row._mapping) for row in rows]

    async def gaps(self, site: str) -> list[tuple[int, int]]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(select(seq_gaps.c.first_seq, seq_gaps.c.last_seq)
                                            .where(seq_gaps.c.site == site).order_by(seq_gaps.c.first_seq))
        return [(int(first), int(last)) for first, last in rows]

    async def dispatches(self, site: str | None = None) -> list[dict[str, Any]]:
        query = select(dispatches).order_by(dispatches.c.id)
        if site is not None:
            query = query.where(dispatches.c.site == site)
        async with self.engine.connect() as connection:
            rows = await connection.execute(query)
        return [dict(row._mapping) for row in rows]

    async def webhook_rows(self, recipient: str) -> list[dict[str, Any]]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(select(webhook_outbox).where(webhook_outbox.c.recipient == recipient)
                                            .order_by(webhook_outbox.c.id))
        return [dict(row._mapping) for row in rows]

    async def rejected(self) -> list[tuple[str, str]]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(select(rejected_messages.c.topic, rejected_messages.c.reason)
                                            .order_by(rejected_messages.c.id))
        return [(str(topic), str(reason)) for topic, reason in rows]

    async def site(self, site: str) -> dict[str, Any] | None:
        response = await self.api.get(f"/api/sites/{site}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found


@contextlib.asynccontextmanager
async def running_central(broker: MosquittoBroker, database_url: str, *,
                          recipients: dict[str, str] | None = None, secrets_by_name: dict[str, str] | None = None,
                          police: list[str] | None = None, security: list[str] | None = None,
                          ) -> AsyncIterator[RunningCentral]:
    """Central's whole service (ingest, rules, webhooks, escalation, supervision, HTTP API) on `database_url`, with
    an operator token; yields once its API answers and its ingest is connected to the broker."""
    http = f"127.0.0.1:{free_port()}"
    recipients = recipients or {}
    secrets_by_name = secrets_by_name or {}
    config = CentralConfig.model_validate({
        "mqtt": {"url": broker.url, "username": "_central-1", "password": broker.user("_central-1").password},
        "database": {"url": database_url},
        "http": {"listen": http},
        "api": {"tokens": [{"token": OPERATOR_TOKEN, "name": "operator-e2e", "role": "operator"}]},
        "ingest": {"client_id": "central-e2e"},
        "rules": {"recipients": {"police": police or [], "security": security or []}},
        "webhooks": {"backoff_initial_s": 0.2, "backoff_max_s": 1.0,
                     "recipients": [{"name": name, "url": url, "secret": secrets_by_name[name]}
                                    for name, url in recipients.items()]},
    })
    async with serving_central(config, database_url, http, name="e2e-central", api_timeout=5.0) as central:
        yield central


@contextlib.asynccontextmanager
async def serving_central(config: CentralConfig, database_url: str, http: str, *, name: str,
                          api_timeout: float) -> AsyncIterator[RunningCentral]:
    """Central run from `config` in a task named `name`, its API on `http` with the operator's token; yields once
    the API answers and the ingest is connected to the broker."""
    engine = await open_database(database_url)
    central = Central(config, engine, log=LOG.getChild("central"))
    task = asyncio.create_task(central.run(), name=name)
    api = httpx.AsyncClient(base_url=f"http://{http}", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
                            timeout=api_timeout)
    try:
        async def api_up() -> bool:
            if task.done():
                task.result()  # raises what stopped central
            try:
                return (await api.get("/api/health")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually("central's API", api_up, within=20)
        async with asyncio.timeout(15):
            await central.ingest.wait_connected()
        yield RunningCentral(central, engine, api)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await api.aclose()
        await engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'central.db'}"


# --- webhook recipients --------------------------------------------------------------------------------------------

@dataclass
class CountingReceiver(WebhookReceiver):
    """The demo's signed-webhook recipient, also counting every POST it answers (resent deliveries included)."""

    posts: int = 0
    _counted: list[str] = field(default_factory=list)

    async def _hook(self, request: Request) -> JSONResponse:
        self.posts += 1
        self._counted.append(request.headers.get("x-shaobing-delivery", ""))
        return await super()._hook(request)

    @property
    def delivery_ids_posted(self) -> list[str]:
        return list(self._counted)


def new_secret() -> str:
    return secrets.token_hex(16)


# --- e-bikes: GT06 trackers through a tracker gateway, their owners on the API --------------------------------------

GATEWAY = "bikes-gw"  # the tracker gateway's site id (an edge agent whose driver is the GT06 server)
OWNER_PASSWORD = "rides a blue bike 7"


def bike_broker(make_broker: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    """A broker that also knows the tracker gateway's site user."""
    return make_broker(users=[*default_broker_users(), BrokerUser(GATEWAY, secrets.token_hex(12), "site")])


@dataclass
class BikeRecipients:
    """The security company's guards, 110 and the owners' SMS gateway, each a signed-webhook recipient."""

    guards: CountingReceiver
    police: CountingReceiver
    sms: CountingReceiver

    @property
    def all(self) -> list[CountingReceiver]:
        return [self.guards, self.police, self.sms]

    def texts(self, event: str | None = None, imei: str | None = None) -> list[dict[str, Any]]:
        """The owners' texts received, of one event and one bike when given."""
        return [d.payload for d in self.sms.received
                if (event is None or d.event == event) and (imei is None or d.payload.get("imei") == imei)]

    @staticmethod
    def dispatches_to(receiver: CountingReceiver, *, alarm_class: str, zone: str,
                      event: str | None = None) -> list[dict[str, Any]]:
        """Dispatch deliveries a recipient received for one alarm class and zone (a bike's IMEI)."""
        return [d.payload for d in receiver.received
                if d.payload.get("dispatch", {}).get("alarm_class") == alarm_class
                and d.payload.get("dispatch", {}).get("zone") == zone and (event is None or d.event == event)]


@contextlib.asynccontextmanager
async def bike_recipients() -> AsyncIterator[BikeRecipients]:
    recipients = BikeRecipients(CountingReceiver("guards", new_secret()), CountingReceiver("police-110", new_secret()),
                                CountingReceiver("sms-gateway", new_secret()))
    for receiver in recipients.all:
        await receiver.start()
    try:
        yield recipients
    finally:
        for receiver in recipients.all:
            await receiver.stop()


@contextlib.asynccontextmanager
async def running_bike_central(broker: MosquittoBroker, database_url: str, recipients: BikeRecipients, *,
                               escalate_after: float = 3600.0, trackers: dict[str, Any] | None = None,
                               owners: dict[str, Any] | None = None) -> AsyncIterator[RunningCentral]:
    """Central as `running_central` starts it, with the owners' SMS gateway among the recipients and `[trackers]` /
    `[owners]` settings. An unacknowledged theft waits `escalate_after` before 110 hears of it: an hour by default,
    so 110 hears of a theft only when it is confirmed."""
    http = f"127.0.0.1:{free_port()}"
    config = CentralConfig.model_validate({
        "mqtt": {"url": broker.url, "username": "_central-1", "password": broker.user("_central-1").password},
        "database": {"url": database_url},
        "http": {"listen": http},
        "api": {"tokens": [{"token": OPERATOR_TOKEN, "name": "operator-e2e", "role": "operator"}]},
        "ingest": {"client_id": "central-e2e"},
        "rules": {"escalate_after": escalate_after,
                  "recipients": {"security": [recipients.guards.name], "police": [recipients.police.name],
                                 "owners": [recipients.sms.name]}},
        "webhooks": {"backoff_initial_s": 0.2, "backoff_max_s": 1.0,
                     "recipients": [{"name": r.name, "url": r.url, "secret": r.secret} for r in recipients.all]},
        "trackers": trackers or {},
        "owners": owners or {},
    })
    async with serving_central(config, database_url, http, name="e2e-bike-central", api_timeout=10.0) as central:
        yield central


def write_gateway_config(directory: Path, broker: MosquittoBroker, port: int, **gt06: Any) -> Path:
    """The tracker gateway's edge configuration: the GT06 server on `port`, options of the driver in `gt06`."""
    return write_edge_config(directory / f"{GATEWAY}.toml", site=GATEWAY, broker=broker,
                             outbox=directory / f"{GATEWAY}.outbox.db",
                             drivers=[{"type": "gt06", "name": "gt06", "listen": f"127.0.0.1:{port}", **gt06}])


async def start_gateway(edges: list[EdgeProcess], config: Path, port: int) -> EdgeProcess:
    gateway = start_edge(edges, config)
    await wait_listening(port, watch=[gateway])
    return gateway


class BikeSite(NamedTuple):
    central: RunningCentral
    gateway: EdgeProcess  # the tracker gateway's edge agent
    port: int  # where the gateway listens for trackers


@contextlib.asynccontextmanager
async def bike_site(make_broker: Callable[..., MosquittoBroker], database_url: str, directory: Path,
                    edges: list[EdgeProcess], recipients: BikeRecipients,
                    **central_options: Any) -> AsyncIterator[BikeSite]:
    """The bikes' whole path up: a broker knowing the gateway, central as `running_bike_central` starts it (with
    `central_options`), and the tracker gateway listening on a free port."""
    broker = bike_broker(make_broker)
    port = free_port()
    async with running_bike_central(broker, database_url, recipients, **central_options) as central:
        gateway = await start_gateway(edges, write_gateway_config(directory, broker, port), port)
        yield BikeSite(central, gateway, port)


@dataclass
class Owner:
    """A bike owner on their phone: every call carries the owner's session token, none the operator's."""

    api: httpx.AsyncClient
    phone: str
    token: str

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.api.request(method, path, headers={"Authorization": f"Bearer {self.token}"}, **kwargs)

    async def bike(self, imei: str) -> dict[str, Any]:
        response = await self.call("GET", f"/api/my/bikes/{imei}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


async def sign_up(central: RunningCentral, phone: str, name: str) -> Owner:
    anonymous = {"Authorization": ""}
    signed_up = await central.api.post("/api/owners", json={"phone": phone, "name": name,
                                                             "password": OWNER_PASSWORD}, headers=anonymous)
    assert signed_up.status_code == 201, signed_up.text
    login = await central.api.post("/api/owners/login", json={"phone": phone, "password": OWNER_PASSWORD},
                                   headers=anonymous)
    assert login.status_code == 200, login.text
    return Owner(central.api, phone, login.json()["token"])


async def provision_and_claim(central: RunningCentral, owner: Owner, imei: str, *, name: str,
                              plate: str | None = None) -> dict[str, Any]:
    """The operator provisions the tracker with the bind code on its box; the owner claims it with that code."""
    bind_code = secrets.token_hex(4)
    provisioned = await central.api.post("/api/trackers", json={"imei": imei, "bind_code": bind_code})
    assert provisioned.status_code in (200, 201), provisioned.text
    claimed = await owner.call("POST", "/api/my/bikes", json={"imei": imei, "bind_code": bind_code, "name": name,
                                                              "plate": plate})
    assert claimed.status_code == 201, claimed.text
    bike: dict[str, Any] = claimed.json()
    return bike


def share_path(url: str) -> str:
    """The API path answering for a share link (the link itself, `/share/{token}` on central's public address, opens
    the police's page, which reads this path)."""
    return "/api/share/" + url.rsplit("/", 1)[-1]


async def open_shared(central: RunningCentral, url: str) -> httpx.Response:
    """What a share link's page reads, asked by someone without an account (no Authorization header at all)."""
    async with httpx.AsyncClient(base_url=str(central.api.base_url), timeout=10.0) as stranger:
        return await stranger.get(share_path(url))


def sim_tracker(index: int, port: int, *, settings: SimTrackerSettings, seed: int,
                journal: list[Report] | None = None, drift: DriftModel = PARKED,
                events: list[str] | None = None) -> SimTracker:
    """A simulated GT06 tracker on a bike parked somewhere in the simulator's district, dialling the gateway."""
    rng = random.Random(seed)
    grid = StreetGrid()

    def noted(tracker: SimTracker, text: str) -> None:
        if events is not None:
            events.append(text)
        LOG.info("tracker %s: %s", tracker.imei, text)

    bike = Bike(grid, parking_spot(grid, rng), rng, drift)
    return SimTracker(imei_at(DEFAULT_BASE, index), ("127.0.0.1", port), bike, rng, settings=settings,
                      journal=journal, on_event=noted)


@contextlib.asynccontextmanager
async def running_trackers(trackers: list[SimTracker]) -> AsyncIterator[list[SimTracker]]:
    """Each tracker's task, cancelled at the end; a tracker that crashed (a simulator bug) fails the test."""
    tasks = [asyncio.create_task(tracker.run(), name=f"e2e-tracker-{tracker.imei}") for tracker in trackers]
    try:
        yield trackers
    finally:
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    crashed = [outcome for outcome in outcomes if not isinstance(outcome, asyncio.CancelledError)]
    assert not crashed, f"trackers crashed: {crashed!r}"


def settled(tracker: SimTracker) -> bool:
    """Online, with nothing waiting in its buffer and nothing unanswered."""
    return tracker.online and tracker.buffer.waiting == 0 and not tracker.buffer.unanswered()


async def positions_of(central: RunningCentral, imei: str) -> list[dict[str, Any]]:
    """Every stored position of a tracker (filtered ones too), in the order central stored them."""
    async with central.engine.connect() as connection:
        rows = await connection.execute(select(positions).where(positions.c.imei == imei).order_by(positions.c.id))
    return [dict(row._mapping) for row in rows]


def carrying(report: Report, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored positions that carry one report of the tracker: its fix time and its coordinates."""
    return [row for row in rows if row["fix_time"] == report.fix_time and row["lat"] is not None
            and abs(row["lat"] - report.lat) < 2e-6 and abs(row["lon"] - report.lon) < 2e-6]
