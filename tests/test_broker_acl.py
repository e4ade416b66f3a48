"""The broker's access rules over a real Mosquitto: a site speaks and hears only for itself; central hears them all;
no one takes over another user's session; nothing queued for central is dropped for lack of room."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from shaobing import topics
from shaobing.broker import BrokerUser, MosquittoBroker, acl_text
from shaobing.mqtt import IncomingMessage, MqttLink, MqttSettings, PublishRefused

LOG = logging.getLogger("test.broker")

MakeSettings = Callable[..., MqttSettings]


@asynccontextmanager
async def listening(settings: MqttSettings, subscriptions: list[tuple[str, int]]
                    ) -> AsyncIterator[tuple[MqttLink, list[IncomingMessage]]]:
    """A connected link whose messages are collected into a list."""
    received: list[IncomingMessage] = []
    async with MqttLink(settings, log=LOG, subscriptions=subscriptions) as link:
        await link.wait_connected(5)

        async def collect() -> None:
            async for message in link.messages():
                received.append(message)

        task = asyncio.create_task(collect())
        await link.wait_subscribed(5)
        try:
            yield link, received
        finally:
            task.cancel()


async def wait_for(predicate: Callable[[], bool], within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_central_receives_events_through_the_shared_subscription(mqtt_settings: MakeSettings) -> None:
    async with listening(mqtt_settings("_central-1"), [(topics.SHARED_EVENTS, 1)]) as (_, received), \
            MqttLink(mqtt_settings("shop-a"), log=LOG) as site:
        await site.wait_connected(5)
        await site.publish(topics.event("shop-a", "alarm"), b"a1")
        await site.publish(topics.event("shop-a", "position"), b"p1")
        await wait_for(lambda: len(received) == 2)
    assert [(m.topic, m.payload) for m in received] == [
        (topics.event("shop-a", "alarm"), b"a1"),
        (topics.event("shop-a", "position"), b"p1"),
    ]


async def test_central_receives_states_and_command_results(mqtt_settings: MakeSettings) -> None:
    subscriptions = [(topics.ALL_STATES, 1), (topics.ALL_CMD_RESULTS, 1)]
    async with listening(mqtt_settings("_central-1"), subscriptions) as (_, received), \
            MqttLink(mqtt_settings("shop-b"), log=LOG) as site:
        await site.wait_connected(5)
        await site.publish(topics.state("shop-b"), b'{"online":true}', retain=True)
        await site.publish(topics.cmd_result("shop-b"), b'{"cmd_id":"c1"}')
        await wait_for(lambda: len(received) == 2)
    assert {m.topic for m in received} == {topics.state("shop-b"), topics.cmd_result("shop-b")}


@pytest.mark.parametrize("topic", [
    topics.event("shop-b", "alarm"),
    topics.state("shop-b"),
    topics.cmd_result("shop-b"),
    topics.cmd("shop-b"),
    topics.cmd("shop-a"),
    "shaobing/v1/_central-1/event/alarm",
])
async def test_a_site_cannot_publish_outside_its_own_topics(mqtt_settings: MakeSettings, topic: str) -> None:
    everything = [(topics.SHARED_EVENTS, 1), (topics.ALL_STATES, 1), (topics.ALL_CMD_RESULTS, 1)]
    marker = topics.event("shop-a", "test")
    async with listening(mqtt_settings("_central-1"), everything) as (_, central_got), \
            listening(mqtt_settings("shop-b"), [(topics.cmd("shop-b"), 1)]) as (_, shop_b_got), \
            MqttLink(mqtt_settings("shop-a"), log=LOG) as forger:
        await forger.wait_connected(5)
        with pytest.raises(PublishRefused):
            await forger.publish(topic, b"forged")
        # Messages from one publisher arrive in order: once the marker is in, the forged one would have been too.
        await forger.publish(marker, b"marker")
        await wait_for(lambda: any(m.topic == marker for m in central_got))
        await asyncio.sleep(0.1)
    assert all(m.payload != b"forged" for m in central_got + shop_b_got)


async def test_a_site_never_reads_another_sites_commands(mqtt_settings: MakeSettings) -> None:
    snooping = [(topics.cmd("shop-a"), 1), ("#", 1), ("shaobing/v1/+/cmd", 1), (topics.cmd("shop-b"), 1)]
    async with listening(mqtt_settings("shop-b"), snooping) as (_, snooper_got), \
            listening(mqtt_settings("shop-a"), [(topics.cmd("shop-a"), 1)]) as (_, owner_got), \
            MqttLink(mqtt_settings("_central-1"), log=LOG) as central:
        await central.wait_connected(5)
        await central.publish(topics.cmd("shop-a"), b"for shop-a")
        await central.publish(topics.cmd("shop-b"), b"for shop-b")
        await wait_for(lambda: len(owner_got) == 1 and any(m.payload == b"for shop-b" for m in snooper_got))
        await asyncio.sleep(0.1)
    assert [m.payload for m in owner_got] == [b"for shop-a"]
    assert b"for shop-a" not in {m.payload for m in snooper_got}


async def test_a_wrong_password_is_refused_and_said_clearly(
    mqtt_settings: MakeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger=LOG.name)
    async with MqttLink(mqtt_settings("shop-a", password="not-the-password"), log=LOG) as link:
        with pytest.raises(TimeoutError):
            await link.wait_connected(1.0)
    refusals = [r.getMessage() for r in caplog.records if "refused the connection" in r.getMessage()]
    assert len(refusals) == 1  # logged once, however often it is retried
    assert "'shop-a'" in refusals[0]
    assert "password" in refusals[0]


async def test_a_user_added_to_a_running_broker_can_connect(broker: MosquittoBroker,
                                                              mqtt_settings: MakeSettings) -> None:
    broker.add_user(BrokerUser("shop-c", "shop-c-secret", "site"))
    async with MqttLink(mqtt_settings("shop-c"), log=LOG) as link:
        await link.wait_connected(5)
        await link.publish(topics.event("shop-c", "test"), b"hello")
        with pytest.raises(PublishRefused):
            await link.publish(topics.event("shop-a", "test"), b"forged")


async def test_a_restart_keeps_the_port_and_the_retained_state(broker: MosquittoBroker,
                                                                mqtt_settings: MakeSettings) -> None:
    async with MqttLink(mqtt_settings("shop-a"), log=LOG) as site:
        await site.wait_connected(5)
        await site.publish(topics.state("shop-a"), b'{"online":true}', retain=True)
    port = broker.port
    await broker.arestart()
    assert broker.port == port
    async with listening(mqtt_settings("_central-1"), [(topics.ALL_STATES, 1)]) as (_, received):
        await wait_for(lambda: len(received) == 1)
    assert received[0].payload == b'{"online":true}'
    assert received[0].retain


def test_user_names_are_checked_against_their_role() -> None:
    with pytest.raises(ValueError, match="site id"):
        BrokerUser("Shop A", "x", "site")
    with pytest.raises(ValueError, match="_central"):
        BrokerUser("central", "x", "central")


def test_acl_gives_central_users_their_own_block() -> None:
    text = acl_text([BrokerUser("shop-a", "x", "site"), BrokerUser("_central-1", "y", "central")])
    assert "pattern write shaobing/v1/%u/event/#" in text
    assert "pattern read shaobing/v1/%u/cmd" in text
    assert "user _central-1\ntopic read shaobing/v1/+/event/#" in text
    assert "user shop-a" not in text


def central_session(mqtt_settings: MakeSettings, client_id: str = "central-1") -> MqttSettings:
    return mqtt_settings("_central-1", client_id=client_id, clean_start=False, session_expiry=600)


@pytest.mark.parametrize("claimed", ["central-1", "_central-1"])
async def test_a_site_claiming_centrals_client_id_does_not_touch_centrals_session(
    mqtt_settings: MakeSettings, claimed: str
) -> None:
    async with listening(central_session(mqtt_settings), [(topics.SHARED_EVENTS, 1)]):
        pass  # central's persistent session and its subscription now exist; central goes away
    async with MqttLink(mqtt_settings("shop-a"), log=LOG) as site:
        await site.wait_connected(5)
        for i in range(3):  # 0, not "no matching subscribers": queued for central's session
            assert await site.start_publish(topics.event("shop-a", "alarm"), f"queued-{i}".encode()) == 0
    # A site's login with central's client id and a clean start would take over and wipe that session.
    async with MqttLink(mqtt_settings("shop-b", client_id=claimed, clean_start=True), log=LOG) as impostor:
        await impostor.wait_connected(5)
    async with listening(central_session(mqtt_settings), [(topics.SHARED_EVENTS, 1)]) as (_, received):
        await wait_for(lambda: len(received) == 3)
    assert [m.payload for m in received] == [b"queued-0", b"queued-1", b"queued-2"]


async def test_a_site_claiming_centrals_client_id_cannot_kick_it_offline(mqtt_settings: MakeSettings) -> None:
    async with listening(central_session(mqtt_settings), [(topics.SHARED_EVENTS, 1)]) as (central, received):
        async with MqttLink(mqtt_settings("shop-b", client_id="central-1"), log=LOG) as impostor, \
                MqttLink(mqtt_settings("shop-a"), log=LOG) as site:
            await impostor.wait_connected(5)
            await site.wait_connected(5)
            await site.publish(topics.event("shop-a", "test"), b"still heard")
            await wait_for(lambda: len(received) == 1)
            assert impostor.connected
        assert central.connected
        assert central.connects == 1
    assert received[0].payload == b"still heard"


def test_the_broker_never_limits_centrals_queue_and_names_clients_by_user(broker: MosquittoBroker) -> None:
    settings = dict(line.split(" ", 1) for line in broker.conf_path.read_text().splitlines() if line)
    assert settings["use_username_as_clientid"] == "true"
    # Mosquitto drops past a limit, after the PUBACK: a limit far beyond what memory holds (0 trips a broker bug)
    assert int(settings["max_queued_messages"]) >= 100_000_000
    assert settings["max_queued_bytes"] == "0"
    assert "memory_limit" not in settings  # at that limit central could not even reconnect to drain its queue
    assert settings["persistence"] == "true"
    assert int(settings["autosave_interval"]) <= 5


async def test_every_reading_acknowledged_while_central_is_away_reaches_it(mqtt_settings: MakeSettings) -> None:
    async with listening(central_session(mqtt_settings), [(topics.SHARED_EVENTS, 1)]):
        pass
    count = 3000
    async with MqttLink(mqtt_settings("shop-a"), log=LOG) as site:
        await site.wait_connected(5)
        codes = await asyncio.gather(*(site.start_publish(topics.event("shop-a", "position"), str(i).encode())
                                       for i in range(count)))
    assert set(codes) == {0}
    async with listening(central_session(mqtt_settings), [(topics.SHARED_EVENTS, 1)]) as (_, received):
        await wait_for(lambda: len(received) >= count, within=20)
    assert [int(m.payload) for m in received] == list(range(count))
