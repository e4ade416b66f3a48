"""The `stored` confirmation under the broker's ACL: central writes it to any site, a site hears only its own and
cannot forge one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from shaobing import topics
from shaobing.mqtt import IncomingMessage, MqttLink, MqttSettings, PublishRefused

LOG = logging.getLogger("test.broker.stored")
MakeSettings = Callable[..., MqttSettings]


async def _collect(link: MqttLink, into: list[IncomingMessage]) -> None:
    async for message in link.messages():
        into.append(message)


async def test_a_site_hears_only_its_own_confirmations(mqtt_settings: MakeSettings) -> None:
    owner_got: list[IncomingMessage] = []
    snooper_got: list[IncomingMessage] = []
    async with MqttLink(mqtt_settings("shop-a"), log=LOG, subscriptions=[(topics.stored("shop-a"), 1)]) as owner, \
            MqttLink(mqtt_settings("shop-b"), log=LOG,
                     subscriptions=[(topics.stored("shop-a"), 1), ("shaobing/v1/+/stored", 1),
                                    (topics.stored("shop-b"), 1)]) as snooper, \
            MqttLink(mqtt_settings("_central-1"), log=LOG) as central:
        tasks = [asyncio.create_task(_collect(owner, owner_got)), asyncio.create_task(_collect(snooper, snooper_got))]
        await owner.wait_subscribed(5)
        await snooper.wait_connected(5)
        await central.wait_connected(5)
        await central.publish(topics.stored("shop-a"), b'{"seqs":[[1,1]]}')
        await central.publish(topics.stored("shop-b"), b'{"seqs":[[2,2]]}')
        async with asyncio.timeout(5):
            while not (owner_got and any(m.payload == b'{"seqs":[[2,2]]}' for m in snooper_got)):
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
    assert [m.payload for m in owner_got] == [b'{"seqs":[[1,1]]}']
    assert b'{"seqs":[[1,1]]}' not in {m.payload for m in snooper_got}


@pytest.mark.parametrize("topic", [topics.stored("shop-b"), topics.stored("shop-a")])
async def test_a_site_cannot_publish_a_confirmation(mqtt_settings: MakeSettings, topic: str) -> None:
    async with MqttLink(mqtt_settings("shop-a"), log=LOG) as forger:
        await forger.wait_connected(5)
        with pytest.raises(PublishRefused):
            await forger.publish(topic, b'{"seqs":[[1,1000]]}')
