"""The live feed of dispatch changes on both stores: straight over an engine (each look taken by the test), and as
server-sent events from GET /api/live/dispatches over a real socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.console.live import RESYNC, SUBSCRIBER_QUEUE, Change, LiveFeed, Subscription
from central.console.plans import MarkStatus, mark_step
from central.dispatch.repository import apply_action, get
from central.dispatch.states import Action, ActionRequest
from central.people.hits import STAFF_HIDDEN_CLASSES
from central.store.schema import dispatch_transitions
from tests.central.app_kit import Clock, served
from tests.central.console_kit import USERS, Seeder, at, build_app, log_in

OP1 = USERS["op1"][0]


@pytest.fixture
async def feed(engine: AsyncEngine) -> AsyncIterator[LiveFeed]:
    """A feed whose looks the test takes itself (`poll`): its own task would only look after an hour."""
    feed = LiveFeed(engine, hidden_classes=STAFF_HIDDEN_CLASSES, idle_s=3600)
    assert await feed.poll() == 0  # the cursor starts at the newest change
    yield feed
    await feed.close()


async def subscribed(feed: LiveFeed, count: int = 1) -> list[Subscription]:
    """Subscriptions to a feed whose every look the test takes: its own reading task is stopped (close leaves the
    subscribers), so no look runs behind the test's back."""
    subscriptions = [feed.subscribe() for _ in range(count)]
    await feed.close()
    return subscriptions


def drained(subscription: Subscription) -> list[Change | object]:
    items = []
    while not subscription.queue.empty():
        items.append(subscription.queue.get_nowait())
    return items


def changes(subscription: Subscription) -> list[tuple[str, int, str]]:
    items = drained(subscription)
    assert all(isinstance(item, Change) for item in items), items
    return [(item.action, item.dispatch.id, item.dispatch.state.value) for item in items if isinstance(item, Change)]


async def max_transition_id(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.max(dispatch_transitions.c.id)))).scalar() or 0)


async def add_transition(engine: AsyncEngine, dispatch_id: int, transition_id: int | None = None,
                         action: str = "repeat") -> None:
    row: dict[str, Any] = {"dispatch_id": dispatch_id, "action": action, "from_state": "raised", "to_state": "raised",
                           "actor": "rule", "at": at(10), "detail": {}}
    if transition_id is not None:
        row["id"] = transition_id
    async with engine.begin() as connection:
        await connection.execute(insert(dispatch_transitions).values(**row))


# ---- the feed over an engine ----------------------------------------------------------------------------------------


async def test_history_before_the_feed_started_is_not_replayed(engine: AsyncEngine) -> None:
    seed = Seeder(engine)
    await seed.site("shop-a")
    await seed.dispatch("shop-a", "burglary", zone="1", priority=2, at=at(0))
    feed = LiveFeed(engine, hidden_classes=STAFF_HIDDEN_CLASSES, idle_s=3600)
    try:
        await feed.poll()
        [subscription] = await subscribed(feed)
        assert await feed.poll() == 0
        assert drained(subscription) == []
    finally:
        await feed.close()


async def test_one_change_per_transition_in_commit_order(engine: AsyncEngine, feed: LiveFeed) -> None:
    seed = Seeder(engine)
    await seed.site("shop-a")
    [subscription] = await subscribed(feed)
    burglary = await seed.dispatch("shop-a", "burglary", zone="1", priority=2, at=at(0))
    assert await feed.poll() == 1
    assert changes(subscription) == [("raise", burglary.id, "raised")]
    async with engine.begin() as connection:
        await apply_action(connection, burglary.id, ActionRequest(Action.ACKNOWLEDGE), actor=OP1, at=at(1),
                           police=["police-110"], handler=OP1)
    async with engine.begin() as connection:
        current = await get(connection, burglary.id)
        assert current is not None
        await mark_step(connection, current, step="call-keyholder", status=MarkStatus.DONE, note=None, actor=OP1,
                        at=at(2), handler=OP1)
    assert await feed.poll() == 2
    items = drained(subscription)
    assert [(c.action, c.actor, c.dispatch.state.value, c.dispatch.handler) for c in items
            if isinstance(c, Change)] == [("acknowledge", OP1, "acknowledged", OP1), ("plan_step", OP1,
                                                                                       "acknowledged", OP1)]
    assert len(items) == 2
    first = items[0]
    assert isinstance(first, Change)
    assert first.to_json()["dispatch"]["id"] == burglary.id and first.to_json()["transition_id"] > 0
    assert await feed.poll() == 0  # nothing twice
    assert drained(subscription) == []


