"""The MQTT link shared by edge and central, over a real Mosquitto: acknowledgements, failures, reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from shaobing import topics
from shaobing.broker import MAX_INFLIGHT_MESSAGES, MosquittoBroker
from shaobing.mqtt import NO_MATCHING_SUBSCRIBERS, IncomingMessage, MqttLink, MqttSettings, PublishFailed

from .conftest import LOG, collecting

MakeSettings = Callable[..., MqttSettings]
EVENTS = topics.event("shop-a", "position")


async def test_publish_returns_after_the_puback_and_tells_when_nobody_subscribed(
    mqtt_settings: MakeSettings,
) -> None:
    async with MqttLink(mqtt_settings("shop-a"), log=LOG) as link:
        await link.wait_connected(5)
        assert await link.start_publish(EVENTS, b"nobody listens") == NO_MATCHING_SUBSCRIBERS
        async with collecting(mqtt_settings("_central-1"), [(topics.ALL_EVENTS, 1)]) as central:
            assert await link.start_publish(EVENTS, b"heard") == 0
            await link.publish(EVENTS, b"heard too")
            await central.wait_for(lambda c: len(c.messages) == 2)
        assert link.in_flight == 0


async def test_many_concurrent_publishes_all_arrive_in_order(mqtt_settings: MakeSettings) -> None:
    async with collecting(mqtt_settings("_central-1"), [(topics.ALL_EVENTS, 1)]) as central, \
            MqttLink(mqtt_settings("shop-a", max_inflight=20), log=LOG) as link:
        await link.wait_connected(5)
        await asyncio.gather(*(link.publish(EVENTS, str(i).encode()) for i in range(2000)))
        await central.wait_for(lambda c: len(c.messages) == 2000)
    assert [int(m.payload) for m in central.messages] == list(range(2000))


async def test_a_window_above_the_brokers_receive_maximum_is_capped_and_the_link_keeps_working(
    mqtt_settings: MakeSettings,
) -> None:
    async with collecting(mqtt_settings("_central-1"), [(topics.ALL_EVENTS, 1)]) as central, \
            MqttLink(mqtt_settings("shop-a", max_inflight=MAX_INFLIGHT_MESSAGES * 4), log=LOG) as link:
        await link.wait_connected(5)
        assert link.send_quota == MAX_INFLIGHT_MESSAGES
        await asyncio.gather(*(link.publish(EVENTS, str(i).encode()) for i in range(500)))
        await central.wait_for(lambda c: len(c.messages) == 500)
    assert link.connects == 1


async def test_publishes_in_flight_fail_when_the_broker_dies_and_the_link_comes_back(
    broker: MosquittoBroker, mqtt_settings: MakeSettings
) -> None:
    connects = 0

    async def count_connect() -> None:
        nonlocal connects
        connects += 1

    async with MqttLink(mqtt_settings("shop-a"), log=LOG, on_connect=count_connect) as link:
        await link.wait_connected(5)
        futures = [link.start_publish(EVENTS, b"x" * 200) for _ in range(20_000)]
        broker.kill()
        outcomes = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 10)
        failed = [o for o in outcomes if isinstance(o, PublishFailed)]
        assert failed, "some publishes must have been cut off"
        assert all(isinstance(o, (int, PublishFailed)) for o in outcomes)
        assert not link.connected
        await broker.astart()
        await link.wait_connected(10)
        assert await link.start_publish(EVENTS, b"after") in (0, NO_MATCHING_SUBSCRIBERS)
        await asyncio.sleep(0.05)
    assert connects == 2


async def test_a_message_published_while_disconnected_goes_out_after_the_reconnect(
    broker: MosquittoBroker, mqtt_settings: MakeSettings
) -> None:
    async with MqttLink(mqtt_settings("shop-a"), log=LOG) as link:
        await link.wait_connected(5)
        await broker.astop()
        async with asyncio.timeout(5):
            while link.connected:
                await asyncio.sleep(0.01)
        waiting = link.start_publish(EVENTS, b"late")
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await broker.astart()
        assert await asyncio.wait_for(waiting, 10) in (0, NO_MATCHING_SUBSCRIBERS)


async def test_manual_ack_holds_a_message_until_acknowledged_and_stale_acks_are_ignored(
    broker: MosquittoBroker, mqtt_settings: MakeSettings
) -> None:
    settings = mqtt_settings("_central-1", client_id="central-ack", clean_start=False, session_expiry=600)
    received: list[IncomingMessage] = []
    async with MqttLink(settings, log=LOG, subscriptions=[(topics.ALL_EVENTS, 1)], manual_ack=True) as central, \
            MqttLink(mqtt_settings("shop-a"), log=LOG) as site:
        await central.wait_subscribed(5)
        await site.wait_connected(5)

        async def collect() -> None:
            async for message in central.messages():
                received.append(message)

        collector = asyncio.create_task(collect())
        await site.publish(EVENTS, b"one")
        await site.publish(EVENTS, b"two")
        async with asyncio.timeout(5):
            while len(received) < 2:
                await asyncio.sleep(0.01)
        central.ack(received[0])  # "two" stays unacknowledged
        await asyncio.sleep(0.1)
        await broker.arestart()
        await central.wait_connected(10)
        async with asyncio.timeout(10):
            while len(received) < 3:
                await asyncio.sleep(0.01)
        central.ack(received[1])  # from the old connection: ignored, not a crash
        central.ack(received[2])
        await asyncio.sleep(0.3)
        collector.cancel()
    assert [m.payload for m in received] == [b"one", b"two", b"two"]


async def test_messages_end_when_the_link_closes(mqtt_settings: MakeSettings) -> None:
    link = MqttLink(mqtt_settings("shop-a"), log=LOG)
    await link.start()
    await link.wait_connected(5)

    async def drain() -> int:
        return len([m async for m in link.messages()])

    reader = asyncio.create_task(drain())
    await link.close()
    assert await asyncio.wait_for(reader, 5) == 0
    with pytest.raises(PublishFailed):
        link.start_publish(EVENTS, b"closed")


async def test_wait_subscribed_returns_once_the_subscriptions_of_the_new_connection_are_granted(
    broker: MosquittoBroker, mqtt_settings: MakeSettings
) -> None:
    received: list[IncomingMessage] = []
    # A clean session each time: nothing is kept across the restart, so only the new SUBACK makes delivery possible.
    async with MqttLink(mqtt_settings("_central-1"), log=LOG, subscriptions=[(EVENTS, 1)]) as central, \
            MqttLink(mqtt_settings("shop-a"), log=LOG) as site:

        async def collect() -> None:
            async for message in central.messages():
                received.append(message)

        collector = asyncio.create_task(collect())
        await central.wait_subscribed(5)
        assert central.subscribed
        assert central.refused_subscriptions == []
        await broker.arestart()
        async with asyncio.timeout(10):
            while central.connects < 2:
                await asyncio.sleep(0.001)
        await central.wait_subscribed(10)  # the new connection's SUBACK, not the old one's
        await site.wait_connected(10)
        assert await site.start_publish(EVENTS, b"after the restart") == 0  # 0: a subscription matched
        async with asyncio.timeout(5):
            while not received:
                await asyncio.sleep(0.01)
        collector.cancel()
    assert [m.payload for m in received] == [b"after the restart"]
