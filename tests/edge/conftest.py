"""Edge fixtures: a site configuration pointing at the test broker, and a collector of what reaches the broker."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from edge.config import EdgeConfig
from shaobing.broker import MosquittoBroker
from shaobing.mqtt import IncomingMessage, MqttLink, MqttSettings

LOG = logging.getLogger("test.edge")

MakeConfig = Callable[..., EdgeConfig]


@pytest.fixture
def edge_config(broker: MosquittoBroker, tmp_path: Path) -> MakeConfig:
    """`edge_config(site="shop-a", mqtt={...}, outbox={...}, commands={...})`: a site wired to the test broker.

    No central runs here, so rows leave the outbox on the broker's PUBACK (`confirm = "broker"`) unless `mqtt` says
    otherwise."""

    def make(site: str = "shop-a", *, mqtt: dict[str, Any] | None = None, outbox: dict[str, Any] | None = None,
             commands: dict[str, Any] | None = None, drivers: list[dict[str, Any]] | None = None,
             target: MosquittoBroker = broker) -> EdgeConfig:
        raw: dict[str, Any] = {
            "site": {"id": site, "name": f"test {site}"},
            "mqtt": {"url": target.url, "password": target.user(site).password, "reconnect_min": 0.05,
                     "reconnect_max": 0.5, "confirm": "broker", **(mqtt or {})},
            "outbox": {"path": str(tmp_path / f"{site}.outbox.db"), **(outbox or {})},
            "commands": commands or {},
            "drivers": drivers or [],
        }
        return EdgeConfig.model_validate(raw)

    return make


@dataclass
class Collector:
    """Every message a subscriber received, in order."""

    messages: list[IncomingMessage] = field(default_factory=list)

    def payloads(self, topic_part: str = "") -> list[dict[str, Any]]:
        return [json.loads(m.payload) for m in self.messages if topic_part in m.topic]

    async def wait_for(self, predicate: Callable[[Collector], bool], within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while not predicate(self):
                await asyncio.sleep(0.01)


@asynccontextmanager
async def collecting(settings: MqttSettings, subscriptions: list[tuple[str, int]]) -> AsyncIterator[Collector]:
    collector = Collector()
    async with MqttLink(settings, log=LOG, subscriptions=subscriptions) as link:
        await link.wait_connected(5)

        async def collect() -> None:
            async for message in link.messages():
                collector.messages.append(message)

        task = asyncio.create_task(collect())
        await link.wait_subscribed(5)
        try:
            yield collector
        finally:
            task.cancel()
