"""The tracker core as `shaobing central` runs it: a gateway publishing through a real Mosquitto, central's ingest
with its hook chain, the webhook sender posting to real receivers (the monitoring centre, 110, the SMS gateway)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from central.config import CentralConfig
from central.service import Central
from central.trackers.actions import confirm_theft, set_armed
from shaobing import topics
from shaobing.broker import BrokerUser, MosquittoBroker
from shaobing.clock import utc_now
from shaobing.demo.receiver import WebhookReceiver
from shaobing.envelope import Envelope
from shaobing.mqtt import MqttLink, MqttSettings
from shaobing.net import free_port

from .feed import Gateway, add_owner, add_tracker, imei, offset, position_rows, tracker

LOG = logging.getLogger("test.trackers.service")
CENTRAL = BrokerUser("_central-1", "central-secret", "central")
GATEWAY = BrokerUser("gw-1", "gateway-secret", "site")
BIKE = imei(31)
SECRETS = {"guards": "guards-secret-0001", "police-110": "police-secret-0001", "sms": "sms-gateway-secret-01"}


@pytest.fixture
async def mosquitto(tmp_path: Path) -> AsyncIterator[MosquittoBroker]:
    async with MosquittoBroker(tmp_path / "broker", [CENTRAL, GATEWAY]) as broker:
        yield broker


@pytest.fixture
async def receivers() -> AsyncIterator[dict[str, WebhookReceiver]]:
    started = {name: WebhookReceiver(name, secret) for name, secret in SECRETS.items()}
    for receiver in started.values():
        await receiver.start()
    try:
        yield started
    finally:
        for receiver in started.values():
            await receiver.stop()


@pytest.fixture
async def central(
    mosquitto: MosquittoBroker, database_url: str, engine: AsyncEngine, receivers: dict[str, WebhookReceiver]
) -> AsyncIterator[Central]:
    config = CentralConfig.model_validate({
        "mqtt": {"url": mosquitto.url, "username": CENTRAL.username, "password": CENTRAL.password,
                 "reconnect_min": 0.05, "reconnect_max": 0.5},
        "database": {"url": database_url},
        "http": {"listen": f"127.0.0.1:{free_port()}", "public_url": "https://alarm.example.com"},
        "ingest": {"client_id": "central-trackers"},
        "rules": {"recipients": {"security": ["guards"], "police": ["police-110"], "owners": ["sms"]}},
        "webhooks": {"backoff_initial_s": 0.05, "backoff_max_s": 0.2,
                     "recipients": [{"name": r.name, "url": r.url, "secret": r.secret} for r in receivers.values()]},
        "trackers": {"theft_distance_m": 100, "theft_fixes": 2},
    })
    service = Central(config, engine, log=LOG)
    task = asyncio.create_task(service.run(), name="central")
    try:
        async with asyncio.timeout(15):
            await service.ingest.wait_subscribed()
        yield service
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def publish(broker: MosquittoBroker, envelopes: list[Envelope]) -> None:
    settings = MqttSettings(url=broker.url, username=GATEWAY.username, password=GATEWAY.password,
                            client_id="gw-1", reconnect_min=0.05, reconnect_max=0.5)
    async with MqttLink(settings, log=LOG) as link:
        async with asyncio.timeout(10):
            await link.wait_connected()
        pending = [link.start_publish(topics.event(e.site, e.kind), e.to_json()) for e in envelopes]
        async with asyncio.timeout(30):
            await asyncio.gather(*pending)


async def until(condition: Callable[[], bool], within: float = 30) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.02)


async def test_a_stolen_bike_reaches_the_centre_the_owner_and_on_confirmation_110(
    central: Central, mosquitto: MosquittoBroker, engine: AsyncEngine, receivers: dict[str, WebhookReceiver]
) -> None:
    gateway = Gateway("gw-1")
    await add_tracker(engine, BIKE, owner_id=await add_owner(engine))
    now = utc_now()
    await publish(mosquitto, [gateway.position(BIKE, now - timedelta(seconds=60), *offset(1, 1))])
    await until(lambda: central.ingest.counters.stored == 1)
    async with engine.begin() as connection:
        await set_armed(connection, BIKE, armed=True, actor="owner:1", now=now - timedelta(seconds=55))
    ride = [gateway.position(BIKE, now - timedelta(seconds=50 - 10 * i), *offset(0, 45 * i), speed_kmh=16.0)
            for i in range(1, 6)]
    await publish(mosquitto, ride)
    await until(lambda: bool(receivers["sms"].received) and bool(receivers["guards"].received))
    (alert,) = receivers["sms"].received
    assert (alert.event, alert.payload["to"], alert.payload["imei"]) == ("owner.theft", "+8613812345678", BIKE)
    assert alert.payload["link"] == "https://alarm.example.com/my/"
    (raised,) = receivers["guards"].received
    assert (raised.event, raised.payload["dispatch"]["alarm_class"]) == ("dispatch.raised", "theft")
    assert len(await position_rows(engine, BIKE)) == 6
    assert receivers["police-110"].received == []

    link = "https://alarm.example.com/share/live-token"
    async with engine.begin() as connection:
        await confirm_theft(connection, BIKE, actor="owner:1", live_link=link, now=utc_now())
    central.sender.wake()
    await until(lambda: bool(receivers["police-110"].received) and len(receivers["sms"].received) == 2)
    (police,) = receivers["police-110"].received
    assert (police.event, police.payload["tracker"]["live_link"]) == ("dispatch.escalated", link)
    assert police.payload["tracker"]["position"]["lat"] == pytest.approx(offset(0, 225)[0])
    assert receivers["sms"].received[1].event == "owner.theft_confirmed"
    assert (await tracker(engine, BIKE)).theft_state == "confirmed"
