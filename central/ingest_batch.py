"""One batch of MQTT messages into the store, in the caller's transaction: readings, gaps, sites, tickets, results.

No I/O besides the database connection, so the MQTT loop, the tests and the benchmark all drive the same code.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from central.ingest_checks import Rejected, TopicKind, classify_topic, parse_event
from central.model import StoredReading
from central.store import commands, gaps, readings, sites, tickets
from central.store.rejected import Rejection, record_rejections
from shaobing import topics
from shaobing.envelope import Envelope, Kind

OnStored = Callable[[AsyncConnection, list[StoredReading]], Awaitable[None]]
LOGGED_PAYLOAD_CHARS = 300


class Message(Protocol):
    """What the batch needs of an MQTT message (shaobing.mqtt.IncomingMessage fits)."""

    @property
    def topic(self) -> str: ...

    @property
    def payload(self) -> bytes: ...

    @property
    def retain(self) -> bool: ...

    # A `retain` flag is read when the message has one (a retained state is old news, not the site speaking now).


@dataclass
class BatchOutcome:
    stored: list[StoredReading] = field(default_factory=list)  # alarms first (priority, then arrival)
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    states: int = 0
    results: int = 0
    ignored: int = 0
    reused: list[Envelope] = field(default_factory=list)  # refused: their (site, seq) holds another reading
    seq_resets: list[str] = field(default_factory=list)  # sites whose state announced a seq below the stored one
    # Per site, the seqs of the batch's readings that are in the store once it commits (stored or duplicates, not
    # refused): what the site is told in its `stored` confirmation.
    committed: dict[str, list[int]] = field(default_factory=dict)


# Personal data in an id_read kept out of the log: these fields' values starred, an ID number's birth date and
# sequence starred wherever it stands (a payload refused may not even be JSON).
_PERSONAL_FIELD = re.compile(rb'"(name|name_en|address|birth_date|pass_number|photo_wlt)"(\s*:\s*)'
                             rb'"(?:[^"\\]|\\.)*(?:"|\\?\Z)')
_ID_NUMBER = re.compile(rb"(?<![0-9A-Za-z])([0-9A-Za-z]{6})[0-9A-Za-z]{5,8}([0-9A-Za-z]{4})(?![0-9A-Za-z])")


def _redacted(payload: bytes) -> bytes:
    payload = _PERSONAL_FIELD.sub(rb'"\1"\2"***"', payload)
    return _ID_NUMBER.sub(lambda m: m.group(1) + b"*" * (len(m.group(0)) - 10) + m.group(2), payload)


def loggable(payload: bytes, topic: str = "") -> str:
    """The payload as a Python literal that can be pasted into a test, cut to a sane length; an id_read's personal
    data starred (north star: ID numbers masked in logs)."""
    if topic.rsplit("/", 1)[-1] == Kind.ID_READ.value:
        payload = _redacted(payload)
    shown = repr(payload[:LOGGED_PAYLOAD_CHARS])
    return shown if len(payload) <= LOGGED_PAYLOAD_CHARS else f"{shown}... ({len(payload)} bytes)"


@dataclass
class BatchStore:
    on_stored: OnStored | None = None
    max_payload_bytes: int = 65536

    async def process(self, connection: AsyncConnection, messages: Sequence[Message], *, now: datetime) -> BatchOutcome:
        """Everything a batch changes, inside the caller's transaction (the caller commits, then acknowledges).

        Rejections are recorded but not logged here: the transaction may still roll back and be retried.
        """
        outcome = BatchOutcome()
        envelopes: list[Envelope] = []
        states: list[tuple[str, Message]] = []
        results: list[tuple[str, Message]] = []
        for message in messages:
            try:
                info = classify_topic(message.topic)
                if info.kind is TopicKind.EVENT:
                    envelopes.append(parse_event(info, message.payload, max_payload_bytes=self.max_payload_bytes))
                elif info.kind is TopicKind.STATE:
                    states.append((info.site, message))
                else:
                    results.append((info.site, message))
            except Rejected as exc:
                outcome.rejected.append(Rejection(message.topic, message.payload, str(exc), now))

        stored = await readings.insert_readings(connection, envelopes, stored_at=now)
        reused = await readings.reused_seqs(connection, envelopes, stored)
        outcome.duplicates = len(envelopes) - len(stored) - len(reused)
        await self._refuse_reused(connection, reused, now, outcome)
        refused_keys = {(envelope.site, envelope.seq) for envelope in reused}
        for envelope in envelopes:
            if (envelope.site, envelope.seq) not in refused_keys:
                outcome.committed.setdefault(envelope.site, []).append(envelope.seq)
        previous_last_seq = await sites.apply_readings(connection, stored, now=now)
        seqs_by_site: dict[str, list[int]] = {}
        for reading in stored:
            seqs_by_site.setdefault(reading.envelope.site, []).append(reading.envelope.seq)
        for site, seqs in seqs_by_site.items():
            await gaps.record_arrivals(connection, site, previous_last_seq[site], seqs, now=now)
        await tickets.apply_trouble_readings(connection, stored, now=now)
        tested = sorted({(r.envelope.site, r.envelope.device) for r in stored if sites.is_test_signal(r.envelope)})
        for site in sorted({site for site, _ in tested}):
            await tickets.close_tickets(
                connection, site=site, trouble_class=tickets.COMM_FAIL, source=tickets.SOURCE_SUPERVISION, now=now
            )
        for site, device in tested:
            await tickets.close_tickets(
                connection,
                site=site,
                device=device,
                trouble_class=tickets.COMM_FAIL,
                source=tickets.SOURCE_SUPERVISION,
                now=now,
            )

        for site, message in states:
            await self._state(connection, site, message, now, outcome, previous_last_seq.get(site))
        for site, message in results:
            await self._result(connection, site, message, now, outcome)

        await record_rejections(connection, outcome.rejected)
        order = {id(reading): index for index, reading in enumerate(stored)}
        outcome.stored = sorted(stored, key=lambda reading: (reading.envelope.priority, order[id(reading)]))
        if self.on_stored is not None and outcome.stored:
            await self.on_stored(connection, outcome.stored)
        return outcome

    async def _refuse_reused(
        self, connection: AsyncConnection, reused: list[Envelope], now: datetime, outcome: BatchOutcome
    ) -> None:
        """Readings under a (site, seq) that holds another reading: refused loudly, one ticket per site."""
        for envelope in reused:
            reason = (
                f"seq {envelope.seq} of site {envelope.site} already holds a different reading (edge outbox reset?)"
            )
            topic = topics.event(envelope.site, envelope.kind)
            outcome.rejected.append(Rejection(topic, envelope.to_json(), reason, now))
            outcome.reused.append(envelope)
        for site in sorted({envelope.site for envelope in reused}):
            first = min(envelope.seq for envelope in reused if envelope.site == site)
            await _open_seq_reused(
                connection, site, now,
                f"seq {first} came again with a different reading: the edge numbers its readings anew "
                "(outbox reset?); its readings are refused until its seq passes the stored ones",
            )

    async def _state(
        self,
        connection: AsyncConnection,
        site: str,
        message: Message,
        now: datetime,
        outcome: BatchOutcome,
        last_seq_before_batch: int | None,
    ) -> None:
        if not message.payload:
            outcome.ignored += 1  # a cleared retained state: nothing to record
            return
        try:
            state = sites.parse_state(message.payload)
        except sites.StateError as exc:
            outcome.rejected.append(Rejection(message.topic, message.payload, f"bad state: {exc}", now))
            return
        applied = await sites.apply_state(connection, site, state, now=now)
        stored_last_seq = applied.last_seq if last_seq_before_batch is None else last_seq_before_batch
        # Only a live online announcement counts: a retained copy or the will carries an older counter.
        live = not message.retain
        if state.online and live and state.last_seq is not None and state.last_seq < stored_last_seq:
            await _open_seq_reused(connection, site, now,
                                   f"the site announced last_seq {state.last_seq}, below the {stored_last_seq} "
                                   "central has stored (edge outbox reset?)")
            outcome.seq_resets.append(site)
        if state.online:
            await tickets.close_tickets(
                connection, site=site, trouble_class=tickets.COMM_FAIL, source=tickets.SOURCE_STATE, now=now
            )
        else:
            await tickets.open_ticket(
                connection,
                site=site,
                trouble_class=tickets.COMM_FAIL,
                source=tickets.SOURCE_STATE,
                detail="site offline",
                now=now,
            )
        outcome.states += 1

    async def _result(
        self, connection: AsyncConnection, site: str, message: Message, now: datetime, outcome: BatchOutcome
    ) -> None:
        try:
            result = commands.parse_result(message.payload)
        except commands.CommandResultError as exc:
            outcome.rejected.append(Rejection(message.topic, message.payload, f"bad command result: {exc}", now))
            return
        if not await commands.record_result(connection, site=site, result=result, now=now):
            reason = f"result for command {result.cmd_id!r} that was not issued to this site"
            outcome.rejected.append(Rejection(message.topic, message.payload, reason, now))
            return
        outcome.results += 1


async def _open_seq_reused(connection: AsyncConnection, site: str, now: datetime, detail: str) -> None:
    """The site's edge numbers its readings anew: one open ticket says so, however often it shows."""
    await tickets.open_ticket(connection, site=site, trouble_class=tickets.SEQ_REUSED, source=tickets.SOURCE_INGEST,
                              detail=detail, now=now)
