from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from central.store import sites
from central.store.readings import insert_readings
from shaobing.envelope import Envelope, Kind

from .readings_factory import envelope

NOW = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)


async def _store(engine: AsyncEngine, batch: list[Envelope], now: datetime = NOW) -> dict[str, int]:
    async with engine.begin() as connection:
        stored = await insert_readings(connection, batch, stored_at=now)
        return await sites.apply_readings(connection, stored, now=now)


async def _site(engine: AsyncEngine, site: str = "shop-a") -> sites.Site:
    async with engine.connect() as connection:
        found = await sites.get_site(connection, site)
    assert found is not None
    return found


def _arming(seq: int, state: str, partition: object = 1) -> Envelope:
    return envelope("shop-a", seq, Kind.ARMING, {"state": state, "partition": partition, "user": 3})


async def test_a_site_is_created_on_first_sight_and_tracks_its_highest_seq(engine: AsyncEngine) -> None:
    assert await _store(engine, [envelope("shop-a", 3), envelope("shop-a", 1)]) == {"shop-a": 0}
    assert await _store(engine, [envelope("shop-a", 2)], NOW + timedelta(seconds=5)) == {"shop-a": 3}
    site = await _site(engine)
    assert site.last_seq == 3
    assert site.first_seen_at == NOW
    assert site.last_reading_at == NOW + timedelta(seconds=5)
    assert site.online is None
    assert site.armed is None
    assert site.last_test_at is None


async def test_arming_follows_seq_order_not_arrival_order(engine: AsyncEngine) -> None:
    await _store(engine, [_arming(5, "armed")])
    assert (await _site(engine)).armed is True
    await _store(engine, [_arming(4, "disarmed")])  # late and older: must not win
    site = await _site(engine)
    assert site.armed is True
    assert site.arming["1"]["state"] == "armed"
    assert site.arming["1"]["seq"] == 5
    # Within one batch too, the highest seq of a partition wins whatever the order.
    await _store(engine, [_arming(9, "disarmed", "01"), _arming(8, "armed", "1"), _arming(7, "armed", 2)])
    site = await _site(engine)
    assert site.arming["1"]["state"] == "disarmed"
    assert site.arming["2"]["state"] == "armed"
    assert site.armed is True  # partition 2 still armed
    await _store(engine, [_arming(10, "disarmed", 2)])
    assert (await _site(engine)).armed is False


async def test_test_readings_and_contact_id_602_are_supervision_signals(engine: AsyncEngine) -> None:
    await _store(engine, [envelope("shop-a", 1, Kind.TEST, {})])
    assert (await _site(engine)).last_test_at == envelope("shop-a", 1).rx
    periodic = envelope("shop-a", 50, Kind.ALARM, {"source": "contact_id", "code": 602, "class": "test"})
    await _store(engine, [periodic])
    assert (await _site(engine)).last_test_at == periodic.rx
    # A test stamped in the future by a wrong clock counts as now, not later.
    future = Envelope("shop-b", 1, "p", Kind.TEST, NOW + timedelta(days=1), NOW + timedelta(days=1), 4, {})
    await _store(engine, [future])
    assert (await _site(engine, "shop-b")).last_test_at == NOW


async def test_state_messages_set_online_version_and_announced_seq(engine: AsyncEngine) -> None:
    payload = json.dumps({"online": True, "since": "2026-11-24T04:59:00.000Z", "version": "0.1.0", "last_seq": 42})
    async with engine.begin() as connection:
        before = await sites.apply_state(connection, "shop-a", sites.parse_state(payload.encode()), now=NOW)
    assert before.was_online is None
    site = await _site(engine)
    assert (site.online, site.version, site.state_last_seq) == (True, "0.1.0", 42)
    assert site.online_since == datetime(2026, 11, 24, 4, 59, tzinfo=UTC)
    async with engine.begin() as connection:
        before = await sites.apply_state(connection, "shop-a", sites.StateMessage(False, None, None, None), now=NOW)
    assert before.was_online is True
    assert (await _site(engine)).online is False


