"""Shared fixtures: a real Mosquitto on a free port, with the example sites' and central's users.

`broker` has site users "shop-a" and "shop-b" and the central users "_central-1" and "_central-2", with the passwords
in `BROKER_PASSWORDS`. The broker takes a connection's user name as its client id, so one user has one connection at
a time: a test that needs two central connections at once uses both central users. `make_broker` starts more brokers
(stopped at the end of the test), and `mqtt_settings` builds `MqttSettings` for any of those users.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shaobing.broker import BrokerUser, MosquittoBroker
from shaobing.mqtt import MqttSettings
from tests.drivers.pcsc.pcscd import Pcscd, require_pcscd

BROKER_PASSWORDS = {"shop-a": "shop-a-secret", "shop-b": "shop-b-secret", "_central-1": "central-secret",
                    "_central-2": "central-2-secret"}


def default_broker_users() -> list[BrokerUser]:
    return [BrokerUser(name, password, "central" if name.startswith("_central") else "site")
            for name, password in BROKER_PASSWORDS.items()]


MakeBroker = Callable[..., MosquittoBroker]
MakeSettings = Callable[..., MqttSettings]


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[MakeBroker]:
    """`make_broker(name="broker", users=None, start=True)`: a broker in tmp_path/name, stopped after the test."""
    made: list[MosquittoBroker] = []

    def make(name: str = "broker", users: list[BrokerUser] | None = None, start: bool = True) -> MosquittoBroker:
        broker = MosquittoBroker(tmp_path / name, users if users is not None else default_broker_users())
        made.append(broker)
        if start:
            broker.start()
        return broker

    yield make
    for broker in made:
        broker.stop()


@pytest.fixture
def broker(make_broker: MakeBroker) -> MosquittoBroker:
    return make_broker()


@pytest.fixture
def mqtt_settings(broker: MosquittoBroker) -> MakeSettings:
    """`mqtt_settings(username, client_id=None, broker=None, **overrides)`: settings for a known broker user."""
    numbers = itertools.count(1)

    def settings(username: str, *, client_id: str | None = None, broker: MosquittoBroker = broker,
                 **overrides: Any) -> MqttSettings:
        try:
            password = broker.user(username).password
        except KeyError:
            password = BROKER_PASSWORDS.get(username, "")
        values: dict[str, Any] = {
            "url": broker.url,
            "username": username,
            "password": password,
            "client_id": client_id or f"{username}-test-{next(numbers)}",
            "reconnect_min": 0.05,
            "reconnect_max": 0.5,
        }
        values.update(overrides)
        return MqttSettings(**values)

    return settings


@pytest.fixture(scope="session")
def pcsc_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The socket directory of every private pcscd of this process (see `tests/drivers/pcsc/pcscd.py`).

    One for the whole run, defined here only: libpcsclite reads PCSCLITE_CSOCK_NAME at its first call and keeps it for
    the life of the process, so every test of a process must use the same socket path."""
    require_pcscd()
    run_dir = tmp_path_factory.mktemp("pcscd-run")
    before = os.environ.get("PCSCLITE_CSOCK_NAME")
    os.environ["PCSCLITE_CSOCK_NAME"] = str(run_dir / "pcscd.comm")
    yield run_dir
    if before is None:
        os.environ.pop("PCSCLITE_CSOCK_NAME", None)
    else:
        os.environ["PCSCLITE_CSOCK_NAME"] = before


@pytest.fixture
def pcscd(pcsc_run_dir: Path, tmp_path: Path) -> Iterator[Pcscd]:
    """A real pcscd of the test's own with the vpcd virtual reader on a free port; stopped after the test."""
    daemon = Pcscd(pcsc_run_dir, tmp_path)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
