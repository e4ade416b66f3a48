"""The owners' pages' world: central's whole service on a broker that also knows a tracker gateway, owners signed up
through the API, trackers provisioned by an operator and claimed with their bind codes, and positions arriving as
the gateway's readings over the real broker."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.async_api import Page

from shaobing import topics
from shaobing.broker import MosquittoBroker
from shaobing.envelope import DEFAULT_PRIORITY, Envelope, Kind
from shaobing.mqtt import MqttLink, MqttSettings
from shaobing.net import free_port
from tests.conftest import MakeBroker
from tests.e2e.conftest import (
    GATEWAY,
    OWNER_PASSWORD,
    Owner,
    RunningCentral,
    bike_broker,
    provision_and_claim,
    serving_central,
    sign_up,
)
from tests.web.conftest import web_config

LOG = logging.getLogger("test.web.owners")
# Futian, Shenzhen.
HOME_LAT, HOME_LON = 22.5431, 114.0579
METRES_PER_DEGREE = math.pi * 6_371_008.8 / 180
CELL = {"mcc": 460, "mnc": 0, "lac": 9520, "cid": 3671}


def imei(serial: int) -> str:
    """A Luhn-valid IMEI (TAC 86471700)."""
    body = f"86471700{serial:06d}"
    total = 0
    for index, char in enumerate(reversed(body)):
        value = int(char)
        if index % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return body + str((10 - total % 10) % 10)


def north_of_home(metres: float) -> tuple[float, float]:
    return round(HOME_LAT + metres / METRES_PER_DEGREE, 6), HOME_LON


@dataclass(frozen=True)
class Fix:
    imei: str
    lat: float
    lon: float
    fix_time: datetime
    speed_kmh: float


@dataclass
class BikeWorld:
    central: RunningCentral
    broker: MosquittoBroker
    base_url: str
    sent: list[Fix] = field(default_factory=list)
    _seq: int = 0

    async def owner(self, phone: str, name: str) -> Owner:
        return await sign_up(self.central, phone, name)

    async def bike(self, owner: Owner, serial: int, *, name: str, plate: str) -> str:
        number = imei(serial)
        await provision_and_claim(self.central, owner, number, name=name, plate=plate)
        return number

    async def positions(self, fixes: list[Fix]) -> None:
        """The gateway's position readings, published over the broker as its edge publishes them."""
        settings = MqttSettings(url=self.broker.url, username=GATEWAY, password=self.broker.user(GATEWAY).password,
                                client_id=GATEWAY, reconnect_min=0.05, reconnect_max=0.5)
        async with MqttLink(settings, log=LOG) as link:
            await link.wait_connected(10)
            for fix in fixes:
                self._seq += 1
                data: dict[str, Any] = {
                    "lat": fix.lat, "lon": fix.lon, "fix_time": fix.fix_time.isoformat(), "valid": True,
                    "satellites": 9, "speed_kmh": fix.speed_kmh, "course": 0.0, "source": "gps",
                    "approximate": False, "cell": CELL, "archived": False, "protocol": 0x22,
                }
                envelope = Envelope(site=GATEWAY, seq=self._seq, device=fix.imei, kind=Kind.POSITION,
                                    ts=fix.fix_time, rx=datetime.now(UTC),
                                    priority=int(DEFAULT_PRIORITY[Kind.POSITION]), data=data)
                await link.publish(topics.event(GATEWAY, Kind.POSITION), envelope.to_json())
                self.sent.append(fix)

    async def stored_fix(self, owner: Owner, number: str, fix: Fix) -> bool:
        """Whether central shows `fix` as the bike's current position (it has been stored)."""
        position = (await owner.bike(number))["position"]
        return position is not None and position["lat"] == pytest.approx(fix.lat, abs=1e-6) and \
            position["fix_time"].startswith(fix.fix_time.strftime("%Y-%m-%dT%H:%M:%S"))


@contextlib.asynccontextmanager
async def bike_world(make_broker: Callable[..., MosquittoBroker], database_url: str) -> AsyncIterator[BikeWorld]:
    broker = bike_broker(make_broker)
    http = f"127.0.0.1:{free_port()}"
    config = web_config(broker, database_url, http, client_id="central-web-owners")
    async with serving_central(config, database_url, http, name="web-owners-central", api_timeout=10.0) as central:
        yield BikeWorld(central, broker, f"http://{http}")


@pytest.fixture
async def world(make_broker: MakeBroker, database_url: str) -> AsyncIterator[BikeWorld]:
    async with bike_world(make_broker, database_url) as running:
        yield running


async def log_in_owner(page: Page, base_url: str, phone: str, password: str = OWNER_PASSWORD) -> None:
    """Through the login page, as an owner does; lands on their bikes."""
    await page.goto(f"{base_url}/my/login")
    await page.fill("#phone", phone)
    await page.fill("#password", password)
    await page.click("#submit")
    await page.wait_for_url(f"{base_url}/my/")