async def test_a_site_is_offline_since_central_heard_its_will_not_since_the_agent_started(engine: AsyncEngine) -> None:
    # The will is fixed when the agent connects: its `since` is the agent's start, hours before it went away.
    will = b'{"online": false, "since": "2026-11-24T01:00:00.000Z", "version": "0.1.0", "last_seq": 7}'
    heard_at = NOW + timedelta(minutes=3)
    async with engine.begin() as connection:
        await sites.apply_state(connection, "shop-a", sites.parse_state(will), now=heard_at)
    site = await _site(engine)
    assert (site.online, site.online_since) == (False, heard_at)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"online": "yes"}', "online"),
        (b'{"online": true, "since": "yesterday"}', "since"),
        (b'{"online": true, "since": 5}', "since"),
        (b'{"online": true, "last_seq": -1}', "last_seq"),
        (b'{"online": true, "last_seq": 1e3}', "last_seq"),
        (b'{"online": true, "version": "\\u0000"}', "version"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_malformed_state_payloads_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(sites.StateError, match=reason):
        sites.parse_state(payload)


def test_partitions_are_spelled_one_way_and_none_is_the_whole_site() -> None:
    assert sites.partition_of({"partition": 1}) == "1"
    assert sites.partition_of({"partition": "01"}) == "1"
    assert sites.partition_of({}) == "0"  # as the edge: no partition is partition 0, the whole site
    assert sites.partition_of({"partition": None}) == "0"
    assert sites.partition_of({"partition": 0}) == "0"
    assert sites.partition_of({"partition": "garage"}) == "garage"


def _whole_site(seq: int, state: str) -> Envelope:
    return envelope("shop-a", seq, Kind.ARMING, {"state": state, "user": 3})


async def test_a_whole_site_arming_replaces_every_partition(engine: AsyncEngine) -> None:
    await _store(engine, [_arming(1, "armed", 1), _arming(2, "armed", 2)])
    await _store(engine, [_whole_site(3, "disarmed")])  # the whole site disarmed: no partition stays armed
    site = await _site(engine)
    assert (sorted(site.arming), site.arming["0"]["state"], site.armed) == (["0"], "disarmed", False)

    await _store(engine, [_arming(2, "armed", 2)])  # a late, older partition reading: overridden by the whole site
    assert (await _site(engine)).armed is False

    await _store(engine, [_arming(5, "armed", 2)])  # set after the whole site: one armed partition arms the site
    site = await _site(engine)
    assert (sorted(site.arming), site.armed) == (["0", "2"], True)

    await _store(engine, [_whole_site(7, "armed"), _arming(6, "disarmed", 2)])  # whole site last, within a batch
    site = await _site(engine)
    assert (sorted(site.arming), site.armed) == (["0"], True)

    # Partition 1 disarmed after the whole site was armed: the rest of the site is still armed.
    await _store(engine, [_arming(8, "disarmed", 1)])
    site = await _site(engine)
    assert (site.arming["1"]["state"], site.armed) == ("disarmed", True)
    await _store(engine, [_whole_site(9, "disarmed"), _arming(10, "disarmed", 1)])
    assert (await _site(engine)).armed is False


def test_armed_is_the_whole_sites_state_when_set_last_else_any_partition() -> None:
    assert sites.site_armed({}) is None
    assert sites.site_armed({"0": {"state": "armed", "seq": 4}}) is True
    assert sites.site_armed({"0": {"state": "disarmed", "seq": 4}, "2": {"state": "armed", "seq": 5}}) is True
    assert sites.site_armed({"0": {"state": "armed", "seq": 4}, "2": {"state": "disarmed", "seq": 5}}) is True
    assert sites.site_armed({"0": {"state": "disarmed", "seq": 6}, "2": {"state": "armed", "seq": 5}}) is False
    assert sites.site_armed({"1": {"state": "disarmed", "seq": 1}, "2": {"state": "disarmed", "seq": 2}}) is False
