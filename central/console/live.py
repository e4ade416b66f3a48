"""The live feed of dispatch changes that open consoles follow.

Every change to a dispatch (raised, a repeat folded in, each operator action, an escalation by the timer) writes a row
to `dispatch_transitions` in the change's own transaction. The feed tails that table: one query per wake-up for the
whole process, whatever the number of consoles, and it sees changes committed by any central process sharing the
database. It is woken at once after this process commits a change (`wake`) and looks anyway every `idle_s`, for the
changes of other processes.

Transition ids come from a sequence: on PostgreSQL a transaction that took a lower id may commit after a higher one
was read. The feed re-reads a margin below its cursor and skips what it has sent, so such a row is still delivered.

A console that cannot keep up (its queue full) is told to load the queue again rather than being sent a partial
picture.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.dispatch.repository import Dispatch, dispatch_from_row
from central.store.schema import dispatch_transitions, dispatches

REREAD_MARGIN = 64  # ids below the cursor looked at again (transactions committing out of id order)
BATCH = 500
SUBSCRIBER_QUEUE = 1000


@dataclass(frozen=True, slots=True)
class Change:
    """One transition of one dispatch, with the dispatch as it is after it."""

    transition_id: int
    action: str
    actor: str
    dispatch: Dispatch

    def to_json(self) -> dict[str, Any]:
        return {"transition_id": self.transition_id, "action": self.action, "actor": self.actor,
                "dispatch": self.dispatch.to_json()}


RESYNC = object()  # put on a subscriber's queue when it fell behind: reload the queue


class Subscription:
    def __init__(self, feed: LiveFeed) -> None:
        self._feed = feed
        self.queue: asyncio.Queue[Change | object] = asyncio.Queue(SUBSCRIBER_QUEUE)

    def offer(self, change: Change) -> None:
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)

    def close(self) -> None:
        self._feed._subscribers.discard(self)


class LiveFeed:
    def __init__(self, engine: AsyncEngine, *, hidden_classes: Iterable[str] = (), idle_s: float = 1.0,
                 logger: logging.Logger | None = None) -> None:
        self._engine = engine
        self._hidden = frozenset(hidden_classes)
        self._idle = idle_s
        self._log = logger or logging.getLogger("shaobing.central.live")
        self._wake = asyncio.Event()
        self._subscribers: set[Subscription] = set()
        self._cursor: int | None = None
        self._sent: deque[int] = deque(maxlen=4 * REREAD_MARGIN)
        self._sent_set: set[int] = set()
        self.delivered = 0
        self._task: asyncio.Task[None] | None = None
        # Set once the cursor stands: a console reads its snapshot after this, so a change committed in between is
        # sent to it rather than counted as history.
        self.ready = asyncio.Event()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def wake(self) -> None:
        """A change was committed in this process: look now."""
        self._wake.set()

    def subscribe(self) -> Subscription:
        """Follow the changes from now on; the feed starts reading with its first subscriber."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="live-feed")
        subscription = Subscription(self)
        self._subscribers.add(subscription)
        return subscription

    @property
    def consoles(self) -> int:
        return len(self._subscribers)

    async def run(self) -> None:
        while self._cursor is None:  # the cursor starts at the newest change: consoles load the queue when they connect
            try:
                await self.poll()
            except Exception:
                self._log.exception("live feed: reading the newest dispatch change failed")
                await asyncio.sleep(self._idle)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._idle):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.poll()
            except Exception:  # the database away for a moment: the next wake-up tries again
                self._log.exception("live feed: reading dispatch changes failed")
                await asyncio.sleep(self._idle)

    async def poll(self) -> int:
        """Read the changes committed since the last look and hand them to every subscriber; how many."""
        async with self._engine.connect() as connection:
            if self._cursor is None:
                latest = int((await connection.execute(select(func.max(dispatch_transitions.c.id)))).scalar() or 0)
                # What is already there counts as sent: the re-read margin must not replay history to the consoles.
                for transition_id in (await connection.execute(
                        select(dispatch_transitions.c.id).where(dispatch_transitions.c.id > latest - REREAD_MARGIN,
                                                                dispatch_transitions.c.id <= latest)
                        .order_by(dispatch_transitions.c.id))).scalars():
                    self._remember(int(transition_id))
                self._cursor = latest
                self.ready.set()
                return 0
            rows = (await connection.execute(
                select(dispatch_transitions.c.id.label("transition_id"), dispatch_transitions.c.action,
                       dispatch_transitions.c.actor, dispatches)
                .join(dispatches, dispatches.c.id == dispatch_transitions.c.dispatch_id)
                .where(dispatch_transitions.c.id > self._cursor - REREAD_MARGIN)
                .order_by(dispatch_transitions.c.id)
                .limit(BATCH + REREAD_MARGIN)
            )).all()
        changes: list[Change] = []
        for row in rows:
            transition_id = int(row.transition_id)
            if transition_id in self._sent_set:
                continue
            self._remember(transition_id)
            self._cursor = max(self._cursor, transition_id)
            if row.alarm_class in self._hidden:
                continue  # a watch-list hit: the staff's consoles never hear of it
            changes.append(Change(transition_id, row.action, row.actor, dispatch_from_row(row)))
        for change in changes:
            for subscription in list(self._subscribers):
                subscription.offer(change)
        self.delivered += len(changes)
        if len(rows) >= BATCH + REREAD_MARGIN:
            self._wake.set()  # more than one batch waiting
        return len(changes)

    def _remember(self, transition_id: int) -> None:
        if len(self._sent) == self._sent.maxlen:
            self._sent_set.discard(self._sent[0])
        self._sent.append(transition_id)
        self._sent_set.add(transition_id)

