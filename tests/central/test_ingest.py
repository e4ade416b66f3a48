"""The ingest end to end: a site publishing through a real Mosquitto, central storing into both databases."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central.ingest import Ingest
from central.ingest_settings import IngestSettings
from central.model import StoredReading
from central.rules import AlarmRules
from central.rules_settings import RoleRecipients, RulesSettings
from central.store import gaps, sites, tickets
from central.store.db import create_engine, open_database
from central.store.rejected import recent_rejections
from central.store.schema import dispatches as dispatches_table
from central.store.schema import readings
from central.store.schema import tickets as tickets_table
from shaobing import topics
from shaobing.broker import BrokerUser, MosquittoBroker
from shaobing.envelope import Kind
from shaobing.mqtt import MqttLink, MqttSettings
from shaobing.net import free_port

from .readings_factory import envelope

LOG = logging.getLogger("test.ingest")
CENTRAL = BrokerUser("_central-1", "central-secret", "central")
SHOP_A = BrokerUser("shop-a", "shop-a-secret", "site")
SETTINGS = IngestSettings(client_id="central-test", batch_size=100, batch_wait_ms=2, retry_min_s=0.05, retry_max_s=0.2)


@pytest.fixture
async def mosquitto(tmp_path: Path) -> AsyncIterator[MosquittoBroker]:
    async with MosquittoBroker(tmp_path / "broker", [CENTRAL, SHOP_A]) as broker:
        yield broker


def _mqtt(broker: MosquittoBroker, user: BrokerUser, client_id: str) -> MqttSettings:
    return MqttSettings(
        url=broker.url,
        username=user.username,
        password=user.password,
        client_id=client_id,
        reconnect_min=0.05,
        reconnect_max=0.5,
    )


def _ingest(engine: AsyncEngine, broker: MosquittoBroker, **hooks: object) -> Ingest:
    return Ingest(engine, _mqtt(broker, CENTRAL, "ignored"), SETTINGS, log=LOG, **hooks)  # type: ignore[arg-type]


async def _publish(broker: MosquittoBroker, messages: Iterable[tuple[str, bytes]], retain: bool = False) -> None:
    async with MqttLink(_mqtt(broker, SHOP_A, "shop-a-edge"), log=LOG) as link:
        async with asyncio.timeout(10):
            await link.wait_connected()
        pending = [link.start_publish(topic, payload, retain=retain) for topic, payload in messages]
        async with asyncio.timeout(30):
            await asyncio.gather(*pending)


def _events(seqs: Iterable[int]) -> list[tuple[str, bytes]]:
    return [(topics.event("shop-a", env.kind), env.to_json()) for env in (envelope("shop-a", s) for s in seqs)]


async def _until(condition: Callable[[], bool], within: float = 30) -> None:
    async with asyncio.timeout(within):
        while not condition():  # counters of another task, sampled as an operator would
            await asyncio.sleep(0.02)


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(readings))).scalar_one())


async def _started(ingest: Ingest) -> None:
    async with asyncio.timeout(10):
        await ingest.wait_subscribed()


async def test_two_thousand_readings_and_their_resends_are_stored_once(
    engine: AsyncEngine, mosquitto: MosquittoBroker
) -> None:
    woken: list[int] = []

    async def after_commit(stored: list[StoredReading]) -> None:
        woken.append(len(stored))

    async with _ingest(engine, mosquitto, after_commit=after_commit) as ingest:
        await _started(ingest)
        await _publish(mosquitto, _events(range(1, 2001)))
        await _publish(mosquitto, _events(range(1, 201)))  # the edge re-sends after a lost PUBACK
        await _until(lambda: ingest.counters.received == 2200)
        await _until(lambda: ingest.counters.stored + ingest.counters.duplicates == 2200)
    assert ingest.counters.stored == 2000
    assert ingest.counters.duplicates == 200
    assert ingest.counters.rejected == 0
    assert ingest.counters.batches >= 22  # batches of at most 100
    assert sum(woken) == 2000
    assert await _count(engine) == 2000
    async with engine.connect() as connection:
        assert await gaps.open_gaps(connection) == []


async def test_nothing_is_lost_while_central_is_down(engine: AsyncEngine, mosquitto: MosquittoBroker) -> None:
    async with _ingest(engine, mosquitto) as first:
        await _started(first)
        await _publish(mosquitto, _events(range(1, 301)))
        await _until(lambda: first.counters.stored == 300)
    # Central is down; the edge keeps publishing; the broker keeps them for central's persistent session.
    await _publish(mosquitto, _events(range(301, 801)))
    async with _ingest(engine, mosquitto) as second:
        await _until(lambda: second.counters.stored == 500)
    assert await _count(engine) == 800
    async with engine.connect() as connection:
        assert await gaps.open_gaps(connection) == []


async def test_an_alarm_waiting_behind_positions_is_taken_into_the_next_batch(
    engine: AsyncEngine, mosquitto: MosquittoBroker
) -> None:
    async with _ingest(engine, mosquitto) as first:
        await _started(first)
    # While central is away, 600 positions queue up at the broker for its session, then one alarm (seq 601).
    alarm = envelope("shop-a", 601, Kind.ALARM, {"class": "burglary", "zone": 3, "qualifier": "new"})
    await _publish(mosquitto, [*_events(range(1, 601)), (topics.event("shop-a", Kind.ALARM), alarm.to_json())])
    batches: list[list[int]] = []

    async def slow_first_batch(connection: AsyncConnection, stored: list[StoredReading]) -> None:
        batches.append([reading.envelope.seq for reading in stored])
        if len(batches) == 1:
            await asyncio.sleep(0.5)  # meanwhile the rest of the backlog (inside the broker's window) arrives

    # A receive window that holds the whole backlog, so all of it can wait at central while the first batch commits.
    wide = _mqtt(mosquitto, CENTRAL, "ignored").model_copy(update={"max_inflight": 1000})
    async with Ingest(engine, wide, SETTINGS, log=LOG, on_stored=slow_first_batch) as second:
        await _until(lambda: second.counters.stored == 601)
    # In arrival order the alarm would come last, in the sixth batch or later; it leads the second.
    assert 601 not in batches[0]
    assert batches[1][0] == 601
    assert sorted(seq for batch in batches for seq in batch) == list(range(1, 602))


async def test_a_failing_hook_leaves_the_batch_unacknowledged_and_unstored(
    engine: AsyncEngine, mosquitto: MosquittoBroker
) -> None:
    async def broken(connection: AsyncConnection, stored: list[StoredReading]) -> None:
        raise RuntimeError("rules unavailable")

    async with _ingest(engine, mosquitto, on_stored=broken) as failing:
        await _started(failing)
        await _publish(mosquitto, _events(range(1, 21)))
        await _until(lambda: failing.counters.failed_attempts >= 2)
    assert failing.counters.stored == 0
    assert await _count(engine) == 0  # rolled back with the hook

    calls: list[int] = []

    async def flaky(connection: AsyncConnection, stored: list[StoredReading]) -> None:
        calls.append(len(stored))
        if len(calls) <= 2:
            raise RuntimeError("not yet")

    # Not acknowledged, so the broker delivers all 20 again to the same session; the retries store each once.
    async with _ingest(engine, mosquitto, on_stored=flaky) as working:
        await _until(lambda: working.counters.stored == 20)
    assert working.counters.failed_attempts >= 2
    assert await _count(engine) == 20


async def test_bad_messages_are_rejected_and_the_ingest_carries_on(
    engine: AsyncEngine, mosquitto: MosquittoBroker
) -> None:
    topic = topics.event("shop-a", "position")
    other_site = envelope("shop-b", 1).to_json()  # well-formed, but not shop-a's to send
    bad = [(topic, b"not json"), (topic, b"[]"), (topic, other_site), (topic, b"\x00" * 1000), (topic, b"x" * 100_000)]
    async with _ingest(engine, mosquitto) as ingest:
        await _started(ingest)
        await _publish(mosquitto, [*_events([1]), *bad, *_events([2])])
        await _until(lambda: ingest.counters.stored == 2 and ingest.counters.rejected == len(bad))
    assert await _count(engine) == 2


async def test_the_retained_state_opens_and_closes_a_comm_fail_ticket(
    engine: AsyncEngine, mosquitto: MosquittoBroker
) -> None:
    state = topics.state("shop-a")
    # Published before central ever connected: the broker hands the retained state over at subscription.
    await _publish(
        mosquitto, [(state, b'{"online": false, "since": "2026-11-24T05:00:00.000Z", "version": "1"}')], retain=True
    )

    async def comm_fail() -> list[tickets.Ticket]:
        async with engine.connect() as connection:
            return [t for t in await tickets.list_tickets(connection, site="shop-a") if t.source == "state"]

    async with _ingest(engine, mosquitto) as ingest:
        await _until(lambda: ingest.counters.states == 1)
        assert [t.detail for t in await comm_fail()] == ["site offline"]
        await _publish(
            mosquitto, [(state, b'{"online": true, "since": "2026-11-24T05:01:00.000Z", "version": "1"}')], retain=True
        )
        await _until(lambda: ingest.counters.states == 2)
    assert await comm_fail() == []


async def test_a_message_the_database_refuses_is_set_aside_and_the_rest_is_stored(
    engine: AsyncEngine, mosquitto: MosquittoBroker
) -> None:
    async def rules(connection: AsyncConnection, stored: list[StoredReading]) -> None:
        if any(reading.envelope.data.get("poison") for reading in stored):
            # A real refusal by the database (NOT NULL), as a rule tripping on one odd reading would cause.
            await connection.execute(tickets_table.insert().values(site=None))

    poison = envelope("shop-a", 5, data={"poison": True})
    messages = [*_events([1, 2, 3, 4]), (topics.event("shop-a", poison.kind), poison.to_json()), *_events([6, 7])]
    async with _ingest(engine, mosquitto, on_stored=rules) as ingest:
        await _started(ingest)
        await _publish(mosquitto, messages)
        await _until(lambda: ingest.counters.stored == 6 and ingest.counters.rejected == 1)
    async with engine.connect() as connection:
        refused = await recent_rejections(connection)
        open_gaps = [(gap.first_seq, gap.last_seq) for gap in await gaps.open_gaps(connection)]
    assert [r.reason.split(":")[:2] for r in refused] == [["failed 3 times alone, set aside", " IntegrityError"]]
    assert b'"poison":true' in refused[0].payload
    assert open_gaps == [(5, 5)]  # and the loss shows


EDGE_WITH_WILL = """
import sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
port, topic = int(sys.argv[1]), sys.argv[2]
client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="shop-a-edge", protocol=MQTTProtocolVersion.MQTTv5)
client.username_pw_set("shop-a", "shop-a-secret")
client.will_set(topic, b'{"online": false, "version": "1"}', qos=1, retain=True)
client.connect("127.0.0.1", port, keepalive=30)
client.loop_start()
client.publish(topic, b'{"online": true, "version": "1", "last_seq": 0}', qos=1, retain=True).wait_for_publish(10)
print("up", flush=True)
time.sleep(60)
"""


async def test_an_edge_that_dies_gets_a_comm_fail_ticket_from_its_will(
    engine: AsyncEngine, mosquitto: MosquittoBroker
) -> None:
    edge = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        EDGE_WITH_WILL,
        str(mosquitto.port),
        topics.state("shop-a"),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        async with _ingest(engine, mosquitto) as ingest:
            assert edge.stdout is not None
            async with asyncio.timeout(10):
                assert await edge.stdout.readline() == b"up\n"
            await _until(lambda: ingest.counters.states == 1)
            edge.kill()  # no DISCONNECT: the broker publishes the will
            await _until(lambda: ingest.counters.states == 2)
    finally:
        if edge.returncode is None:
            edge.kill()
        await edge.wait()
    async with engine.connect() as connection:
        opened = await tickets.list_tickets(connection, site="shop-a")
        site = await sites.get_site(connection, "shop-a")
    assert [(t.trouble_class, t.detail, t.source) for t in opened] == [("comm_fail", "site offline", "state")]
    assert site is not None
    assert site.online is False


async def test_a_reading_a_rule_always_fails_on_is_set_aside_and_the_others_are_stored_and_dispatched(
    engine: AsyncEngine, mosquitto: MosquittoBroker
) -> None:
    rules = AlarmRules(RulesSettings(recipients=RoleRecipients(security=["guards"])), logger=LOG)

    async def rules_with_a_bug(connection: AsyncConnection, stored: list[StoredReading]) -> None:
        if any(reading.envelope.data.get("zone") == 13 for reading in stored):
            raise RuntimeError("rule bug: zone 13")  # not a database error: before, ingest stopped on it for good
        await rules.on_stored(connection, stored)

    alarms = [envelope("shop-a", seq, Kind.ALARM, {"class": "burglary", "zone": seq + 10}) for seq in (1, 2, 3, 4, 5)]
    async with _ingest(engine, mosquitto, on_stored=rules_with_a_bug) as ingest:
        await _started(ingest)
        await _publish(mosquitto, [(topics.event("shop-a", Kind.ALARM), alarm.to_json()) for alarm in alarms])
        await _until(lambda: ingest.counters.stored == 4 and ingest.counters.quarantined == 1)
        await _publish(mosquitto, _events([6]))  # and the ingest goes on
        await _until(lambda: ingest.counters.stored == 5)
    async with engine.connect() as connection:
        stored_seqs = [int(s) for (s,) in await connection.execute(select(readings.c.seq).order_by(readings.c.seq))]
        zones = sorted(z for (z,) in await connection.execute(select(dispatches_table.c.zone)))
        refused = await recent_rejections(connection)
        opened = await tickets.list_tickets(connection, site="shop-a")
        open_gaps = [(gap.first_seq, gap.last_seq) for gap in await gaps.open_gaps(connection)]
    assert stored_seqs == [1, 2, 4, 5, 6]
    assert zones == ["11", "12", "14", "15"]
    assert len(refused) == 1 and "RuntimeError: rule bug: zone 13" in refused[0].reason
    assert b'"zone":13' in refused[0].payload
    assert [(t.trouble_class, t.source) for t in opened] == [("ingest_failed", "ingest")]
    assert "RuntimeError" in opened[0].detail
    assert open_gaps == [(3, 3)]


async def test_the_database_out_of_reach_is_retried_without_end_and_nothing_is_set_aside(
    database_url: str, tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    if database_url.startswith("sqlite"):
        unreachable = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'central.db'}")
    else:
        unreachable = create_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/test")
    try:
        async with _ingest(unreachable, mosquitto) as down:
            await _started(down)
            await _publish(mosquitto, _events([1, 2, 3]))
            # Far beyond split_after_failures: a message set aside here would be lost for no fault of its own.
            await _until(lambda: down.counters.failed_attempts >= 4 * SETTINGS.split_after_failures)
        assert (down.counters.quarantined, down.counters.rejected, down.counters.stored) == (0, 0, 0)
    finally:
        await unreachable.dispose()
    engine = await open_database(database_url)
    try:
        async with _ingest(engine, mosquitto) as back:  # the broker kept all three for the session
            await _until(lambda: back.counters.stored == 3)
    finally:
        await engine.dispose()
