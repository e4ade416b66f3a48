"""People and places end to end: central with its [people] keys and every staff role's token, the guards' and 110's
webhook receivers, edge sites holding central's public key, and the simulated readers a site's drivers talk to (the
ID card reader and OSDP door readers on pseudo-terminals)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from firmware_sim.door.reader import SimulatedReader as DoorReader
from firmware_sim.idreader.reader import SimulatedReader as IdReader
from firmware_sim.idreader.reader import serving
from firmware_sim.pty_pair import PtyPair
from sqlalchemy import select

from central.config import CentralConfig
from central.store.schema import commands
from shaobing.access_list import private_key_text, public_key_text
from shaobing.broker import BrokerUser, MosquittoBroker
from shaobing.net import free_port
from tests.conftest import default_broker_users
from tests.e2e.conftest import (
    OPERATOR_TOKEN,
    CountingReceiver,
    EdgeProcess,
    RunningCentral,
    eventually,
    new_secret,
    serving_central,
    start_edge,
    write_edge_config,
)

WATCH_KEY = "e2e-watchlist-key-" + "0" * 14
SUPERVISOR_TOKEN = "e2e-supervisor-" + "0" * 22
VIEWER_TOKEN = "e2e-viewer-" + "0" * 26
POLICE_TOKEN = "e2e-police-" + "0" * 26
SUPERVISOR = {"Authorization": f"Bearer {SUPERVISOR_TOKEN}"}
VIEWER = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
POLICE = {"Authorization": f"Bearer {POLICE_TOKEN}"}
# The door readers' secure channel key (each real reader has its own, set at installation).
SCBK = "5A1E3C7D9B2F4A6E8C0D1B3F5A7E9C2D"


def people_broker(make_broker: Callable[..., MosquittoBroker], *sites: str) -> MosquittoBroker:
    """A broker that also knows these sites' users."""
    return make_broker(users=[*default_broker_users(),
                              *(BrokerUser(site, secrets.token_hex(12), "site") for site in sites)])


@dataclass
class Recipients:
    """The security company's guards and 110, each a signed-webhook recipient."""

    guards: CountingReceiver
    police: CountingReceiver

    def of_class(self, receiver: CountingReceiver, alarm_class: str) -> list[dict[str, Any]]:
        return [d.payload for d in receiver.received
                if d.payload.get("dispatch", {}).get("alarm_class") == alarm_class]


@contextlib.asynccontextmanager
async def recipients() -> AsyncIterator[Recipients]:
    made = Recipients(CountingReceiver("guards", new_secret()), CountingReceiver("police-110", new_secret()))
    for receiver in (made.guards, made.police):
        await receiver.start()
    try:
        yield made
    finally:
        for receiver in (made.guards, made.police):
            await receiver.stop()


@contextlib.asynccontextmanager
async def people_central(broker: MosquittoBroker, database_url: str, to: Recipients, key: Ed25519PrivateKey,
                         **people: Any) -> AsyncIterator[RunningCentral]:
    """Central with the watch-list key and `key` signing allow-lists (more [people] settings in `people`), tokens for
    operator (the default client's), supervisor, viewer and police."""
    http = f"127.0.0.1:{free_port()}"
    config = CentralConfig.model_validate({
        "mqtt": {"url": broker.url, "username": "_central-1", "password": broker.user("_central-1").password},
        "database": {"url": database_url},
        "http": {"listen": http},
        "api": {"tokens": [{"token": OPERATOR_TOKEN, "name": "operator-e2e", "role": "operator"},
                           {"token": SUPERVISOR_TOKEN, "name": "supervisor-e2e", "role": "supervisor"},
                           {"token": VIEWER_TOKEN, "name": "viewer-e2e", "role": "viewer"},
                           {"token": POLICE_TOKEN, "name": "police-e2e", "role": "police"}]},
        "ingest": {"client_id": "central-e2e"},
        "rules": {"recipients": {"security": [to.guards.name], "police": [to.police.name]}},
        "webhooks": {"backoff_initial_s": 0.2, "backoff_max_s": 1.0,
                     "recipients": [{"name": r.name, "url": r.url, "secret": r.secret}
                                    for r in (to.guards, to.police)]},
        "people": {"watchlist_key": WATCH_KEY, "access_list_key": private_key_text(key), **people},
    })
    async with serving_central(config, database_url, http, name="e2e-people-central", api_timeout=10.0) as central:
        yield central


async def start_site(edges: list[EdgeProcess], central: RunningCentral, directory: Path, broker: MosquittoBroker,
                     site: str, key: Ed25519PrivateKey, drivers: list[dict[str, Any]]) -> EdgeProcess:
    """The site's edge agent, holding central's public key, once central has it online."""
    config = write_edge_config(directory / f"{site}.toml", site=site, broker=broker,
                               outbox=directory / f"{site}.outbox.db", drivers=drivers,
                               access={"public_key": public_key_text(key.public_key())})
    edge = start_edge(edges, config)

    async def online() -> bool:
        found = await central.site(site)
        return found is not None and found["online"] is True

    await eventually(f"{site} online at central", online, watch=[edge])
    return edge