async def test_a_watch_list_hit_never_reaches_a_console(engine: AsyncEngine, feed: LiveFeed) -> None:
    seed = Seeder(engine)
    await seed.site("shop-a")
    [subscription] = await subscribed(feed)
    hit = await seed.watchlist_hit("shop-a", at(0))
    burglary = await seed.dispatch("shop-a", "burglary", zone="1", priority=2, at=at(1))
    await add_transition(engine, hit.id, action="escalate")
    assert await feed.poll() == 1
    assert changes(subscription) == [("raise", burglary.id, "raised")]
    assert feed.delivered == 1


async def test_every_subscriber_hears_every_change_and_a_closed_one_none(engine: AsyncEngine,
                                                                          feed: LiveFeed) -> None:
    seed = Seeder(engine)
    await seed.site("shop-a")
    first, second, leaving = await subscribed(feed, 3)
    assert feed.consoles == 3
    leaving.close()
    assert feed.consoles == 2
    raised = await seed.dispatch("shop-a", "panic", zone="1", priority=1, at=at(0))
    await feed.poll()
    assert changes(first) == changes(second) == [("raise", raised.id, "raised")]
    assert drained(leaving) == []


async def test_a_console_that_falls_behind_is_told_to_resync(engine: AsyncEngine, feed: LiveFeed) -> None:
    seed = Seeder(engine)
    await seed.site("shop-a")
    slow, keeping_up = await subscribed(feed, 2)
    dispatch = await seed.dispatch("shop-a", "burglary", zone="1", priority=2, at=at(0))
    rows = [{"dispatch_id": dispatch.id, "action": "repeat", "from_state": "raised", "to_state": "raised",
             "actor": "rule", "at": at(1), "detail": {"occurrences": n}} for n in range(SUBSCRIBER_QUEUE + 10)]
    async with engine.begin() as connection:
        await connection.execute(insert(dispatch_transitions), rows)
    delivered = 0
    while (looked := await feed.poll()) > 0:
        delivered += looked
        drained(keeping_up)  # this one reads as fast as changes come
    assert delivered == SUBSCRIBER_QUEUE + 11  # the raise and every repeat, each once
    assert slow.queue.get_nowait() is RESYNC
    # What came after the overflow follows the resync; the console reloads anyway.
    assert all(isinstance(item, Change) for item in drained(slow))
    later = await seed.dispatch("shop-a", "burglary", zone="2", priority=2, at=at(2))
    await feed.poll()
    assert changes(keeping_up) == [("raise", later.id, "raised")]


async def test_a_transition_committed_below_the_cursor_is_delivered_once(engine: AsyncEngine,
                                                                         feed: LiveFeed) -> None:
    """On PostgreSQL a transaction that took a lower id from the sequence may commit after a higher one was read."""
    seed = Seeder(engine)
    await seed.site("shop-a")
    [subscription] = await subscribed(feed)
    dispatch = await seed.dispatch("shop-a", "burglary", zone="1", priority=2, at=at(0))
    newest = await max_transition_id(engine)
    await add_transition(engine, dispatch.id, newest + 20, action="acknowledge")
    assert await feed.poll() == 2
    assert [action for action, _, _ in changes(subscription)] == ["raise", "acknowledge"]
    await add_transition(engine, dispatch.id, newest + 10, action="repeat")  # late, below the cursor
    assert await feed.poll() == 1
    items = drained(subscription)
    assert len(items) == 1 and isinstance(items[0], Change)
    assert (items[0].transition_id, items[0].action) == (newest + 10, "repeat")
    for _ in range(3):
        assert await feed.poll() == 0
    assert drained(subscription) == []
    assert feed.delivered == 3


async def test_interleaved_transactions_on_postgresql_deliver_each_change_once(
    engine: AsyncEngine, feed: LiveFeed, database_url: str
) -> None:
    """Two real transactions: the one holding the lower id commits last."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time: ids are taken in commit order there")
    seed = Seeder(engine)
    await seed.site("shop-a")
    [subscription] = await subscribed(feed)
    dispatch = await seed.dispatch("shop-a", "burglary", zone="1", priority=2, at=at(0))
    await feed.poll()
    drained(subscription)
    row = {"dispatch_id": dispatch.id, "from_state": "raised", "to_state": "raised", "actor": "rule", "at": at(1),
           "detail": {}}
    async with engine.connect() as slow:
        transaction = await slow.begin()
        lower = (await slow.execute(insert(dispatch_transitions).values(action="slow", **row)
                                    .returning(dispatch_transitions.c.id))).scalar_one()
        async with engine.begin() as quick:
            higher = (await quick.execute(insert(dispatch_transitions).values(action="quick", **row)
                                          .returning(dispatch_transitions.c.id))).scalar_one()
        assert lower < higher
        assert await feed.poll() == 1
        assert [item.action for item in drained(subscription) if isinstance(item, Change)] == ["quick"]
        await transaction.commit()
    assert await feed.poll() == 1
    assert [item.action for item in drained(subscription) if isinstance(item, Change)] == ["slow"]
    assert await feed.poll() == 0


# ---- the stream over HTTP -----------------------------------------------------------------------------------------


class Events:
    """Server-sent events read off a streaming response, comments (keep-alives) skipped."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self) -> tuple[str, dict[str, Any]]:
        async with asyncio.timeout(30):  # a missing event fails the test rather than hanging it
            return await self._next()

    async def _next(self) -> tuple[str, dict[str, Any]]:
        name, data = "", ""
        async for line in self._lines:
            if line.startswith(":"):
                continue
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
            elif line == "" and name:
                return name, json.loads(data)
        raise AssertionError("the stream ended")


