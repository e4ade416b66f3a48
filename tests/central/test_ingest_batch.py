"""One batch through the store as the ingest runs it: refusals, hook order, states, results, tickets."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central.ingest_batch import BatchOutcome, BatchStore, loggable
from central.model import StoredReading
from central.store import commands, gaps, sites, tickets
from central.store.rejected import recent_rejections
from central.store.schema import readings
from shaobing import topics
from shaobing.envelope import Kind

from .readings_factory import Message, envelope, event_message

NOW = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
A_EVENT = topics.event("shop-a", Kind.POSITION)


def _valid(**overrides: object) -> dict[str, object]:
    raw: dict[str, object] = json.loads(envelope("shop-a", 1).to_json())
    raw.update(overrides)
    return raw


def _encoded(raw: object) -> bytes:
    return json.dumps(raw).encode()


def _deep(depth: int) -> dict[str, object]:
    data: dict[str, object] = {}
    for _ in range(depth):
        data = {"x": data}
    return data


HOSTILE: list[tuple[str, bytes, str]] = [
    ("empty", b"", "not an envelope"),
    ("not JSON", b"hello", "not an envelope"),
    ("truncated", envelope("shop-a", 1).to_json()[:40], "not an envelope"),
    ("JSON array", b"[1, 2, 3]", "not a JSON object"),
    ("JSON string", b'"x"', "not a JSON object"),
    ("invalid UTF-8", b'{"v": 1, "site": "\xff\xfe"}', "not an envelope"),
    ("one megabyte", _encoded(_valid(data={"x": "a" * 1_000_000})), "exceeds"),
    ("deep JSON", b'{"a":' * 200_000 + b"1" + b"}" * 200_000, "exceeds"),
    ("deep but small", b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
    ("deep data", _encoded(_valid(data=_deep(40))), "nested deeper"),
    ("NUL in data", _encoded(_valid(data={"name": "a\x00b"})), "NUL"),
    ("NUL in device", _encoded(_valid(device="d\x00")), "NUL"),
    ("NUL bytes raw", b"\x00" * 64, "not an envelope"),
    (
        "lone surrogate",
        b'{"v":1,"site":"shop-a","seq":1,"device":"d","kind":"position",'
        b'"ts":"2026-11-24T04:00:00.000Z","data":{"a":"\\ud800"}}',
        "surrogate",
    ),
    ("NaN in data", _encoded(_valid(data={"lat": float("nan")})), "non-finite"),
    ("seq 0", _encoded(_valid(seq=0)), "seq"),
    ("seq negative", _encoded(_valid(seq=-5)), "seq"),
    ("seq 2**70", _encoded(_valid(seq=2**70)), "seq"),
    ("seq float", _encoded(_valid(seq=1.0)), "seq"),
    ("seq bool", _encoded(_valid(seq=True)), "seq"),
    ("seq string", _encoded(_valid(seq="1")), "seq"),
    ("unknown kind", _encoded(_valid(kind="teleport")), "not an envelope"),
    ("version 2", _encoded(_valid(v=2)), "contract version"),
    ("missing ts", _encoded({k: v for k, v in _valid().items() if k != "ts"}), "missing field"),
    ("bad ts", _encoded(_valid(ts="yesterday")), "not an envelope"),
    ("ts number", _encoded(_valid(ts=1700000000)), "not an envelope"),
    ("ts overflows", _encoded(_valid(ts="0001-01-01T00:00:00+05:00")), "not an envelope"),
    ("bad rx", _encoded(_valid(rx="2026-13-45T99:00:00Z")), "not an envelope"),
    ("priority 99", _encoded(_valid(priority=99)), "priority"),
    ("data a list", _encoded(_valid(data=[1])), "data"),
    ("long device", _encoded(_valid(device="d" * 129)), "device longer"),
    ("wrong site", _encoded(_valid(site="shop-b")), "site 'shop-b' published on the topic of site 'shop-a'"),
    ("kind off topic", _encoded(_valid(kind="alarm")), "kind 'alarm' on topic kind 'position'"),
]


async def _process(engine: AsyncEngine, messages: list[Message], store: BatchStore | None = None) -> BatchOutcome:
    async with engine.begin() as connection:
        return await (store or BatchStore()).process(connection, messages, now=NOW)


async def _count_readings(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(readings))).scalar_one())


async def test_hostile_payloads_are_rejected_with_a_reason_and_the_batch_carries_on(engine: AsyncEngine) -> None:
    good_before = event_message(envelope("shop-a", 1))
    good_after = event_message(envelope("shop-a", 2))
    batch = [good_before, *(Message(A_EVENT, payload) for _, payload, _ in HOSTILE), good_after]
    outcome = await _process(engine, batch)
    assert [reading.envelope.seq for reading in outcome.stored] == [1, 2]
    assert len(outcome.rejected) == len(HOSTILE)
    for (name, _, reason), rejection in zip(HOSTILE, outcome.rejected, strict=True):
        assert reason in rejection.reason, name
    assert await _count_readings(engine) == 2
    async with engine.connect() as connection:
        kept = await recent_rejections(connection, limit=100)
    assert len(kept) == len(HOSTILE)
    assert all(len(rejection.payload) <= 4096 for rejection in kept)
    assert sorted(r.reason for r in kept) == sorted(r.reason for r in outcome.rejected)


async def test_topics_outside_the_contract_and_bad_site_ids_are_rejected(engine: AsyncEngine) -> None:
    payload = envelope("shop-a", 1).to_json()
    outcome = await _process(
        engine,
        [
            Message("somewhere/else", payload),
            Message("shaobing/v1/Shop-A/event/position", payload),
            Message("shaobing/v1/shop-a/event/position/extra", payload),
            Message("shaobing/v1/shop-a/cmd", payload),
        ],
    )
    assert [r.reason.split(":")[0] for r in outcome.rejected] == [
        "topic outside the contract",
        "invalid site id in topic",
        "topic outside the contract",
        "topic outside the contract",
    ]
    assert outcome.stored == []


def test_a_logged_payload_is_a_pasteable_literal_of_sane_length() -> None:
    assert loggable(b"\x00ab") == "b'\\x00ab'"
    long = loggable(b"x" * 10_000)
    assert len(long) < 400
    assert long.endswith("(10000 bytes)")


async def test_the_hook_sees_new_readings_alarms_first_in_the_same_transaction(engine: AsyncEngine) -> None:
    seen: list[list[tuple[int, int]]] = []

    async def on_stored(connection: AsyncConnection, stored: list[StoredReading]) -> None:
        seen.append([(reading.envelope.seq, reading.envelope.priority) for reading in stored])
        # The readings and the site state are visible to the hook before the commit.
        count = await connection.execute(select(func.count()).select_from(readings))
        assert count.scalar_one() >= len(stored)
        site = await sites.get_site(connection, "shop-a")
        assert site is not None
        assert site.armed is True

    batch = [
        event_message(envelope("shop-a", 1)),
        event_message(envelope("shop-a", 2, Kind.ARMING, {"state": "armed", "partition": 1})),
        event_message(envelope("shop-a", 3, Kind.ALARM, {"class": "burglary", "zone": 4})),
        event_message(envelope("shop-a", 4)),
        event_message(envelope("shop-a", 5, Kind.ALARM, {"class": "panic"})),
    ]
    store = BatchStore(on_stored=on_stored)
    await _process(engine, batch, store)
    assert seen == [[(3, 1), (5, 1), (2, 3), (1, 5), (4, 5)]]
    outcome = await _process(engine, [*batch, event_message(envelope("shop-a", 6))], store)
    assert seen[-1] == [(6, 5)]  # re-sent readings are not handed to the rules again
    assert outcome.duplicates == 5


async def test_a_batch_updates_gaps_and_sites(engine: AsyncEngine) -> None:
    await _process(engine, [event_message(envelope("shop-a", seq)) for seq in (1, 2, 6)])
    await _process(engine, [event_message(envelope("shop-a", 4)), event_message(envelope("shop-b", 3))])
    async with engine.connect() as connection:
        open_gaps = [(gap.site, gap.first_seq, gap.last_seq) for gap in await gaps.open_gaps(connection)]
        site = await sites.get_site(connection, "shop-a")
    assert open_gaps == [("shop-a", 3, 3), ("shop-a", 5, 5), ("shop-b", 1, 2)]
    assert site is not None
    assert site.last_seq == 6


async def test_state_messages_open_and_close_a_comm_fail_ticket(engine: AsyncEngine) -> None:
    state_topic = topics.state("shop-a")
    offline = Message(state_topic, b'{"online": false, "since": "2026-11-24T04:59:00.000Z", "version": "1"}')
    online = Message(
        state_topic, b'{"online": true, "since": "2026-11-24T05:01:00.000Z", "version": "1", "last_seq": 9}'
    )
    outcome = await _process(engine, [offline, Message(state_topic, b"{bad"), Message(state_topic, b"")])
    assert (outcome.states, len(outcome.rejected), outcome.ignored) == (1, 1, 1)
    async with engine.connect() as connection:
        opened = await tickets.list_tickets(connection, site="shop-a")
    assert [(t.trouble_class, t.detail, t.source) for t in opened] == [("comm_fail", "site offline", "state")]
    await _process(engine, [offline])  # the retained state again: still one ticket
    await _process(engine, [online])
    async with engine.connect() as connection:
        assert await tickets.list_tickets(connection, site="shop-a") == []
        every = await tickets.list_tickets(connection, site="shop-a", open_only=False)
        site = await sites.get_site(connection, "shop-a")
    assert len(every) == 1
    assert site is not None
    assert (site.online, site.state_last_seq) == (True, 9)


async def test_trouble_readings_open_tickets_and_a_test_closes_a_supervision_ticket(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await tickets.open_ticket(connection, site="shop-a", trouble_class="comm_fail", source="supervision", now=NOW)
    trouble = envelope("shop-a", 1, Kind.TROUBLE, {"class": "low_battery", "qualifier": "new", "zone": 2})
    await _process(engine, [event_message(trouble), event_message(envelope("shop-a", 2, Kind.TEST, {}))])
    async with engine.connect() as connection:
        opened = await tickets.list_tickets(connection, site="shop-a")
    assert [(t.trouble_class, t.source, t.reading_id is not None) for t in opened] == [("low_battery", "reading", True)]


async def test_command_results_update_the_command_of_that_site_only(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await commands.record_command(
            connection, cmd_id="c-9", site="shop-a", name="disarm", args={}, issued_by="op", issued_at=NOW
        )
    answer = b'{"cmd_id": "c-9", "ok": false, "detail": "panel busy"}'
    outcome = await _process(
        engine,
        [
            Message(topics.cmd_result("shop-b"), answer),  # shop-b cannot answer for shop-a
            Message(topics.cmd_result("shop-a"), b'{"cmd_id": 5}'),
            Message(topics.cmd_result("shop-a"), answer),
        ],
    )
    assert outcome.results == 1
    assert ["not issued to this site" in r.reason for r in outcome.rejected] == [True, False]
    async with engine.connect() as connection:
        command = await commands.get_command(connection, "c-9")
    assert command is not None
    assert (command.ok, command.detail) == (False, "panel busy")


@pytest.mark.parametrize("seq", [1, 2**63 - 1])
async def test_extreme_but_valid_seqs_are_stored(engine: AsyncEngine, seq: int) -> None:
    outcome = await _process(engine, [event_message(envelope("shop-a", seq))])
    assert [reading.envelope.seq for reading in outcome.stored] == [seq]


def test_a_logged_id_read_keeps_its_personal_data_out() -> None:
    number, name, address = "11010519491231002X", "张三丰", "北京市东城区某街1号"
    payload = json.dumps({"v": 1, "site": "rental-1", "seq": 1, "kind": "id_read", "data": {
        "id_number": number, "name": name + "\x00", "address": address, "pass_number": "H01234567"}},
        ensure_ascii=False).encode()
    for body in (payload, payload[:-3]):  # refused as JSON with a NUL, or not JSON at all
        shown = loggable(body, "shaobing/v1/rental-1/event/id_read")
        for secret in (number, name, address, "H01234567", repr(name.encode())[2:-1]):
            assert secret not in shown
        assert "110105" in shown and "002X" in shown  # enough to tell records apart
