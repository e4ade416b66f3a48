"""Central's ingest: MQTT messages into the store exactly once.

Messages come on a persistent session (clean_start off, a session expiry), so the broker keeps them while central is
down. They are taken in batches; each batch is ONE transaction (readings, gaps, sites, tickets, command results, the
`on_stored` hook of the dispatch rules, refusals), and only after the commit is every message of the batch
acknowledged. A crash before the commit makes the broker deliver the batch again, and the (site, seq) key makes the
second delivery a no-op: at-least-once transport, exactly-once effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from types import TracebackType

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from central.ingest_batch import BatchOutcome, BatchStore, OnStored, loggable
from central.ingest_settings import IngestSettings
from central.model import StoredReading
from central.store.rejected import Rejection, record_rejections
from shaobing import topics
from shaobing.clock import Clock, SystemClock
from shaobing.mqtt import IncomingMessage, MqttLink, MqttSettings

AfterCommit = Callable[[list[StoredReading]], Awaitable[None]]
SUBSCRIPTIONS = ((topics.SHARED_EVENTS, 1), (topics.ALL_STATES, 1), (topics.ALL_CMD_RESULTS, 1))


@dataclass
class IngestCounters:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    states: int = 0
    command_results: int = 0
    failed_attempts: int = 0  # transactions rolled back (the batch was retried)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


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
        await self._linked.wait()
        assert self._link is not None
        await self._link.wait_connected()

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
            self._waiting.append(message)
            self._arrived.set()

    async def _next_batch(self) -> list[IncomingMessage]:
        while not self._waiting:
            self._arrived.clear()
            await self._arrived.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.batch_wait_ms / 1000
        while len(self._waiting) < self.settings.batch_size and (remaining := deadline - loop.time()) > 0:
            self._arrived.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
            except TimeoutError:
                break
        count = min(len(self._waiting), self.settings.batch_size)
        return [self._waiting.popleft() for _ in range(count)]

    async def _consume(self, link: MqttLink) -> None:
        while True:
            batch = await self._next_batch()
            await self._settle(link, batch)

    # -- one batch: commit, then acknowledge --------------------------------------------------------------------

    async def _settle(self, link: MqttLink, batch: list[IncomingMessage]) -> None:
        """Commit the batch and acknowledge it; on failure retry (nothing acknowledged, nothing lost)."""
        failures = 0
        delay = self.settings.retry_min_s
        while True:
            try:
                async with self.engine.begin() as connection:
                    outcome = await self._store.process(connection, batch, now=self._clock.now())
            except Exception as exc:
                failures += 1
                self.counters.failed_attempts += 1
                self._log_failure(exc, failures, len(batch))
                if failures >= self.settings.split_after_failures:
                    if len(batch) > 1:
                        for message in batch:
                            await self._settle(link, [message])
                        return
                    if isinstance(exc, DataError | IntegrityError) and await self._refuse_unstorable(batch[0], exc):
                        link.ack(batch[0])
                        return
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.retry_max_s)
                continue
            for message in batch:
                link.ack(message)
            self._account(outcome)
            await self._notify(outcome.stored)
            return

    def _log_failure(self, exc: Exception, failures: int, size: int) -> None:
        if failures == 1:
            self._log.error("ingest: batch of %d not stored, will retry (not acknowledged)", size, exc_info=exc)
        else:
            self._log.warning("ingest: batch of %d failed again (attempt %d): %s", size, failures, exc)

    async def _refuse_unstorable(self, message: IncomingMessage, exc: Exception) -> bool:
        """A single message the database keeps refusing: keep it among the rejected, so ingest can go on."""
        reason = f"refused by the database: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        rejection = Rejection(message.topic, message.payload, reason, self._clock.now())
        try:
            async with self.engine.begin() as connection:
                await record_rejections(connection, [rejection])
        except Exception:
            self._log.exception("ingest: could not record a refused message either")
            return False
        self._account(BatchOutcome(rejected=[rejection]))
        return True

    def _account(self, outcome: BatchOutcome) -> None:
        counters = self.counters
        counters.batches += 1
        counters.stored += len(outcome.stored)
        counters.duplicates += outcome.duplicates
        counters.rejected += len(outcome.rejected)
        counters.states += outcome.states
        counters.command_results += outcome.results
        for rejection in outcome.rejected:
            self._log.warning(
                "ingest: rejected message on %r: %s; payload %s",
                rejection.topic,
                rejection.reason,
                loggable(rejection.payload),
            )

    async def _notify(self, stored: list[StoredReading]) -> None:
        if self._after_commit is None or not stored:
            return
        try:
            await self._after_commit(stored)
        except Exception:
            self._log.exception("ingest: after_commit hook failed (the batch is committed)")