async def test_the_stream_opens_with_the_queue_then_follows_each_change(engine: AsyncEngine) -> None:
    seed = Seeder(engine)
    for site in ("shop-a", "shop-b"):
        await seed.site(site)
    old_burglary = await seed.dispatch("shop-b", "burglary", zone="1", priority=2, at=at(0))
    burglary = await seed.dispatch("shop-a", "burglary", zone="3", priority=2, at=at(1))
    panic = await seed.dispatch("shop-a", "panic", zone="1", priority=1, at=at(2))
    hidden = await seed.watchlist_hit("shop-a", at(3))
    closed = await seed.dispatch("shop-b", "fire", zone="2", priority=1, at=at(-5))
    app = build_app(engine, Clock(at(10)))
    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        op1 = await log_in(http, "op1")
        await http.post(f"/api/dispatches/{closed.id}/actions", headers=op1,
                        json={"action": "resolve", "outcome": "test", "incident_class": "none"})
        async with http.stream("GET", "/api/live/dispatches", headers=op1) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-store"
            events = Events(response)
            name, snapshot = await events.next()
            assert name == "snapshot"
            # Highest priority first, then oldest; no watch-list hit, nothing resolved.
            assert [d["id"] for d in snapshot["dispatches"]] == [panic.id, old_burglary.id, burglary.id]
            assert hidden.id not in {d["id"] for d in snapshot["dispatches"]}
            assert datetime.fromisoformat(snapshot["now"]) == at(10)  # the console ticks ages from central's clock

            acted = await http.post(f"/api/dispatches/{burglary.id}/actions", headers=op1,
                                    json={"action": "acknowledge"})
            assert acted.status_code == 200
            name, change = await events.next()
            assert name == "change"
            assert (change["action"], change["actor"]) == ("acknowledge", OP1)
            assert change["dispatch"]["id"] == burglary.id and change["dispatch"]["state"] == "acknowledged"
            assert change["dispatch"]["handler"] == OP1

            marked = await http.post(f"/api/dispatches/{burglary.id}/plan/check-camera", headers=op1,
                                     json={"status": "done"})
            assert marked.status_code == 200
            name, change = await events.next()
            assert (name, change["action"], change["dispatch"]["id"]) == ("change", "plan_step", burglary.id)

            # Raised by another process sharing the database (no wake here): the feed finds it on its own.
            await seed.watchlist_hit("shop-b", at(11))
            raised = await seed.dispatch("shop-b", "burglary", zone="7", priority=2, at=at(11))
            name, change = await events.next()
            assert (name, change["action"], change["dispatch"]["id"]) == ("change", "raise", raised.id)
            assert change["transition_id"] > 0
    await app.state.live.close()


async def test_the_stream_needs_a_staff_member(engine: AsyncEngine) -> None:
    app = build_app(engine, Clock(at(10)))
    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        anonymous = await http.get("/api/live/dispatches")
        assert anonymous.status_code == 401 and "detail" in anonymous.json()
        forged = await http.get("/api/live/dispatches", headers={"Authorization": "Bearer st_forged"})
        assert forged.status_code == 401
        password = "correct horse battery"
        signed = await http.post("/api/owners", json={"phone": "13812345678", "name": "Li Lei", "password": password})
        assert signed.status_code == 201
        token = (await http.post("/api/owners/login", json={"phone": "13812345678", "password": password})).json()
        owner = await http.get("/api/live/dispatches", headers={"Authorization": f"Bearer {token['token']}"})
        assert owner.status_code == 403 and "detail" in owner.json()
        viewer = await log_in(http, "viewer")
        async with http.stream("GET", "/api/live/dispatches", headers=viewer) as response:
            assert response.status_code == 200
            name, snapshot = await Events(response).next()
            assert (name, snapshot["dispatches"]) == ("snapshot", [])
    await app.state.live.close()
