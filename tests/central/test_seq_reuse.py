"""An edge that numbers its readings from 1 again (outbox file lost, box replaced): its new readings under seqs that
already hold other readings are refused loudly, with one `seq_reused` ticket for the site, never taken as re-sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.ingest_batch import BatchOutcome, BatchStore
from central.store import tickets
from central.store.rejected import recent_rejections
from central.store.schema import readings
from shaobing import topics
from shaobing.envelope import Envelope, Kind

from .readings_factory import Message, envelope, event_message

NOW = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)


async def _process(engine: AsyncEngine, messages: list[Message], now: datetime = NOW) -> BatchOutcome:
    async with engine.begin() as connection:
        return await BatchStore().process(connection, messages, now=now)


async def _seq_reused(engine: AsyncEngine) -> list[tickets.Ticket]:
    async with engine.connect() as connection:
        return [t for t in await tickets.list_tickets(connection, site="shop-a") if t.trouble_class == "seq_reused"]


def _alarm(seq: int, zone: int) -> Envelope:
    moment = NOW + timedelta(hours=2, seconds=seq)
    return Envelope("shop-a", seq, "panel-2", Kind.ALARM, moment, moment, 1, {"class": "burglary", "zone": zone})


async def test_a_resend_is_a_duplicate_and_another_reading_under_a_stored_seq_is_refused_loudly(
    engine: AsyncEngine,
) -> None:
    first = [envelope("shop-a", seq) for seq in (1, 2, 3)]
    assert len((await _process(engine, [event_message(e) for e in first])).stored) == 3

    again = await _process(engine, [event_message(e) for e in first])  # the edge re-sends: nothing new, no noise
    assert (again.duplicates, again.rejected, await _seq_reused(engine)) == (3, [], [])

    # The box was replaced: its new outbox numbers from 1 again, an alarm among its readings.
    reset = [event_message(_alarm(1, 7)), event_message(_alarm(2, 8)), event_message(envelope("shop-a", 3))]
    outcome = await _process(engine, reset)
    assert (outcome.stored, outcome.duplicates) == ([], 1)  # seq 3 is the very same reading: a re-send
    assert [e.seq for e in outcome.reused] == [1, 2]
    assert [r.reason for r in outcome.rejected] == [
        "seq 1 of site shop-a already holds a different reading (edge outbox reset?)",
        "seq 2 of site shop-a already holds a different reading (edge outbox reset?)",
    ]
    await _process(engine, [event_message(_alarm(3, 9))])  # more of the same: still one ticket for the site
    [ticket] = await _seq_reused(engine)
    assert (ticket.source, ticket.device) == ("ingest", None)
    assert "outbox reset" in ticket.detail
    async with engine.connect() as connection:
        kept = await recent_rejections(connection)
        stored = [tuple(row) for row in await connection.execute(select(readings.c.seq, readings.c.kind))]
    assert len(kept) == 3
    assert {json.loads(r.payload)["data"]["zone"] for r in kept} == {7, 8, 9}  # every refused alarm is kept
    assert {r.topic for r in kept} == {topics.event("shop-a", Kind.ALARM)}
    assert sorted(stored) == [(1, "position"), (2, "position"), (3, "position")]  # the stored ones are untouched


async def test_two_different_readings_under_one_seq_in_one_batch_are_not_a_duplicate(engine: AsyncEngine) -> None:
    outcome = await _process(engine, [event_message(envelope("shop-a", 1)), event_message(_alarm(1, 4))])
    assert [r.envelope.kind for r in outcome.stored] == [Kind.POSITION]
    assert [e.seq for e in outcome.reused] == [1]
    assert outcome.duplicates == 0
    assert len(await _seq_reused(engine)) == 1


def _state(last_seq: int, *, online: bool = True, retain: bool = False) -> Message:
    payload = {"online": online, "since": "2026-11-24T05:00:00.000Z", "version": "1", "last_seq": last_seq}
    return Message(topics.state("shop-a"), json.dumps(payload).encode(), retain=retain)


async def test_a_site_announcing_a_seq_below_the_stored_one_gets_the_ticket(engine: AsyncEngine) -> None:
    await _process(engine, [event_message(envelope("shop-a", seq)) for seq in range(1, 51)])
    # Old news is not a reset: the retained copy central gets when it subscribes, and the will (offline), both carry
    # the counter of the agent's connect.
    await _process(engine, [_state(20, retain=True), _state(20, online=False)])
    assert await _seq_reused(engine) == []
    # A live announcement in the same batch as the readings that follow it compares with what came before them.
    await _process(engine, [_state(50), event_message(envelope("shop-a", 51))])
    assert await _seq_reused(engine) == []

    outcome = await _process(engine, [_state(0)])  # an edge whose outbox starts from nothing
    [ticket] = await _seq_reused(engine)
    assert outcome.seq_resets == ["shop-a"]
    assert "announced last_seq 0, below the 51" in ticket.detail
