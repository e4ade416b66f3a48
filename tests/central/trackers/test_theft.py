"""The theft rule through the real batch store, on SQLite and PostgreSQL: parked drift raises nothing; a bike taken
away raises exactly one theft dispatch and one owner notification, however many fixes follow."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from firmware_sim.tracker.drift import DriftModel, ParkedDrift
from sqlalchemy.ext.asyncio import AsyncEngine

from central.dispatch.escalation import EscalationTimer
from central.dispatch.repository import apply_action, transitions_of
from central.dispatch.states import Action, ActionRequest, State
from central.trackers.actions import set_armed
from shaobing.clock import format_ts
from tests.central.test_dispatch_escalation import SettableClock

from .feed import (
    GATEWAY,
    LOG,
    T0,
    Feed,
    add_owner,
    add_tracker,
    deliveries,
    dispatches_of,
    imei,
    offset,
    outbox_events,
    tracker,
)

BIKE = imei(7)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


async def arm(engine: AsyncEngine, number: str, now: datetime, armed: bool = True) -> None:
    async with engine.begin() as connection:
        await set_armed(connection, number, armed=armed, actor="owner:1", now=now)


async def owned_bike(engine: AsyncEngine, number: str = BIKE) -> None:
    owner_id = await add_owner(engine)
    await add_tracker(engine, number, owner_id=owner_id)


async def parked_then_armed(feed: Feed, engine: AsyncEngine, number: str = BIKE) -> datetime:
    """The bike reports while being parked, is armed, and stands there five minutes; returns the time after."""
    await feed.send([feed.position(number, T0, *offset(1, 1))])
    await arm(engine, number, T0 + seconds(5))
    for step in range(1, 31):
        await feed.send([feed.position(number, T0 + seconds(10 * step), *offset(step % 3, -(step % 2)))])
    return T0 + seconds(300)


async def test_an_hour_of_parked_drift_raises_nothing(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await owned_bike(engine)
    await arm(engine, BIKE, T0 - seconds(1))
    rng = random.Random(2024)
    # The simulator's parked receiver with multipath ten times as often, 50-80 m jumps with 4-5 satellites.
    drift = ParkedDrift(rng, DriftModel(jumps_per_hour=30.0, jump_m=(50.0, 80.0), jump_satellites=(4, 5)))
    jumps = 0
    batch = []
    for step in range(360):
        sample = drift.step(10.0, rng)
        jumps += sample.jumping
        batch.append(feed.position(BIKE, T0 + seconds(10 * step), *offset(*sample.offset), satellites=sample.satellites,
                                   speed_kmh=float(sample.speed_kmh), course=float(sample.course)))
        if len(batch) == 6:  # a minute of reports per batch
            await feed.send(batch)
            batch = []
    assert jumps > 10  # the hour did contain multipath jumps
    assert await dispatches_of(engine) == []
    assert await outbox_events(engine, "sms") == []
    row = await tracker(engine, BIKE)
    assert (row.armed, row.theft_state, row.anchor_fixes) == (True, None, 30)


async def test_a_bike_ridden_away_raises_one_dispatch_and_one_notification(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await owned_bike(engine)
    start = await parked_then_armed(feed, engine)
    ride = [feed.position(BIKE, start + seconds(10 * i), *offset(0, 45 * i), speed_kmh=16.0) for i in range(1, 41)]
    outcomes = [await feed.send([envelope]) for envelope in ride[:10]]
    await feed.send(ride[10:])  # the rest of the ride, and more: nothing new
    found = await dispatches_of(engine)
    assert [(d.alarm_class, d.zone, d.site, d.state, d.occurrences) for d in found] == [
        ("theft", BIKE, GATEWAY, State.RAISED, 1)
    ]
    theft = found[0]
    assert theft.reading_id == outcomes[3].stored[0].id  # 135 m, then 180 m: the second fix in a row beyond 100 m
    assert theft.escalate_at == theft.raised_at + seconds(120)  # unacknowledged, it goes to 110 like a burglary
    assert theft.recipients == ["guards"]
    row = await tracker(engine, BIKE)
    assert (row.theft_state, row.theft_dispatch_id) == ("alarmed", theft.id)
    guards = await deliveries(engine, "guards")
    assert [d.event for d in guards] == ["dispatch.raised"]
    details = guards[0].payload["tracker"]
    assert (details["imei"], details["plate"], details["reason"], details["late"]) == (BIKE, "京A12345", "moved", False)
    assert details["distance_m"] > 100
    assert guards[0].payload["reading"]["data"]["lat"] == details["position"]["lat"]
    owner = await deliveries(engine, "sms")
    assert [d.event for d in owner] == ["owner.theft"]
    text = owner[0].payload
    assert (text["to"], text["dispatch_id"], text["alarm_class"]) == ("+8613812345678", theft.id, "theft")
    assert "小蓝" in text["text"]
    assert "京A12345" in text["text"]
    assert "https://alarm.example.com/my/" in text["text"] and BIKE not in text["link"]
    assert "possibly stolen" in text["text"]
    assert feed.wakes >= 1


async def test_every_later_step_of_a_theft_carries_the_bike_the_timers_escalation_to_110_included(
    engine: AsyncEngine,
) -> None:
    feed = Feed(engine)
    await owned_bike(engine)
    start = await parked_then_armed(feed, engine)
    ride = [feed.position(BIKE, start + seconds(10 * i), *offset(0, 45 * i), speed_kmh=16.0) for i in range(1, 7)]
    await feed.send(ride)
    [theft] = await dispatches_of(engine)
    assert theft.escalate_at is not None
    # No operator looks at it: the acknowledgement timer sends it to 110.
    timer = EscalationTimer(engine, police=["police-110"], clock=SettableClock(theft.escalate_at), logger=LOG)
    assert await timer.escalate_overdue() == [theft.id]
    [police] = await deliveries(engine, "police-110")
    details = police.payload["tracker"]
    assert (details["imei"], details["name"], details["plate"], details["reason"]) == (BIKE, "小蓝", "京A12345", None)
    row = await tracker(engine, BIKE)
    assert details["position"] == {"lat": row.lat, "lon": row.lon, "fix_time": format_ts(row.fix_time)}
    async with engine.begin() as connection:
        await apply_action(connection, theft.id, ActionRequest(Action.ACKNOWLEDGE), actor="alice",
                           at=theft.escalate_at + seconds(5), police=["police-110"])
    acknowledged = [d for d in await deliveries(engine, "guards") if d.payload["action"]["name"] == "acknowledge"]
    assert [d.payload["tracker"]["imei"] for d in acknowledged] == [BIKE]


async def test_a_bike_without_owner_still_raises_the_dispatch(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await add_tracker(engine, BIKE)
    start = await parked_then_armed(feed, engine)
    await feed.send([feed.position(BIKE, start + seconds(10 * i), *offset(0, 45 * i), speed_kmh=16.0)
                     for i in range(1, 8)])
    assert [d.alarm_class for d in await dispatches_of(engine)] == ["theft"]
    assert await outbox_events(engine, "sms") == []  # no owner: nobody to text


async def test_power_cut_while_armed_is_a_theft_at_once(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await owned_bike(engine)
    start = await parked_then_armed(feed, engine)
    outcome = await feed.send([feed.alarm(BIKE, start + seconds(3), "power_cut", charging=False)])
    found = await dispatches_of(engine)
    assert [(d.alarm_class, d.reading_id) for d in found] == [("theft", outcome.stored[0].id)]  # no power_cut one
    owner = await deliveries(engine, "sms")
    assert [(d.event, d.payload["reason"]) for d in owner] == [("owner.theft", "power_cut")]
    assert "power wire was cut" in owner[0].payload["text"]
    # the thief rides off: the fixes add to the track, not to the dispatches or the owner's messages
    await feed.send([feed.alarm(BIKE, start + seconds(5), "vibration")])
    await feed.send([feed.position(BIKE, start + seconds(10 * i), *offset(0, 60 * i), speed_kmh=25.0)
                     for i in range(1, 20)])
    await feed.send([feed.alarm(BIKE, start + seconds(300), "power_cut")])
    classes = sorted(d.alarm_class for d in await dispatches_of(engine))
    assert classes == ["theft", "vibration"]  # the vibration while armed goes to the centre on its own
    assert [d.event for d in await deliveries(engine, "sms")] == ["owner.theft", "owner.alarm"]


async def test_the_ignition_turned_on_while_armed_is_a_theft(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await owned_bike(engine)
    start = await parked_then_armed(feed, engine)
    await feed.send([feed.status(BIKE, start, acc=False)])
    await feed.send([feed.position(BIKE, start + seconds(10), *offset(1, 1), acc=False)])
    assert await dispatches_of(engine) == []
    outcome = await feed.send([feed.position(BIKE, start + seconds(20), *offset(2, 1), acc=True)])
    found = await dispatches_of(engine)
    assert [(d.alarm_class, d.reading_id) for d in found] == [("theft", outcome.stored[0].id)]
    assert [d.payload["reason"] for d in await deliveries(engine, "sms")] == ["acc_on"]
    assert (await tracker(engine, BIKE)).status["acc"] is True


async def test_a_disarmed_bike_moving_raises_nothing(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await owned_bike(engine)
    await feed.send([feed.position(BIKE, T0, acc=False)])
    await feed.send([feed.alarm(BIKE, T0 + seconds(5), "vibration")])
    await feed.send([feed.status(BIKE, T0 + seconds(8), acc=True)])
    await feed.send([feed.position(BIKE, T0 + seconds(10 * i), *offset(0, 60 * i), speed_kmh=20.0, acc=True)
                     for i in range(1, 30)])
    await feed.send([feed.alarm(BIKE, T0 + seconds(400), "power_cut")])
    assert await dispatches_of(engine) == []
    assert await outbox_events(engine, "sms") == []
    row = await tracker(engine, BIKE)
    assert (row.theft_state, row.lat, row.lon) == (None, *offset(0, 60 * 29))


async def test_a_reupload_showing_the_bike_moved_while_offline_is_a_late_theft(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await owned_bike(engine)
    start = await parked_then_armed(feed, engine)
    back = start + seconds(600)
    # Back online after ten minutes: the current position first (at home again: a joyride), then the buffer.
    await feed.send([feed.position(BIKE, back, *offset(2, 2))])
    assert await dispatches_of(engine) == []
    buffered = [feed.position(BIKE, start + seconds(10 * i), *offset(0, 80 * i), archived=True, speed_kmh=25.0,
                              rx=back + seconds(1)) for i in range(1, 11)]
    await feed.send(buffered)
    (theft,) = await dispatches_of(engine)
    owner = await deliveries(engine, "sms")
    assert [(d.event, d.payload["late"]) for d in owner] == [("owner.theft", True)]
    assert "reported late" in owner[0].payload["text"]
    assert (await deliveries(engine, "guards"))[0].payload["tracker"]["late"] is True
    assert theft.alarm_class == "theft"


async def test_disarming_ends_the_episode_and_a_new_one_folds_into_the_open_dispatch(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await owned_bike(engine)
    start = await parked_then_armed(feed, engine)
    await feed.send([feed.alarm(BIKE, start + seconds(1), "power_cut")])
    await arm(engine, BIKE, start + seconds(60), armed=False)
    row = await tracker(engine, BIKE)
    assert (row.armed, row.theft_state, row.anchor_lat, row.moving_fixes) == (False, None, None, 0)
    (first,) = await dispatches_of(engine)
    assert first.state is State.RAISED  # the operators resolve it
    await feed.send([feed.position(BIKE, start + seconds(70), *offset(1, 1))])
    await arm(engine, BIKE, start + seconds(75))
    await feed.send([feed.alarm(BIKE, start + seconds(90), "moving")])
    (again,) = await dispatches_of(engine)
    assert (again.id, again.occurrences) == (first.id, 2)
    async with engine.connect() as connection:
        actions = [step.action for step in await transitions_of(connection, first.id)]
    assert actions == ["raise", "repeat"]
    assert [d.event for d in await deliveries(engine, "sms")] == ["owner.theft", "owner.theft"]
    assert (await tracker(engine, BIKE)).theft_state == "alarmed"


async def test_arming_at_a_fresh_fix_anchors_there(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await add_tracker(engine, BIKE)
    await feed.send([feed.position(BIKE, T0, *offset(3, 4))])
    await arm(engine, BIKE, T0 + seconds(30))
    row = await tracker(engine, BIKE)
    assert (row.anchor_lat, row.anchor_lon, row.anchor_fixes, row.armed_by) == (*offset(3, 4), 1, "owner:1")
    # a fix two hours old is no anchor: the next counting fix after arming is
    await arm(engine, BIKE, T0 + seconds(40), armed=False)
    await arm(engine, BIKE, T0 + seconds(7200))
    assert (await tracker(engine, BIKE)).anchor_lat is None
    await feed.send([feed.position(BIKE, T0 + seconds(7210), *offset(50, 0), satellites=3)])  # too few satellites
    assert (await tracker(engine, BIKE)).anchor_lat is None
    await feed.send([feed.position(BIKE, T0 + seconds(7220), *offset(40, 0))])
    row = await tracker(engine, BIKE)
    assert (row.anchor_lat, row.anchor_lon, row.anchor_time) == (*offset(40, 0), T0 + seconds(7220))