@dataclass
class PeopleRun:
    """Central for people and places with its broker, its allow-list signing key and the webhook recipients."""

    central: RunningCentral
    broker: MosquittoBroker
    key: Ed25519PrivateKey
    to: Recipients

    async def start_site(self, edges: list[EdgeProcess], directory: Path, site: str,
                         drivers: list[dict[str, Any]]) -> EdgeProcess:
        return await start_site(edges, self.central, directory, self.broker, site, self.key, drivers)


@contextlib.asynccontextmanager
async def people_run(make_broker: Callable[..., MosquittoBroker], database_url: str, site: str,
                     **people: Any) -> AsyncIterator[PeopleRun]:
    """A new signing key, a broker knowing `site`'s user, the recipients and central (more [people] settings in
    `people`)."""
    key = Ed25519PrivateKey.generate()
    broker = people_broker(make_broker, site)
    async with recipients() as to, people_central(broker, database_url, to, key, **people) as central:
        yield PeopleRun(central, broker, key, to)


async def set_kind(central: RunningCentral, site: str, kind: str) -> None:
    answer = await central.api.put(f"/api/sites/{site}/kind", json={"kind": kind, "name": f"e2e {site}"},
                                   headers=SUPERVISOR)
    assert answer.status_code == 200, answer.text


async def post(central: RunningCentral, path: str, body: dict[str, Any], *, status: int = 201) -> dict[str, Any]:
    """An operator's POST that must succeed with `status`."""
    answer = await central.api.post(path, json=body)
    assert answer.status_code == status, f"{path}: {answer.status_code} {answer.text}"
    found: dict[str, Any] = answer.json()
    return found


async def list_applied(central: RunningCentral, sent: dict[str, Any], watch: list[EdgeProcess]) -> str:
    """Wait for the site's answer to the allow-list an answer of central's carried: it must be applied."""
    assert sent["sent"] is True, sent

    async def answered() -> dict[str, Any] | None:
        found = await central.api.get(f"/api/commands/{sent['cmd_id']}")
        assert found.status_code == 200, found.text
        body: dict[str, Any] = found.json()
        return body if body["ok"] is not None else None

    result = await eventually(f"the site's answer to allow-list v{sent['version']}", answered, watch=watch)
    assert result["ok"] is True, result
    assert result["detail"].startswith(f"applied version {sent['version']} "), result
    return str(result["detail"])


async def of_kind(central: RunningCentral, site: str, kind: str) -> list[dict[str, Any]]:
    return [row for row in await central.readings(site) if row["kind"] == kind]


async def wait_readings(central: RunningCentral, site: str, kind: str, count: int, watch: list[EdgeProcess], *,
                        within: float = 20.0) -> list[dict[str, Any]]:
    """The site's readings of one kind once there are `count` of them."""
    async def enough() -> list[dict[str, Any]] | None:
        found = await of_kind(central, site, kind)
        return found if len(found) >= count else None

    return await eventually(f"{count} {kind} reading(s) of {site} at central", enough, within=within, watch=watch)


async def site_commands(central: RunningCentral, site: str) -> list[str]:
    """The names of every command central ever issued to the site (recorded before it is published)."""
    async with central.engine.connect() as connection:
        rows = await connection.execute(select(commands.c.name).where(commands.c.site == site)
                                        .order_by(commands.c.issued_at))
    return [str(name) for (name,) in rows]


# --- simulated readers ---------------------------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def id_reader() -> AsyncIterator[tuple[IdReader, str]]:
    """A simulated SAM ID card reader answering on a pseudo-terminal; yields it and the port to give the driver."""
    with PtyPair() as pair:
        async with serving(IdReader(pair.master_fd)) as reader:
            yield reader, pair.slave_path


@contextlib.contextmanager
def door_reader() -> Iterator[tuple[DoorReader, str]]:
    """A simulated OSDP reader (libosdp PD, secure channel under `SCBK`) on a pseudo-terminal."""
    with PtyPair() as pair, DoorReader(pair.master_fd, scbk=bytes.fromhex(SCBK)) as reader:
        yield reader, pair.slave_path


def idcard_driver(port: str, **options: Any) -> dict[str, Any]:
    return {"type": "idcard", "name": "idcard", "port": port, "reader": "front-desk",
            "service_point": "service-point-1", "poll_interval": 0.1, "photo": "hash", **options}


def osdp_driver(name: str, port: str, door: str, **options: Any) -> dict[str, Any]:
    return {"type": "osdp", "name": name, "port": port, "scbk": SCBK, "door": door, "door_contact_input": 0,
            "exit_request_input": 1, "unlock_seconds": 1.0, "held_open_after": 30.0, "offline_after": 2.0,
            "reconnect_delay": 0.2, **options}


async def reader_online(reader: DoorReader, watch: list[EdgeProcess]) -> None:
    async def online() -> bool:
        return reader.online and reader.secure

    await eventually("the door reader online with the secure channel", online, watch=watch)


async def lifted(reader: IdReader) -> None:
    """Take the card off and give the driver time to see it gone (its next card is a new reading)."""
    reader.lift()
    await asyncio.sleep(0.3)
