"""Central's `stored` confirmation over a real Mosquitto and a real outbox: a reading leaves the outbox only once
central has confirmed it; what the broker loses after its PUBACK, or what is never confirmed, is sent again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from edge.agent import EdgeAgent
from edge.uplink import CONFIRM_GRACE
from shaobing import stored, topics
from shaobing.broker import MosquittoBroker
from shaobing.envelope import Kind, Reading
from shaobing.mqtt import MqttLink, MqttSettings, PublishFailed

from .conftest import MakeConfig

LOG = logging.getLogger("test.edge.confirmation")
MakeSettings = Callable[..., MqttSettings]
SITE = "shop-a"


def position(i: int) -> Reading:
    return Reading("bike-1", Kind.POSITION, {"lat": 30.27, "lon": 120.15, "n": i})


def confirming(edge_config: MakeConfig, **mqtt: Any) -> Any:
    return edge_config(mqtt={"confirm": "central", **mqtt})


class Confirmer:
    """Plays central's confirmer: takes every site's events and, unless paused, confirms each one it received."""

    def __init__(self, link: MqttLink, *, paused: bool) -> None:
        self.link = link
        self.paused = paused
        self.received: list[int] = []

    async def take(self) -> None:
        async for message in self.link.messages():
            envelope = json.loads(message.payload)
            self.received.append(envelope["seq"])
            if not self.paused:
                await self.confirm([envelope["seq"]])

    async def confirm(self, seqs: list[int]) -> None:
        try:
            await self.link.publish(topics.stored(SITE), stored.encode(seqs))
        except PublishFailed as exc:  # the broker went away: the edge sends the reading again
            LOG.info("confirmation of %s not delivered: %s", seqs, exc)


@asynccontextmanager
async def confirmer(mqtt_settings: MakeSettings, *, paused: bool = False) -> AsyncIterator[Confirmer]:
    # A persistent session, as central's: the broker keeps the site's events for it while it is away.
    settings = mqtt_settings("_central-1", clean_start=False, session_expiry=600)
    async with MqttLink(settings, log=LOG, subscriptions=[(topics.ALL_EVENTS, 1)]) as link:
        player = Confirmer(link, paused=paused)
        task = asyncio.create_task(player.take())
        await link.wait_subscribed(5)
        try:
            yield player
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_rows_leave_the_outbox_only_on_centrals_confirmation(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with confirmer(mqtt_settings, paused=True) as central, \
            EdgeAgent(confirming(edge_config), drivers=[]) as agent:
        await agent.link.wait_subscribed(5)
        for i in range(20):
            await agent.sink.submit(position(i))
        await until(lambda: sorted(central.received) == list(range(1, 21)))
        await until(lambda: agent.status()["uplink"]["awaiting"] == 20)
        await asyncio.sleep(0.2)  # a PUBACK alone deletes nothing
        assert agent.outbox.total == 20

        await central.link.publish(topics.stored(SITE), b'{"seqs": "all"}')  # malformed: refused, nothing deleted
        await central.confirm(list(range(1, 11)))
        await until(lambda: agent.outbox.total == 10)
        assert agent.status()["uplink"]["awaiting"] == 10
        assert [seq for (seq,) in await agent.outbox.query("SELECT seq FROM outbox ORDER BY seq")] == \
            list(range(11, 21))

        await central.confirm(list(range(11, 21)))
        await until(lambda: agent.outbox.total == 0)
        assert agent.status()["uplink"]["awaiting"] == 0
        assert agent.status()["uplink"]["resent"] == 0
        assert agent.status()["connected"]


async def test_readings_the_broker_lost_after_its_puback_are_sent_again_after_the_confirm_timeout(
    broker: MosquittoBroker, mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with confirmer(mqtt_settings):
        pass  # central's session exists, and is offline: the broker queues the site's events for it
    async with EdgeAgent(confirming(edge_config, confirm_timeout=1.5), drivers=[]) as agent:
        await agent.link.wait_connected(5)
        await broker.arestart()  # saves central's session; the next autosave is seconds away
        await agent.link.wait_connected(10)
        for i in range(30):
            await agent.sink.submit(position(i))
        await until(lambda: agent.status()["uplink"]["awaiting"] == 30)
        broker.kill()  # PUBACKed, queued for central, never saved
        await broker.astart()

        async with confirmer(mqtt_settings) as central:
            await until(lambda: agent.outbox.total == 0, within=30)
            assert sorted(set(central.received)) == list(range(1, 31))
        assert agent.status()["uplink"]["resent"] >= 30


async def test_a_reading_confirmed_after_an_earlier_unconfirmed_one_sends_the_earlier_again_at_once(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with confirmer(mqtt_settings, paused=True) as central, \
            EdgeAgent(confirming(edge_config, confirm_timeout=600), drivers=[]) as agent:
        await agent.link.wait_subscribed(5)
        first = await agent.sink.submit(position(1))
        await until(lambda: agent.status()["uplink"]["awaiting"] == 1)
        await asyncio.sleep(CONFIRM_GRACE + 0.3)
        second = await agent.sink.submit(position(2))
        await until(lambda: agent.status()["uplink"]["awaiting"] == 2)
        assert central.received == [first, second]

        await central.confirm([second])  # the first never reached central, as far as the edge can tell
        await until(lambda: central.received == [first, second, first], within=5)
        assert agent.status()["uplink"]["resent"] == 1
        await central.confirm([first])
        await until(lambda: agent.outbox.total == 0)


async def test_a_reading_confirmed_soon_after_an_earlier_one_is_no_sign_of_loss(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with confirmer(mqtt_settings, paused=True) as central, \
            EdgeAgent(confirming(edge_config, confirm_timeout=600), drivers=[]) as agent:
        await agent.link.wait_subscribed(5)
        for i in range(2):
            await agent.sink.submit(position(i))
        await until(lambda: agent.status()["uplink"]["awaiting"] == 2)
        await central.confirm([2])  # within the grace: central's batches may confirm out of order
        await until(lambda: agent.outbox.total == 1)
        await asyncio.sleep(0.3)
        assert central.received == [1, 2]
        assert agent.status()["uplink"]["resent"] == 0


async def test_a_restarted_agent_sends_every_unconfirmed_row_again(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    config = confirming(edge_config, confirm_timeout=600)
    async with confirmer(mqtt_settings, paused=True) as central:
        async with EdgeAgent(config, drivers=[]) as agent:
            await agent.link.wait_subscribed(5)
            for i in range(10):
                await agent.sink.submit(position(i))
            await until(lambda: agent.status()["uplink"]["awaiting"] == 10)
            await central.confirm([1, 2, 3])
            await until(lambda: agent.outbox.total == 7)
        assert sorted(central.received) == list(range(1, 11))

        central.paused = False
        async with EdgeAgent(config, drivers=[]) as again:
            assert again.outbox.total == 7
            await until(lambda: again.outbox.total == 0)
        assert sorted(central.received) == sorted([*range(1, 11), *range(4, 11)])


async def test_with_broker_confirmation_a_puback_deletes_the_row(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with confirmer(mqtt_settings, paused=True) as central, \
            EdgeAgent(edge_config(mqtt={"confirm": "broker"}), drivers=[]) as agent:
        await agent.link.wait_connected(5)
        for i in range(5):
            await agent.sink.submit(position(i))
        await until(lambda: agent.outbox.total == 0)
        assert sorted(central.received) == list(range(1, 6))
        assert agent.status()["uplink"]["awaiting"] == 0
