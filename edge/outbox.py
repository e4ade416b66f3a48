"""The durable outbox: every reading on disk before its device is acknowledged, drained alarms first.

SQLite in WAL mode with `synchronous=FULL`, so a committed reading survives a power cut. Durability costs one fsync
per transaction, not per reading: `submit` only queues the reading, and one writer task commits everything queued in
one transaction (group commit), then resolves every waiter. The per-site sequence number is assigned by the writer in
commit order and stored in the same transaction, so it survives restarts even when the outbox is empty.

Drain order is priority ascending (alarms first), then seq. The uplink `fetch`es rows, which are then *claimed* (in
flight) until it `remove`s them, once central confirms it stored them (or on the PUBACK, with `confirm = "broker"`),
or `release`s them to be sent again.

Bounded (see docs/edge.md): at `max_readings` the oldest reading of the least urgent class present that is not an
alarm, counting the newcomer's own class, is evicted to make room, counted and logged; central sees the seq gap. A
newcomer less urgent than everything present is refused with `OutboxRefused` instead (its device is not acknowledged
and sends it again). Alarms are never evicted: when only alarms are left, an alarm is still taken (disk permitting).

A reading may carry SQL of its own (`statements`, e.g. the arming state it sets) and an `on_commit` callback: both
take effect only when the reading itself is committed, in its transaction, so a refused or failed reading changes
nothing.

If the writer task ever dies (a fault it cannot handle), the outbox says so once in its log, refuses everything
queued and every later `submit` at once with `OutboxRefused`, and `wait_failed()` returns: the agent then stops, so
that its service manager starts it again on a fresh outbox connection (docs/edge.md, "When the outbox fails").
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from drivers.base import OutboxRefused
from shaobing import topics
from shaobing.envelope import Envelope, Kind, Priority, Reading

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY,
        priority INTEGER NOT NULL,
        kind TEXT NOT NULL,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_drain ON outbox (priority, seq)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

# Acknowledged rows are deleted in batches: a delete-only transaction waits this long for company.
DELETE_LINGER = 0.02
# SQLite's limit on bound parameters is large on this version, but chunks keep each statement small.
CHUNK = 500

Statement = tuple[str, Sequence[Any]]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    priority: int
    topic: str
    payload: bytes


@dataclass(frozen=True)
class OutboxCounts:
    pending: dict[int, int]
    total: int
    in_flight: int
    evicted: int
    refused: int
    last_seq: int
    commits: int


@dataclass
class _Submission:
    reading: Reading
    future: asyncio.Future[int]
    statements: Sequence[Statement] = ()
    on_commit: Callable[[int], None] | None = None


@dataclass
class _Batch:
    submissions: list[_Submission] = field(default_factory=list)
    statements: list[tuple[Sequence[Statement], asyncio.Future[None]]] = field(default_factory=list)
    deletes: set[int] = field(default_factory=set)

    def empty(self) -> bool:
        return not (self.submissions or self.statements or self.deletes)


class Outbox:
    """One site's outbox in one SQLite file. Use as `async with Outbox(...) as outbox:`."""

    def __init__(
        self,
        path: Path,
        site: str,
        *,
        log: logging.Logger,
        max_readings: int = 1_000_000,
        commit_interval: float = 0.002,
    ) -> None:
        if not topics.is_valid_site_id(site):
            raise ValueError(f"not a valid site id: {site!r}")
        if max_readings < 1:
            raise ValueError("max_readings must be at least 1")
        self.path = path
        self.site = site
        self.max_readings = max_readings
        self.commit_interval = commit_interval
        self._log = log
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()  # one transaction or read at a time: reads never see an uncommitted batch
        self._batch = _Batch()
        self._work = asyncio.Event()
        self._urgent = asyncio.Event()  # submissions or statements waiting (deletes alone can linger)
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self._pending: Counter[int] = Counter()
        self._claimed: set[int] = set()
        # Per priority, the highest seq handed out: the next fetch reads on from there, so thousands of rows in flight
        # or awaiting central's confirmation are not read and skipped again at every refill. New rows always have
        # higher seqs; a release moves the cursors back.
        self._cursor: dict[int, int] = {}
        # The lowest seq-1 released while a fetch was reading: that fetch must not leave its cursor above it.
        self._rewound_during_fetch: int | None = None
        self._last_seq = 0
        self._evicted = 0
        self._refused = 0
        self._commits = 0
        self._listeners: list[Callable[[int], None]] = []
        self._failure: str | None = None
        self._failed = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def __aenter__(self) -> Outbox:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=FULL")
            for statement in SCHEMA:
                await db.execute(statement)
            meta: dict[str, str] = {str(key): str(value)
                                    for key, value in await db.execute_fetchall("SELECT key, value FROM meta")}
            stored_site = meta.get("site")
            if stored_site is None:
                await db.execute("INSERT INTO meta (key, value) VALUES ('site', ?)", (self.site,))
            elif stored_site != self.site:
                raise ValueError(f"{self.path} is the outbox of site {stored_site!r}, not {self.site!r}")
            self._last_seq = int(meta.get("last_seq", 0))
            self._evicted = int(meta.get("evicted", 0))
            rows = await db.execute_fetchall("SELECT priority, COUNT(*) FROM outbox GROUP BY priority")
            self._pending = Counter({int(priority): int(count) for priority, count in rows})
            max_seq = await db.execute_fetchall("SELECT MAX(seq) FROM outbox")
            self._last_seq = max(self._last_seq, int(next(iter(max_seq))[0] or 0))
        except BaseException:
            await db.close()
            raise
        self._db = db
        self._closing = False
        self._failure = None
        self._failed.clear()
        self._writer = asyncio.create_task(self._write_loop(), name=f"outbox-writer-{self.site}")
        self._writer.add_done_callback(self._writer_stopped)
        self._log.info("outbox %s: %d readings pending, last seq %d", self.path, self.total, self._last_seq)

    async def close(self) -> None:
        """Commit everything queued, then close the file."""
        writer, self._writer = self._writer, None
        if writer is not None:
            self._closing = True
            self._work.set()
            self._urgent.set()
            await asyncio.wait([writer])  # a writer that died has been logged already: closing goes on
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    # -- what drivers and the agent call ------------------------------------------------------------------------

    def submit_nowait(
        self,
        reading: Reading,
        *,
        statements: Sequence[Statement] = (),
        on_commit: Callable[[int], None] | None = None,
    ) -> asyncio.Future[int]:
        """Queue a reading for the next group commit; the future gives its seq once it is on disk.

        `statements` run in the reading's transaction and `on_commit(seq)` is called before the future resolves,
        both only if the reading is committed (not when it is refused or the commit fails).
        """
        self._check_open()
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._batch.submissions.append(_Submission(reading, future, statements, on_commit))
        self._work.set()
        self._urgent.set()
        return future

    async def submit(
        self,
        reading: Reading,
        *,
        statements: Sequence[Statement] = (),
        on_commit: Callable[[int], None] | None = None,
    ) -> int:
        """Commit the reading durably and return its seq. Raises `OutboxRefused` when it cannot be taken."""
        return await self.submit_nowait(reading, statements=statements, on_commit=on_commit)

    def write_nowait(self, statements: Sequence[Statement]) -> asyncio.Future[None]:
        """Queue SQL for the next group commit (schema, command outcomes); `OutboxRefused` when it cannot be."""
        self._check_open()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.statements.append((statements, future))
        self._work.set()
        self._urgent.set()
        return future

    async def write(self, statements: Sequence[Statement]) -> None:
        await self.write_nowait(statements)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read committed data (never a batch half-written)."""
        db = self._require_db()
        async with self._lock:
            rows = await db.execute_fetchall(sql, params)
        return [tuple(row) for row in rows]

    # -- what the uplink calls ----------------------------------------------------------------------------------

    async def fetch(self, limit: int) -> list[OutboxRow]:
        """Claim up to `limit` rows that are not in flight, in drain order (priority, then seq)."""
        if limit <= 0:
            return []
        db = self._require_db()
        found: list[OutboxRow] = []
        async with self._lock:
            claimed = self._claimed
            for priority in sorted(p for p, count in self._pending.items() if count > 0):
                while len(found) < limit:
                    after = self._cursor.get(priority, 0)
                    rows = list(await db.execute_fetchall(
                        "SELECT seq, topic, payload FROM outbox WHERE priority = ? AND seq > ? ORDER BY seq LIMIT ?",
                        (priority, after, limit - len(found)),
                    ))
                    if not rows:
                        break
                    found.extend(OutboxRow(int(seq), priority, str(topic), bytes(payload))
                                 for seq, topic, payload in rows if seq not in claimed)
                    self._cursor[priority] = int(rows[-1][0])
                if len(found) >= limit:
                    break
            claimed.update(row.seq for row in found)
            if self._rewound_during_fetch is not None:
                back_to, self._rewound_during_fetch = self._rewound_during_fetch, None
                self._rewind(back_to)
        return found

    def remove(self, seqs: Iterable[int]) -> None:
        """Delete acknowledged rows (in the next commit); they stay claimed until then."""
        self._batch.deletes.update(seqs)
        self._work.set()

    def release(self, seqs: Iterable[int]) -> None:
        """Rows that were not acknowledged: back into the drain, to be fetched again."""
        released = [seq for seq in seqs if seq in self._claimed and seq not in self._batch.deletes]
        self._claimed.difference_update(released)
        if released:
            back_to = min(released) - 1
            self._rewind(back_to)
            if self._lock.locked():  # a fetch may be between its SELECT and moving its cursor
                earlier = self._rewound_during_fetch
                self._rewound_during_fetch = back_to if earlier is None else min(earlier, back_to)
            self._notify(min(self._pending, default=int(Priority.ALARM)))

    def _rewind(self, back_to: int) -> None:
        self._cursor = {priority: min(after, back_to) for priority, after in self._cursor.items()}

    def add_listener(self, callback: Callable[[int], None]) -> None:
        """Called with the most urgent priority committed, after each commit that added rows (and on releases).
        A listener that raises is logged; the writer carries on."""
        self._listeners.append(callback)

    @property
    def failure(self) -> str | None:
        """Why the writer stopped, when it died; None while it works (or after a normal close)."""
        return self._failure

    async def wait_failed(self) -> str:
        """Return (with the reason) once the writer has died; never while it works."""
        await self._failed.wait()
        return self._failure or "the outbox writer stopped"

    # -- counts ---------------------------------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def total(self) -> int:
        return sum(self._pending.values())

    @property
    def in_flight(self) -> int:
        return len(self._claimed)

    def counts(self) -> OutboxCounts:
        return OutboxCounts(
            pending={priority: count for priority, count in sorted(self._pending.items()) if count},
            total=self.total,
            in_flight=len(self._claimed),
            evicted=self._evicted,
            refused=self._refused,
            last_seq=self._last_seq,
            commits=self._commits,
        )

    # -- the writer ---------------------------------------------------------------------------------------------

    def _require_db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the outbox is not open")
        return self._db

    def _check_open(self) -> None:
        if self._failure is not None:
            raise OutboxRefused(self._failure)
        writer = self._writer
        if writer is None or self._closing:
            raise OutboxRefused("the outbox is closed")
        if writer.done():  # died a moment ago; its done callback is about to log it
            raise OutboxRefused("the outbox writer stopped")

    def _writer_stopped(self, writer: asyncio.Task[None]) -> None:
        error = None if writer.cancelled() else writer.exception()
        if self._closing and error is None and not writer.cancelled():
            return  # closed normally
        reason = "cancelled" if error is None else f"{type(error).__name__}: {error}"
        self._failure = f"the outbox writer stopped ({reason})"
        self._log.error("outbox %s: %s; refusing every reading from now on", self.path, self._failure,
                        exc_info=error)
        batch, self._batch = self._batch, _Batch()
        refusal = OutboxRefused(self._failure)
        for submission in batch.submissions:
            if not submission.future.done():
                submission.future.set_exception(refusal)
        for _, future in batch.statements:
            if not future.done():
                future.set_exception(refusal)
        self._failed.set()

    def _notify(self, priority: int) -> None:
        for listener in self._listeners:
            try:
                listener(priority)
            except Exception:
                self._log.exception("outbox %s: a listener failed on a commit; the writer carries on", self.path)

    async def _write_loop(self) -> None:
        while True:
            await self._work.wait()
            if not self._urgent.is_set() and not self._closing:
                try:
                    async with asyncio.timeout(DELETE_LINGER):
                        await self._urgent.wait()
                except TimeoutError:
                    pass
            if self.commit_interval > 0 and not self._closing:
                await asyncio.sleep(self.commit_interval)  # the group-commit window: let more readings join
            self._work.clear()
            self._urgent.clear()
            batch, self._batch = self._batch, _Batch()
            if not batch.empty():
                await self._commit(batch)
            if self._closing and self._batch.empty():
                return

    async def _commit(self, batch: _Batch) -> None:
        db = self._require_db()
        async with self._lock:
            try:
                await db.execute("BEGIN IMMEDIATE")
                outcome = await self._apply(db, batch)
                await db.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                await self._rollback(db)
                self._fail(batch, exc)
                return
            except BaseException:
                await self._rollback(db)
                self._fail(batch, OutboxRefused("the outbox writer stopped"))
                raise
            self._commits += 1
            self._claimed.difference_update(batch.deletes)
            self._claimed.difference_update(outcome.evicted_seqs)
        self._settle(batch, outcome)

    async def _rollback(self, db: aiosqlite.Connection) -> None:
        try:
            await db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            self._log.error("outbox %s: rollback failed: %s", self.path, exc)

    def _fail(self, batch: _Batch, exc: BaseException) -> None:
        self._log.error("outbox %s: commit of %d readings failed: %s", self.path, len(batch.submissions), exc)
        refusal = exc if isinstance(exc, OutboxRefused) else OutboxRefused(f"outbox write failed: {exc}")
        for submission in batch.submissions:
            if not submission.future.done():
                submission.future.set_exception(refusal)
        for _, future in batch.statements:
            if not future.done():
                future.set_exception(refusal)
        self._batch.deletes.update(batch.deletes)  # acknowledged rows: try again with the next commit
        if batch.deletes:
            self._work.set()

    async def _apply(self, db: aiosqlite.Connection, batch: _Batch) -> _Outcome:
        outcome = _Outcome(pending=Counter(self._pending), last_seq=self._last_seq)
        for statements, _ in batch.statements:
            for sql, params in statements:
                await db.execute(sql, params)
        deletes = sorted(batch.deletes)
        for start in range(0, len(deletes), CHUNK):
            chunk = deletes[start:start + CHUNK]
            marks = ",".join("?" * len(chunk))
            removed = await db.execute_fetchall(f"DELETE FROM outbox WHERE seq IN ({marks}) RETURNING priority", chunk)
            for (priority,) in removed:
                outcome.pending[int(priority)] -= 1
        in_file = Counter(outcome.pending)
        self._plan(batch, outcome)
        for priority, count in sorted(outcome.evict.items()):
            from_file = min(count, in_file[priority])
            if from_file:
                gone = await db.execute_fetchall(
                    "DELETE FROM outbox WHERE seq IN "
                    "(SELECT seq FROM outbox WHERE priority = ? ORDER BY seq LIMIT ?) RETURNING seq",
                    (priority, from_file),
                )
                outcome.evicted_seqs.extend(int(seq) for (seq,) in gone)
            # Beyond what the file holds of that class, the batch's own oldest readings of it make the room.
            excess = count - from_file
            if excess:
                outcome.evicted_in_batch.update([row[0] for row in outcome.rows if row[1] == priority][:excess])
        rows = [row for row in outcome.rows if row[0] not in outcome.evicted_in_batch]
        await db.executemany("INSERT INTO outbox (seq, priority, kind, topic, payload) VALUES (?, ?, ?, ?, ?)", rows)
        for submission, _ in outcome.accepted:  # in seq order: a later reading's state wins
            for sql, params in submission.statements:
                await db.execute(sql, params)
        await db.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [("last_seq", str(outcome.last_seq)), ("evicted", str(self._evicted + sum(outcome.evict.values())))],
        )
        return outcome

    def _plan(self, batch: _Batch, outcome: _Outcome) -> None:
        """Number the batch in order, making room by the eviction policy; decide which readings are refused."""
        pending = outcome.pending
        total = sum(pending.values())
        for submission in batch.submissions:
            reading = submission.reading
            priority = reading.effective_priority
            try:
                payload = Envelope.of(self.site, outcome.last_seq + 1, reading).to_json()
            except (TypeError, ValueError, RecursionError) as exc:  # hostile data must not stop the writer
                outcome.refused.append((submission, f"reading cannot be encoded: {exc!r}"[:500]))
                continue
            if total >= self.max_readings:
                present = [p for p, count in pending.items() if count > 0 and p > Priority.ALARM]
                least_urgent = max(present, default=None)
                if priority > Priority.ALARM and (least_urgent is None or priority >= least_urgent):
                    # The newcomer is the least urgent reading present: it may only push out its own class.
                    if pending[priority] <= 0:
                        what = "alarms" if least_urgent is None else "more urgent readings"
                        outcome.refused.append((submission, (
                            f"outbox full of {what} ({self.max_readings} readings): "
                            f"not taking a {reading.kind.value} reading")))
                        continue
                    least_urgent = priority
                if least_urgent is not None:
                    pending[least_urgent] -= 1
                    total -= 1
                    outcome.evict[least_urgent] += 1
            outcome.last_seq += 1
            outcome.rows.append((outcome.last_seq, priority, reading.kind.value,
                                 topics.event(self.site, reading.kind), payload))
            outcome.accepted.append((submission, outcome.last_seq))
            pending[priority] += 1
            total += 1

    def _settle(self, batch: _Batch, outcome: _Outcome) -> None:
        self._pending = +outcome.pending
        self._last_seq = outcome.last_seq
        evicted_now = sum(outcome.evict.values())
        if evicted_now:
            self._evicted += evicted_now
            detail = ", ".join(f"{count} of priority {priority}" for priority, count in sorted(outcome.evict.items()))
            self._log.warning("outbox %s full (max_readings=%d): evicted the oldest readings: %s; %d evicted in all",
                              self.path, self.max_readings, detail, self._evicted)
        for submission, reason in outcome.refused:
            self._refused += 1
            self._log.warning("outbox %s: refused a reading from %r: %s; reading=%s", self.path,
                              submission.reading.device, reason, _shown(submission.reading))
            if not submission.future.done():
                submission.future.set_exception(OutboxRefused(reason))
        for submission, seq in outcome.accepted:
            if submission.on_commit is not None:
                try:
                    submission.on_commit(seq)
                except Exception:
                    self._log.exception("outbox %s: the commit callback of seq %d failed; the writer carries on",
                                        self.path, seq)
            if not submission.future.done():
                submission.future.set_result(seq)
        for _, future in batch.statements:
            if not future.done():
                future.set_result(None)
        if outcome.rows:
            self._notify(min(row[1] for row in outcome.rows))


@dataclass
class _Outcome:
    pending: Counter[int]
    last_seq: int
    evict: Counter[int] = field(default_factory=Counter)
    evicted_seqs: list[int] = field(default_factory=list)
    evicted_in_batch: set[int] = field(default_factory=set)
    rows: list[tuple[int, int, str, str, bytes]] = field(default_factory=list)
    accepted: list[tuple[_Submission, int]] = field(default_factory=list)
    refused: list[tuple[_Submission, str]] = field(default_factory=list)


PERSONAL_FIELDS = ("id_number", "name", "name_en", "address", "birth_date", "pass_number", "photo_wlt")


def _starred(key: str, value: Any) -> Any:
    if key == "id_number" and isinstance(value, str) and len(value) > 10:
        return value[:6] + "*" * (len(value) - 10) + value[-4:]  # region and last four: records told apart
    return "***"


def _shown(reading: Reading) -> str:
    """The reading's repr for the log (pasteable into a test), or a note when it is too deeply nested to show; an
    id_read's personal data starred."""
    if reading.kind is Kind.ID_READ:
        reading = dataclasses.replace(reading, data={key: _starred(key, value) if key in PERSONAL_FIELDS else value
                                                     for key, value in reading.data.items()})
    try:
        return repr(reading)
    except RecursionError:
        return f"<{reading.kind.value} reading from {reading.device!r}, too deeply nested to show>"
