"""Trackers' own alarms through the alarm rules, on SQLite and PostgreSQL: judged by the bike's arming, repeats
folded, the owner told once."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from central.dispatch.states import EscalationReason
from central.trackers.actions import set_armed
from shaobing.clock import format_ts

from .feed import T0, Feed, add_owner, add_tracker, deliveries, dispatches_of, imei, outbox_events, tracker

BIKE = imei(11)


async def armed_bike(engine: AsyncEngine, *, owner: bool = True) -> None:
    owner_id = await add_owner(engine) if owner else None
    await add_tracker(engine, BIKE, owner_id=owner_id)
    async with engine.begin() as connection:
        await set_armed(connection, BIKE, armed=True, actor="owner:1", now=T0 - timedelta(minutes=5))


async def test_sos_repeated_in_twenty_packets_is_one_dispatch_to_110_and_one_notification(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await add_tracker(engine, BIKE, owner_id=await add_owner(engine))  # disarmed: SOS is life safety all the same
    packets = [feed.alarm(BIKE, T0 + timedelta(seconds=i), "sos") for i in range(20)]
    await feed.send(packets[:5])
    await feed.send_each(packets[5:])
    (sos,) = await dispatches_of(engine)
    assert (sos.alarm_class, sos.zone, sos.occurrences, sos.priority) == ("sos", BIKE, 20, 1)
    assert sos.escalation_reason == EscalationReason.PANIC.value
    assert sos.recipients == ["guards", "police-110"]
    owner = await deliveries(engine, "sms")
    assert [(d.event, d.payload["alarm_class"], d.dispatch_id) for d in owner] == [("owner.alarm", "sos", sos.id)]
    assert "紧急求助" in owner[0].payload["text"]
    assert owner[0].payload["position"]["lat"] == packets[0].data["lat"]


async def test_the_bikes_own_alarm_names_the_bike_to_the_guards_and_110(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await add_tracker(engine, BIKE, owner_id=await add_owner(engine))
    await feed.send([feed.position(BIKE, T0), feed.alarm(BIKE, T0 + timedelta(seconds=1), "sos")])
    row = await tracker(engine, BIKE)
    for recipient in ("guards", "police-110"):
        [raised] = await deliveries(engine, recipient)
        details = raised.payload["tracker"]
        assert (details["imei"], details["name"], details["plate"]) == (BIKE, "小蓝", "京A12345")
        assert details["position"] == {"lat": row.lat, "lon": row.lon, "fix_time": format_ts(row.fix_time)}
        assert "Li Lei" not in str(details) and "+8613812345678" not in str(details)


async def test_vibration_while_disarmed_is_recorded_not_dispatched(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await add_tracker(engine, BIKE, owner_id=await add_owner(engine))
    outcome = await feed.send([feed.alarm(BIKE, T0, "vibration"), feed.alarm(BIKE, T0, "overspeed")])
    assert len(outcome.stored) == 2  # recorded
    assert await dispatches_of(engine) == []
    assert await outbox_events(engine, "sms") == []


async def test_an_alarm_not_dispatched_is_logged_without_where_the_bike_is(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    feed = Feed(engine)
    await add_tracker(engine, BIKE, owner_id=await add_owner(engine))
    vibration = feed.alarm(BIKE, T0, "vibration")
    with caplog.at_level(logging.INFO, logger="test.trackers"):
        await feed.send([vibration])
    [logged] = [record.getMessage() for record in caplog.records if "not dispatched" in record.getMessage()]
    assert "vibration" in logged and BIKE in logged
    assert f"{vibration.data['lat']}" not in logged and f"{vibration.data['lon']}" not in logged


async def test_vibration_while_armed_goes_to_the_centre_without_the_110_timer(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await armed_bike(engine)
    await feed.send([feed.alarm(BIKE, T0, "vibration")])
    await feed.send([feed.alarm(BIKE, T0 + timedelta(seconds=2), "vibration")])
    (vibration,) = await dispatches_of(engine)
    assert (vibration.alarm_class, vibration.escalate_at, vibration.recipients, vibration.occurrences) == (
        "vibration", None, ["guards"], 2
    )
    assert [d.event for d in await deliveries(engine, "sms")] == ["owner.alarm"]


async def test_the_bikes_arming_counts_not_the_gateways(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await armed_bike(engine)
    other = imei(12)
    await add_tracker(engine, other)
    # The gateway site armed or not changes nothing: the armed bike's overspeed dispatches, the other bike's does not.
    await feed.send([feed.alarm(BIKE, T0, "overspeed"), feed.alarm(other, T0, "overspeed")])
    assert [(d.alarm_class, d.zone) for d in await dispatches_of(engine)] == [("overspeed", BIKE)]


async def test_a_theft_signal_while_armed_is_the_theft_rules_alone(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await armed_bike(engine, owner=False)
    await feed.send([feed.alarm(BIKE, T0, "displacement"), feed.alarm(BIKE, T0, "power_cut")])
    assert [d.alarm_class for d in await dispatches_of(engine)] == ["theft"]


async def test_an_alarm_of_a_tracker_seen_for_the_first_time_is_judged_disarmed(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await feed.send([feed.alarm(BIKE, T0, "vibration"), feed.alarm(BIKE, T0, "power_cut")])
    assert await dispatches_of(engine) == []
    await feed.send([feed.alarm(BIKE, T0, "sos")])
    assert [d.alarm_class for d in await dispatches_of(engine)] == ["sos"]
    assert await outbox_events(engine, "sms") == []  # nobody owns it yet


async def test_hostile_alarm_data_is_recorded_without_breaking_the_batch(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await armed_bike(engine)
    hostile = [
        feed.alarm(BIKE, T0, "power_cut", lat="north", lon=None, valid="yes", fix_time="soon"),
        feed.alarm(BIKE, T0, "sos", lat=1e308, lon=-1e308, valid=True, fix_time=12),
        feed.alarm(BIKE, T0, "vibration", zone=["x"], qualifier={"a": 1}),
    ]
    outcome = await feed.send(hostile)
    assert len(outcome.stored) == 3
    classes = sorted(d.alarm_class for d in await dispatches_of(engine))
    assert classes == ["sos", "theft"]
    owner = {d.event: d.payload for d in await deliveries(engine, "sms")}
    assert owner["owner.alarm"]["position"] is None  # no position from nonsense coordinates
