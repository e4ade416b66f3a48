"""Central's ingest: MQTT messages into the store exactly once.

Messages come on a persistent session (clean_start off, a session expiry), so the broker keeps them while central is
down. They are taken in batches; each batch is ONE transaction (readings, gaps, sites, tickets, command results, the
`on_stored` hook of the dispatch rules, refusals), and only after the commit is every message of the batch
acknowledged. A crash before the commit makes the broker deliver the batch again, and the (site, seq) key makes the
second delivery a no-op: at-least-once transport, exactly-once effect.

A failing transaction is told apart by its cause (`central.ingest_failures`): the database out of reach is retried
without end and nothing is acknowledged; anything else is retried, then the batch is split and each message retried
alone, and a message that still fails alone is set aside in `rejected_messages` with an `ingest_failed` ticket for its
site, acknowledged, and the ingest goes on for every other site.

After the acknowledgements, each site of the batch is told which of its seqs are now in the store (`stored`
confirmation, shaobing.stored): the edge deletes a reading from its outbox only then. These publishes are fired, not
awaited: a lost confirmation only makes the edge send the readings again, which the (site, seq) key absorbs.

Central's commands to sites go out on this same connection (`publish`): the broker names a connection after its user,
so a second connection of central's user would take this one over.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine

from central.ingest_batch import BatchOutcome, BatchStore, OnStored, loggable
from central.ingest_failures import is_connection_failure
from central.ingest_settings import IngestSettings
from central.model import StoredReading
from central.store import tickets
from central.store.rejected import Rejection, record_rejections
from shaobing import stored as stored_confirmation
from shaobing import topics
from shaobing.clock import Clock, SystemClock
from shaobing.envelope import Kind
from shaobing.mqtt import IncomingMessage, MqttLink, MqttSettings, PublishFailed

AfterCommit = Callable[[list[StoredReading]], Awaitable[None]]
SUBSCRIPTIONS = ((topics.SHARED_EVENTS, 1), (topics.ALL_STATES, 1), (topics.ALL_CMD_RESULTS, 1))


ALARM_TOPIC_SUFFIX = f"/event/{Kind.ALARM.value}"


@dataclass
class IngestCounters:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    states: int = 0
    command_results: int = 0
    confirmations: int = 0  # `stored` confirmations handed to the broker
    confirmations_failed: int = 0  # ... that did not reach it (the site sends those readings again)
    failed_attempts: int = 0  # transactions rolled back (the batch was retried)
    quarantined: int = 0  # messages that kept failing alone, set aside (also counted in `rejected`)


class Ingest:
    """Run with `await ingest.run()` (until cancelled) or `async with ingest:` (in a background task)."""

    def __init__(
        self,
        engine: AsyncEngine,
        mqtt: MqttSettings,
        settings: IngestSettings,
        *,
        log: logging.Logger,
        on_stored: OnStored | None = None,
        after_commit: AfterCommit | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.mqtt = mqtt.model_copy(
            update={
                "client_id": settings.client_id,
                "clean_start": False,
                "session_expiry": settings.session_expiry_s,
                "max_inflight": max(mqtt.max_inflight, settings.batch_size),
            }
        )
        self.counters = IngestCounters()
        self._log = log
        self._store = BatchStore(on_stored=on_stored, max_payload_bytes=settings.max_payload_bytes)
        self._after_commit = after_commit
        self._clock: Clock = clock or SystemClock()
        # Alarms overtake at ingest too: they wait in their own queue, which every batch takes from first.
        self._waiting_alarms: deque[IncomingMessage] = deque()
        self._waiting: deque[IncomingMessage] = deque()
        self._arrived = asyncio.Event()
        self._link: MqttLink | None = None
        self._linked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        async with MqttLink(self.mqtt, log=self._log, subscriptions=SUBSCRIPTIONS, manual_ack=True) as link:
            self._link = link
            self._linked.set()
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._receive(link), name="ingest-receive")
                    group.create_task(self._consume(link), name="ingest-batches")
            finally:
                self._link = None
                self._linked.clear()

    async def wait_connected(self) -> None:
        """Until the link is up (wrap in `asyncio.timeout` to bound it)."""
        await self._current_link()

    async def wait_subscribed(self) -> None:
        """Until the link is up and the broker granted its subscriptions (bound it with `asyncio.timeout`)."""
        link = await self._current_link()
        await link.wait_subscribed()

    async def _current_link(self) -> MqttLink:
        while True:
            await self._linked.wait()
            link = self._link
            if link is None:
                continue
            await link.wait_connected()
            if self._link is link:
                return link

    async def publish(self, topic: str, payload: bytes) -> None:
        """Publish on the ingest's own connection (QoS 1), once it is up; returns at the broker's PUBACK.

        Waits for as long as the link is down: bound it with `asyncio.timeout`. Raises `PublishFailed` when the
        connection drops first or the broker refuses the message.
        """
        link = await self._current_link()
        await link.publish(topic, payload, qos=1)

    async def __aenter__(self) -> Ingest:
        self._task = asyncio.create_task(self.run(), name=f"ingest-{self.settings.client_id}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # -- receiving and batching ---------------------------------------------------------------------------------

    async def _receive(self, link: MqttLink) -> None:
        async for message in link.messages():
            self.counters.received += 1
            (self._waiting_alarms if message.topic.endswith(ALARM_TOPIC_SUFFIX) else self._waiting).append(message)
            self._arrived.set()

    async def _next_batch(self) -> list[IncomingMessage]:
        while not self._waiting_count():
            self._arrived.clear()
            await self._arrived.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.batch_wait_ms / 1000
        while self._waiting_count() < self.settings.batch_size and (remaining := deadline - loop.time()) > 0:
            self._arrived.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
            except TimeoutError:
                break
        batch: list[IncomingMessage] = []
        for queue in (self._waiting_alarms, self._waiting):
            while queue and len(batch) < self.settings.batch_size:
                batch.append(queue.popleft())
        return batch

    def _waiting_count(self) -> int:
        return len(self._waiting_alarms) + len(self._waiting)

    async def _consume(self, link: MqttLink) -> None:
        while True:
            batch = await self._next_batch()
            await self._settle(link, batch)

    # -- one batch: commit, then acknowledge --------------------------------------------------------------------

    async def _settle(self, link: MqttLink, batch: list[IncomingMessage]) -> None:
        """Commit the batch and acknowledge it; on failure retry (nothing acknowledged, nothing lost).

        The database out of reach: retried without end. Any other failure (a rule raising, a refusal by the database,
        a passing race with another process): the batch is retried, then split into single messages, and a message
        that still fails alone is set aside (`_quarantine`) so that the rest of the district goes on.
        """
        failures = 0
        delay = self.settings.retry_min_s
        while True:
            try:
                async with self.engine.begin() as connection:
                    outcome = await self._store.process(connection, batch, now=self._clock.now())
            except Exception as exc:
                self.counters.failed_attempts += 1
                connection_lost = is_connection_failure(exc)
                if not connection_lost:
                    failures += 1
                self._log_failure(exc, failures, len(batch), connection_lost=connection_lost)
                if failures >= self.settings.split_after_failures:
                    if len(batch) > 1:
                        for message in batch:
                            await self._settle(link, [message])
                        return
                    if await self._quarantine(batch[0], exc):
                        link.ack(batch[0])
                        return
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.retry_max_s)
                continue
            for message in batch:
                link.ack(message)
            self._confirm(link, outcome)
            self._account(outcome)
            await self._notify(outcome.stored)
            return

    def _confirm(self, link: MqttLink, outcome: BatchOutcome) -> None:
        """Tell each site of the batch which of its seqs are now stored; fired, never awaited."""
        for site, seqs in outcome.committed.items():
            topic = topics.stored(site)
            try:
                future = link.start_publish(topic, stored_confirmation.encode(seqs), qos=1)
            except PublishFailed as exc:
                self._confirmation_failed(topic, len(seqs), exc)
                continue
            future.add_done_callback(functools.partial(self._confirmation_done, topic, len(seqs)))

    def _confirmation_done(self, topic: str, count: int, future: asyncio.Future[int]) -> None:
        error: BaseException | None = PublishFailed("cancelled") if future.cancelled() else future.exception()
        if error is None:
            self.counters.confirmations += 1
        else:
            self._confirmation_failed(topic, count, error)

    def _confirmation_failed(self, topic: str, count: int, error: BaseException) -> None:
        self.counters.confirmations_failed += 1
        self._log.warning("ingest: confirmation of %d stored readings on %r not delivered (%s); the site will send "
                          "them again", count, topic, error)

    def _log_failure(self, exc: Exception, failures: int, size: int, *, connection_lost: bool) -> None:
        if connection_lost:
            self._log.warning("ingest: database out of reach, batch of %d kept unacknowledged: %s", size,
                              str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)
        elif failures == 1:
            self._log.error("ingest: batch of %d not stored, will retry (not acknowledged)", size, exc_info=exc)
        else:
            self._log.warning("ingest: batch of %d failed again (attempt %d): %s", size, failures, exc)

    async def _quarantine(self, message: IncomingMessage, exc: Exception) -> bool:
        """A single message that keeps failing alone: keep it among the rejected, with the reason, and open an
        `ingest_failed` ticket for its site, so the ingest can go on. False if even that could not be recorded."""
        first_line = str(exc).splitlines()[0][:300] if str(exc) else ""
        attempts = self.settings.split_after_failures
        reason = f"failed {attempts} times alone, set aside: {type(exc).__name__}: {first_line}"
        now = self._clock.now()
        rejection = Rejection(message.topic, message.payload, reason, now)
        site = topics.site_of(message.topic)
        try:
            async with self.engine.begin() as connection:
                await record_rejections(connection, [rejection])
                if site is not None and topics.is_valid_site_id(site):
                    await tickets.open_ticket(
                        connection,
                        site=site,
                        trouble_class=tickets.INGEST_FAILED,
                        source=tickets.SOURCE_INGEST,
                        detail=f"a message on {message.topic[:200]} was set aside: {reason}"[:500],
                        now=now,
                    )
        except Exception:
            self._log.exception("ingest: could not set aside a failing message either; retrying it")
            return False
        self._log.error("ingest: message on %r set aside after failing alone: %s; payload %s",
                        message.topic, reason, loggable(message.payload, message.topic))
        self.counters.quarantined += 1
        self._account(BatchOutcome(rejected=[rejection]), logged=True)
        return True

    def _account(self, outcome: BatchOutcome, *, logged: bool = False) -> None:
        counters = self.counters
        counters.batches += 1
        counters.stored += len(outcome.stored)
        counters.duplicates += outcome.duplicates
        counters.rejected += len(outcome.rejected)
        counters.states += outcome.states
        counters.command_results += outcome.results
        for envelope in outcome.reused:
            if envelope.kind is Kind.ALARM:
                self._log.error("ingest: ALARM of site %s refused, its seq %d holds another reading (edge outbox "
                                "reset?): %r", envelope.site, envelope.seq, envelope)
        if logged:
            return
        for rejection in outcome.rejected:
            self._log.warning(
                "ingest: rejected message on %r: %s; payload %s",
                rejection.topic,
                rejection.reason,
                loggable(rejection.payload, rejection.topic),
            )

    async def _notify(self, stored: list[StoredReading]) -> None:
        if self._after_commit is None or not stored:
            return
        try:
            await self._after_commit(stored)
        except Exception:
            self._log.exception("ingest: after_commit hook failed (the batch is committed)")
