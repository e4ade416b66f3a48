"""The actions the owners' API calls, on SQLite and PostgreSQL: arming, disarming, confirming a theft (110 gets the
live link and the last position)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from central.dispatch.repository import apply_action, get, transitions_of
from central.dispatch.states import Action, ActionRequest, EscalationReason, IncidentClass, Outcome, State
from central.store.db import create_engine, migrate
from central.trackers.actions import NoPositionYet, TrackerNotFound, confirm_theft, set_armed
from central.trackers.policy import PolicyMissing

from .feed import GATEWAY, T0, Feed, add_owner, add_tracker, deliveries, dispatches_of, imei, offset, tracker

BIKE = imei(21)
LINK = "https://alarm.example.com/share/secret-token"


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


async def confirm(engine: AsyncEngine, number: str = BIKE, actor: str = "owner:1", at_s: float = 600) -> int:
    async with engine.begin() as connection:
        dispatch = await confirm_theft(connection, number, actor=actor, live_link=LINK, now=T0 + seconds(at_s))
    return dispatch.id


async def test_unknown_trackers_are_not_found(engine: AsyncEngine) -> None:
    Feed(engine)
    async with engine.begin() as connection:
        with pytest.raises(TrackerNotFound):
            await set_armed(connection, BIKE, armed=True, actor="alice", now=T0)
        with pytest.raises(TrackerNotFound):
            await confirm_theft(connection, BIKE, actor="alice", live_link=LINK, now=T0)


async def test_arming_twice_keeps_the_episode_and_disarming_clears_it(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await add_tracker(engine, BIKE)
    await feed.send([feed.position(BIKE, T0)])
    async with engine.begin() as connection:
        await set_armed(connection, BIKE, armed=True, actor="owner:1", now=T0 + seconds(5))
    await feed.send([feed.alarm(BIKE, T0 + seconds(10), "power_cut")])
    async with engine.begin() as connection:
        await set_armed(connection, BIKE, armed=True, actor="alice", now=T0 + seconds(20))  # a double tap
    row = await tracker(engine, BIKE)
    assert (row.armed_at, row.armed_by, row.theft_state) == (T0 + seconds(5), "owner:1", "alarmed")
    async with engine.begin() as connection:
        await set_armed(connection, BIKE, armed=False, actor="owner:1", now=T0 + seconds(30))
    row = await tracker(engine, BIKE)
    assert (row.armed, row.armed_at, row.theft_state, row.anchor_lat, row.theft_dispatch_id) == (
        False, None, None, None, (await dispatches_of(engine))[0].id
    )


async def test_confirming_an_alarmed_theft_escalates_its_dispatch_with_the_link(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await add_tracker(engine, BIKE, owner_id=await add_owner(engine))
    await feed.send([feed.position(BIKE, T0, *offset(1, 1))])
    async with engine.begin() as connection:
        await set_armed(connection, BIKE, armed=True, actor="owner:1", now=T0 + seconds(5))
    await feed.send([feed.position(BIKE, T0 + seconds(10 * i), *offset(0, 60 * i), speed_kmh=22.0)
                     for i in range(1, 6)])
    (theft,) = await dispatches_of(engine)
    dispatch_id = await confirm(engine)
    assert dispatch_id == theft.id
    async with engine.connect() as connection:
        confirmed = await get(connection, dispatch_id)
        steps = [(step.action, step.actor) for step in await transitions_of(connection, dispatch_id)]
    assert confirmed is not None
    assert (confirmed.escalation_reason, confirmed.recipients, confirmed.escalate_at) == (
        EscalationReason.CONFIRMED.value, ["guards", "police-110"], None
    )
    assert steps == [("raise", "rule:theft"), ("confirm", "owner:1"), ("escalate", "owner:1")]
    (police,) = await deliveries(engine, "police-110")
    assert police.event == "dispatch.escalated"
    assert police.payload["tracker"]["live_link"] == LINK
    newest = offset(0, 300)
    assert (police.payload["tracker"]["position"]["lat"], police.payload["tracker"]["position"]["lon"]) == newest
    assert police.payload["tracker"]["plate"] == "京A12345"
    row = await tracker(engine, BIKE)
    assert (row.theft_state, row.theft_dispatch_id) == ("confirmed", dispatch_id)
    owner = await deliveries(engine, "sms")
    assert [d.event for d in owner] == ["owner.theft", "owner.theft_confirmed"]
    assert "110" in owner[1].payload["text"]


async def test_confirming_without_an_open_dispatch_raises_one_already_escalated(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await add_tracker(engine, BIKE, owner_id=await add_owner(engine))
    outcome = await feed.send([feed.position(BIKE, T0, *offset(5, 5)), feed.position(BIKE, T0 + seconds(10), lat=0.0,
                                                                                     lon=0.0)])
    dispatch_id = await confirm(engine, actor="alice")
    async with engine.connect() as connection:
        raised = await get(connection, dispatch_id)
    assert raised is not None
    assert (raised.alarm_class, raised.zone, raised.site, raised.state) == ("theft", BIKE, GATEWAY, State.RAISED)
    assert raised.escalation_reason == EscalationReason.CONFIRMED.value
    assert raised.recipients == ["guards", "police-110"]
    assert raised.reading_id == outcome.stored[0].id  # the reading of the current position, not the filtered one
    (police,) = await deliveries(engine, "police-110")
    assert (police.event, police.payload["tracker"]["live_link"]) == ("dispatch.raised", LINK)
    assert police.payload["reading"]["data"]["lat"] == offset(5, 5)[0]
    assert (await tracker(engine, BIKE)).theft_state == "confirmed"


async def test_confirming_again_tells_110_again_without_a_second_dispatch(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await add_tracker(engine, BIKE)
    await feed.send([feed.position(BIKE, T0)])
    first = await confirm(engine)
    second = await confirm(engine, at_s=900)
    assert first == second
    assert [d.event for d in await deliveries(engine, "police-110")] == ["dispatch.raised", "dispatch.updated"]
    # once resolved, a new confirmation raises a new dispatch
    async with engine.begin() as connection:
        request = ActionRequest(Action.RESOLVE, outcome=Outcome.REAL, incident_class=IncidentClass.CRIMINAL)
        await apply_action(connection, first, request, actor="alice", at=T0 + seconds(1000), police=["police-110"])
    third = await confirm(engine, at_s=1100)
    assert third != first


async def test_a_cell_report_alone_is_enough_to_confirm(engine: AsyncEngine) -> None:
    feed = Feed(engine)
    await add_tracker(engine, BIKE)
    await feed.send([feed.cell_report(BIKE, T0)])
    await confirm(engine)
    (police,) = await deliveries(engine, "police-110")
    assert police.payload["tracker"]["position"] is None
    assert police.payload["tracker"]["cell"]["cid"] == 3671


async def test_no_position_yet_means_nothing_to_confirm(engine: AsyncEngine) -> None:
    Feed(engine)
    await add_tracker(engine, BIKE)
    with pytest.raises(NoPositionYet):
        await confirm(engine)
    assert await dispatches_of(engine) == []


async def test_confirming_needs_the_policy_arming_does_not(database_url: str) -> None:
    bare = create_engine(database_url)
    try:
        await migrate(bare)
        await add_tracker(bare, BIKE)
        async with bare.begin() as connection:
            await set_armed(connection, BIKE, armed=True, actor="alice", now=T0)
            with pytest.raises(PolicyMissing):
                await confirm_theft(connection, BIKE, actor="alice", live_link=LINK, now=T0)
    finally:
        await bare.dispose()
