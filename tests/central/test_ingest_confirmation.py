"""Central's `stored` confirmation: after each committed batch, every site in it hears which of its seqs are stored
(new ones and duplicates alike), over a real Mosquitto, on both databases; a refused reading is never confirmed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from central.ingest import Ingest
from central.ingest_settings import IngestSettings
from shaobing import stored, topics
from shaobing.broker import BrokerUser, MosquittoBroker
from shaobing.mqtt import MqttLink, MqttSettings

from .readings_factory import envelope

LOG = logging.getLogger("test.ingest.confirmation")
CENTRAL = BrokerUser("_central-1", "central-secret", "central")
SHOP_A = BrokerUser("shop-a", "shop-a-secret", "site")
SETTINGS = IngestSettings(client_id="central-test", batch_size=20, batch_wait_ms=2, retry_min_s=0.05, retry_max_s=0.2)


@pytest.fixture
async def mosquitto(tmp_path: Path) -> AsyncIterator[MosquittoBroker]:
    async with MosquittoBroker(tmp_path / "broker", [CENTRAL, SHOP_A]) as broker:
        yield broker


def _mqtt(broker: MosquittoBroker, user: BrokerUser) -> MqttSettings:
    return MqttSettings(url=broker.url, username=user.username, password=user.password, client_id=user.username,
                        reconnect_min=0.05, reconnect_max=0.5)


@asynccontextmanager
async def _site(broker: MosquittoBroker) -> AsyncIterator[tuple[MqttLink, list[tuple[int, int]]]]:
    """The site's link, collecting every range central confirms to it."""
    confirmed: list[tuple[int, int]] = []
    async with MqttLink(_mqtt(broker, SHOP_A), log=LOG, subscriptions=[(topics.stored("shop-a"), 1)]) as link:

        async def collect() -> None:
            async for message in link.messages():
                assert message.topic == topics.stored("shop-a")
                confirmed.extend(stored.decode(message.payload))

        task = asyncio.create_task(collect())
        await link.wait_subscribed(10)
        try:
            yield link, confirmed
        finally:
            task.cancel()


def _seqs(ranges: list[tuple[int, int]]) -> list[int]:
    return sorted(seq for first, last in ranges for seq in range(first, last + 1))


async def _until(condition: Callable[[], bool], within: float = 30) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.02)


async def _send(link: MqttLink, seqs: range | list[int], **data: object) -> None:
    envelopes = [envelope("shop-a", seq, data=dict(data) if data else None) for seq in seqs]
    await asyncio.gather(*(link.start_publish(topics.event("shop-a", e.kind), e.to_json()) for e in envelopes))


async def test_stored_and_duplicate_readings_are_confirmed_to_their_site(
    engine: AsyncEngine, mosquitto: MosquittoBroker
) -> None:
    ingest = Ingest(engine, _mqtt(mosquitto, CENTRAL), SETTINGS, log=LOG)
    async with ingest, _site(mosquitto) as (site, confirmed):
        async with asyncio.timeout(10):
            await ingest.wait_subscribed()
        await _send(site, range(1, 51))
        await _until(lambda: _seqs(confirmed) == list(range(1, 51)))
        assert ingest.counters.stored == 50

        confirmed.clear()
        await _send(site, range(1, 11))  # sent again: already stored, confirmed again
        await _until(lambda: _seqs(confirmed) == list(range(1, 11)))
        assert ingest.counters.duplicates == 10
        assert ingest.counters.stored == 50
        await _until(lambda: ingest.counters.confirmations >= 4)  # 50 in batches of at most 20, then the resend
        assert ingest.counters.confirmations_failed == 0


async def test_a_refused_reading_is_not_confirmed(engine: AsyncEngine, mosquitto: MosquittoBroker) -> None:
    ingest = Ingest(engine, _mqtt(mosquitto, CENTRAL), SETTINGS, log=LOG)
    async with ingest, _site(mosquitto) as (site, confirmed):
        async with asyncio.timeout(10):
            await ingest.wait_subscribed()
        await _send(site, [7])
        await _until(lambda: _seqs(confirmed) == [7])
        confirmed.clear()
        await _send(site, [7], lat=1.0, lon=2.0)  # seq 7 holds another reading: refused
        await site.publish(topics.event("shop-a", "position"), b"not json")  # no seq to confirm
        await _send(site, [8])
        await _until(lambda: 8 in _seqs(confirmed) and ingest.counters.rejected == 2)
        await asyncio.sleep(0.2)
        assert _seqs(confirmed) == [8]
