"""Commands leave on the ingest's own connection: the broker names connections after their user, so central keeps one
(a second one of the same user would take the first over), and the API answers 504 when the broker is out of reach."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from central.api.app import create_app
from central.config import CentralConfig
from central.ingest import Ingest
from central.ingest_settings import IngestSettings
from central.rules_settings import RulesSettings
from central.service import Central, MqttCommandSender
from central.store.schema import sites
from shaobing import topics
from shaobing.broker import BrokerUser, MosquittoBroker
from shaobing.clock import SystemClock
from shaobing.mqtt import MqttLink, MqttSettings
from shaobing.net import free_port

LOG = logging.getLogger("test.commands")
CENTRAL = BrokerUser("_central-1", "central-secret", "central")
SHOP_A = BrokerUser("shop-a", "shop-a-secret", "site")
TOKEN = "operator-token-for-commands-01"


@pytest.fixture
async def mosquitto(tmp_path: Path) -> AsyncIterator[MosquittoBroker]:
    async with MosquittoBroker(tmp_path / "broker", [CENTRAL, SHOP_A]) as broker:
        yield broker


def _settings(url: str, user: BrokerUser, client_id: str) -> MqttSettings:
    return MqttSettings(url=url, username=user.username, password=user.password, client_id=client_id,
                        reconnect_min=0.05, reconnect_max=0.5)


def _central_config(broker_url: str, database_url: str) -> CentralConfig:
    return CentralConfig.model_validate({
        "mqtt": {"url": broker_url, "username": CENTRAL.username, "password": CENTRAL.password,
                 "reconnect_min": 0.05, "reconnect_max": 0.5},
        "database": {"url": database_url},
        "http": {"listen": f"127.0.0.1:{free_port()}"},
        "api": {"tokens": [{"token": TOKEN, "name": "operator", "role": "operator"}], "command_timeout_s": 0.5},
        "ingest": {"client_id": "central-commands"},
    })


async def _add_site(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(sites).values(id="shop-a", name="Shop A", arming={}, last_seq=0))


@pytest.fixture
async def central(mosquitto: MosquittoBroker, database_url: str, engine: AsyncEngine) -> AsyncIterator[Central]:
    service = Central(_central_config(mosquitto.url, database_url), engine, log=LOG)
    task = asyncio.create_task(service.run(), name="central")
    try:
        async with asyncio.timeout(15):
            await service.ingest.wait_subscribed()
        yield service
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _post_command(central: Central, body: dict[str, Any]) -> httpx.Response:
    transport = httpx.ASGITransport(app=central.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://central",
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        return await client.post("/api/sites/shop-a/commands", json=body)


async def test_a_command_reaches_the_site_while_central_keeps_one_broker_connection(
    central: Central, mosquitto: MosquittoBroker, engine: AsyncEngine
) -> None:
    await _add_site(engine)
    async with MqttLink(_settings(mosquitto.url, SHOP_A, "shop-a"), log=LOG,
                        subscriptions=[(topics.cmd("shop-a"), 1)]) as site:
        async with asyncio.timeout(10):
            await site.wait_subscribed()
        response = await _post_command(central, {"name": "arm", "args": {"partition": 1}})
        assert response.status_code == 202, response.text
        async with asyncio.timeout(10):
            message = await anext(site.messages())
        assert message.topic == topics.cmd("shop-a")
        assert json.loads(message.payload)["cmd_id"] == response.json()["cmd_id"]
        response = await _post_command(central, {"name": "disarm", "args": {"partition": 1}})
        assert response.status_code == 202, response.text
    # One connection of central's user all along: a second one would have taken the first over (and been taken over).
    connects = [line for line in mosquitto.log_text().splitlines()
                if "New client connected" in line and f"u'{CENTRAL.username}'" in line]
    assert len(connects) == 1, connects


async def test_a_command_while_the_broker_is_out_of_reach_is_answered_504_in_time(engine: AsyncEngine) -> None:
    await _add_site(engine)
    nowhere = f"mqtt://127.0.0.1:{free_port()}"
    ingest = Ingest(engine, _settings(nowhere, CENTRAL, "x"), IngestSettings(client_id="central-down"), log=LOG)
    sender = MqttCommandSender(ingest, timeout_s=0.3)
    app = create_app(engine, settings=RulesSettings(), tokens={TOKEN: ("operator", "operator")},
                     command_sender=sender, clock=SystemClock(), logger=LOG)
    async with ingest, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://central",
                                         headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        async with asyncio.timeout(5):  # before, it waited as long as the broker stayed down
            response = await client.post("/api/sites/shop-a/commands", json={"name": "arm", "args": {"partition": 0}})
        assert response.status_code == 504, response.text
        detail = response.json()["detail"]
        assert "did not take it in time" in detail
        stored = (await client.get(f"/api/commands/{detail.split()[1]}")).json()
    assert stored["ok"] is False
    assert "did not take it in time" in stored["detail"]
