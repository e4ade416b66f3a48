"""Central ingest rate in readings/s, on SQLite and on PostgreSQL.

(a) store only: batches of messages straight into the batch store (parse, insert, gaps, sites), one transaction each;
(b) end to end: a private Mosquitto, a separate publisher process (one MQTT connection per site), and the ingest in
    this process: `drain` is the rate at which central empties a backlog queued while it was down, `live` the rate
    with the publisher running at the same time.

Run: .venv/bin/python bench/ingest.py [--readings N] [--sites S] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from central.ingest import Ingest
from central.ingest_batch import BatchStore
from central.ingest_settings import IngestSettings
from central.store.db import open_database
from shaobing import topics
from shaobing.broker import BrokerUser, MosquittoBroker
from shaobing.envelope import Envelope, Kind
from shaobing.mqtt import MqttLink, MqttSettings

LOG = logging.getLogger("bench.ingest")
CENTRAL = BrokerUser("_central-bench", "bench-central", "central")
T0 = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool = False


def site_name(index: int) -> str:
    return f"bench-{index:03d}"


def reading(site: str, seq: int) -> Envelope:
    kind = Kind.ALARM if seq % 50 == 0 else Kind.POSITION
    data: dict[str, object] = (
        {"class": "burglary", "zone": seq % 8, "qualifier": "new"}
        if kind is Kind.ALARM
        else {"lat": 30.25 + seq * 1e-6, "lon": 120.16, "speed_kmh": 12.5, "source": "gps", "valid": True}
    )
    moment = T0 + timedelta(milliseconds=seq)
    return Envelope(site, seq, "tracker-1", kind, moment, moment, 1 if kind is Kind.ALARM else 5, data)


def messages(readings: int, sites: int, first_seq: int = 1) -> list[Message]:
    """`readings` messages, interleaved across sites, each site's seqs in order from `first_seq`."""
    per_site = readings // sites
    out = []
    for seq in range(first_seq, first_seq + per_site):
        for index in range(sites):
            envelope = reading(site_name(index), seq)
            out.append(Message(topics.event(envelope.site, envelope.kind), envelope.to_json()))
    return out


# -- databases -------------------------------------------------------------------------------------------------


@asynccontextmanager
async def database(kind: str, pg_admin: str, scratch: Path) -> AsyncIterator[AsyncEngine]:
    if kind == "sqlite":
        url = f"sqlite:///{scratch / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        engine = await open_database(url)
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    admin = make_url(pg_admin).set(drivername="postgresql")
    name = f"shaobing_bench_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(admin.render_as_string(hide_password=False))
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    engine = await open_database(admin.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        await engine.dispose()
        connection = await asyncpg.connect(admin.render_as_string(hide_password=False))
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


# -- (a) store only ---------------------------------------------------------------------------------------------


async def store_only(engine: AsyncEngine, batch: list[Message], batch_size: int) -> float:
    store = BatchStore()
    started = time.perf_counter()
    for start in range(0, len(batch), batch_size):
        async with engine.begin() as connection:
            await store.process(connection, batch[start : start + batch_size], now=datetime.now(UTC))
    return len(batch) / (time.perf_counter() - started)


# -- (b) end to end ---------------------------------------------------------------------------------------------


def publisher(url: str, readings: int, sites: int, first_seq: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "publish", url, str(readings), str(sites), str(first_seq)], stdout=subprocess.DEVNULL
    )


async def publish(url: str, readings: int, sites: int, first_seq: int) -> None:
    """The publisher process: one connection per site (its broker user), every message QoS 1 and acknowledged."""
    by_site: dict[str, list[Message]] = {}
    for message in messages(readings, sites, first_seq):
        by_site.setdefault(topics.site_of(message.topic) or "", []).append(message)

    async def one_site(site: str, batch: list[Message]) -> None:
        settings = MqttSettings(url=url, username=site, password=f"pw-{site}", client_id=f"edge-{site}")
        async with MqttLink(settings, log=LOG) as link:
            await link.wait_connected(10)
            await asyncio.gather(*(link.start_publish(m.topic, m.payload) for m in batch))

    await asyncio.gather(*(one_site(site, batch) for site, batch in by_site.items()))


async def wait_for(ingest: Ingest, stored: int, received: int = 0) -> None:
    async with asyncio.timeout(120):
        while ingest.counters.stored < stored or ingest.counters.received < received:  # noqa: ASYNC110 - sampling
            await asyncio.sleep(0.002)


async def end_to_end(engine: AsyncEngine, broker: MosquittoBroker, readings: int, sites: int) -> tuple[float, float]:
    mqtt = MqttSettings(url=broker.url, username=CENTRAL.username, password=CENTRAL.password, client_id="central")
    settings = IngestSettings(client_id="central-bench")
    # Drain: create the persistent session, go away, let the publisher queue everything, come back.
    async with Ingest(engine, mqtt, settings, log=LOG) as first:
        await asyncio.wait_for(first.wait_connected(), 10)
        await asyncio.sleep(0.3)
    await asyncio.to_thread(publisher(broker.url, readings, sites, 1).wait)
    async with Ingest(engine, mqtt, settings, log=LOG) as second:
        started = time.perf_counter()
        await wait_for(second, readings)
        drain = readings / (time.perf_counter() - started)
    # Live: the ingest running while the publisher sends the next seqs; timed from the first message received.
    async with Ingest(engine, mqtt, settings, log=LOG) as live:
        await asyncio.wait_for(live.wait_connected(), 10)
        await asyncio.sleep(0.3)
        process = publisher(broker.url, readings, sites, readings // sites + 1)
        await wait_for(live, 0, received=1)
        started = time.perf_counter()
        await wait_for(live, readings)
        rate = readings / (time.perf_counter() - started)
        await asyncio.to_thread(process.wait)
    return drain, rate


async def main(arguments: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    print(f"ingest bench: {arguments.readings} readings from {arguments.sites} sites, batches of 100", flush=True)
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        batch = messages(arguments.readings, arguments.sites)
        for kind in ("sqlite", "postgresql"):
            async with database(kind, arguments.pg, scratch) as engine:
                rate = await store_only(engine, batch, 100)
            print(f"{kind:<10} (a) store only:          {rate:8.0f} readings/s", flush=True)
            users = [CENTRAL, *(BrokerUser(site_name(i), f"pw-{site_name(i)}", "site") for i in range(arguments.sites))]
            async with (
                MosquittoBroker(scratch / f"broker-{kind}", users) as broker,
                database(kind, arguments.pg, scratch) as engine,
            ):
                drain, live = await end_to_end(engine, broker, arguments.readings, arguments.sites)
            print(f"{kind:<10} (b) end to end, drain:   {drain:8.0f} readings/s", flush=True)
            print(f"{kind:<10} (b) end to end, live:    {live:8.0f} readings/s (publisher in another process)")


def cli() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "publish":
        url, readings, sites, first_seq = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        asyncio.run(publish(url, readings, sites, first_seq))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--pg", default=os.environ.get("SHAOBING_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"))
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
