"""The durable outbox over real SQLite files: numbering, group commit, drain order, limits, and a SIGKILL."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.base import OutboxRefused
from edge.outbox import Outbox
from shaobing.envelope import Envelope, Kind, Priority, Reading

LOG = logging.getLogger("test.outbox")


def position(i: int = 0) -> Reading:
    return Reading("bike-1", Kind.POSITION, {"lat": 30.27, "lon": 120.15, "n": i})


def alarm(i: int = 0) -> Reading:
    return Reading("panel-1", Kind.ALARM, {"class": "burglary", "zone": 3, "n": i})


def status(i: int = 0) -> Reading:
    return Reading("panel-1", Kind.STATUS, {"voltage_level": 4, "n": i})


def trouble(i: int = 0) -> Reading:
    return Reading("panel-1", Kind.TROUBLE, {"class": "ac_loss", "n": i})


def seqs_in_file(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [seq for (seq,) in db.execute("SELECT seq FROM outbox ORDER BY seq")]


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    async with Outbox(tmp_path / "outbox.db", "shop-a", log=LOG) as box:
        yield box


async def test_submit_returns_the_seq_and_the_row_holds_the_envelope(outbox: Outbox) -> None:
    first = await outbox.submit(alarm())
    second = await outbox.submit(position())
    assert (first, second) == (1, 2)
    rows = await outbox.fetch(10)
    assert [row.seq for row in rows] == [1, 2]
    assert rows[0].topic == "shaobing/v1/shop-a/event/alarm"
    assert rows[1].topic == "shaobing/v1/shop-a/event/position"
    envelope = Envelope.from_json(rows[0].payload)
    assert (envelope.site, envelope.seq, envelope.kind, envelope.priority) == ("shop-a", 1, Kind.ALARM, 1)
    assert envelope.data == {"class": "burglary", "zone": 3, "n": 0}


async def test_seq_survives_a_restart_even_when_the_outbox_was_emptied(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with Outbox(path, "shop-a", log=LOG) as box:
        for i in range(5):
            await box.submit(position(i))
        rows = await box.fetch(10)
        box.remove(row.seq for row in rows)
    assert seqs_in_file(path) == []
    async with Outbox(path, "shop-a", log=LOG) as box:
        assert box.last_seq == 5
        assert await box.submit(alarm()) == 6


async def test_an_outbox_file_belongs_to_one_site(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with Outbox(path, "shop-a", log=LOG) as box:
        await box.submit(alarm())
    with pytest.raises(ValueError, match="shop-a"):
        async with Outbox(path, "shop-b", log=LOG):
            pass


async def test_concurrent_submits_share_transactions_and_all_are_durable(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with Outbox(path, "shop-a", log=LOG, commit_interval=0.002) as box:
        seqs = await asyncio.gather(*(box.submit(position(i)) for i in range(2000)))
        commits = box.counts().commits
    assert sorted(seqs) == list(range(1, 2001))
    assert commits <= 20  # 2,000 readings, a handful of fsyncs
    assert seqs_in_file(path) == list(range(1, 2001))
    async with Outbox(path, "shop-a", log=LOG) as box:
        assert box.counts().pending == {int(Priority.TELEMETRY): 2000}


async def test_fetch_drains_alarms_first_then_by_seq_and_claims_what_it_gives(outbox: Outbox) -> None:
    await outbox.submit(position(1))
    await outbox.submit(status(2))
    await outbox.submit(alarm(3))
    await outbox.submit(trouble(4))
    await outbox.submit(alarm(5))
    first = await outbox.fetch(3)
    assert [row.seq for row in first] == [3, 5, 4]
    rest = await outbox.fetch(10)
    assert [row.seq for row in rest] == [2, 1]  # status (supervision) before position (telemetry)
    assert await outbox.fetch(10) == []
    assert outbox.in_flight == 5


async def test_released_rows_are_fetched_again_and_removed_rows_are_gone(outbox: Outbox) -> None:
    for i in range(4):
        await outbox.submit(position(i))
    rows = await outbox.fetch(4)
    outbox.remove([rows[0].seq, rows[1].seq])
    outbox.release([rows[2].seq, rows[3].seq])
    again = await outbox.fetch(10)
    assert [row.seq for row in again] == [3, 4]
    await outbox.submit(alarm())  # the deletes ride along with the next commit
    assert seqs_in_file(outbox.path) == [3, 4, 5]
    assert outbox.counts().pending == {int(Priority.ALARM): 1, int(Priority.TELEMETRY): 2}


async def test_rows_released_while_a_fetch_is_reading_are_fetched_again(outbox: Outbox) -> None:
    # The uplink releases rows from PUBACK callbacks at any moment, also while a fetch waits on SQLite: the fetch
    # must not move its cursor past them, or they sit in the outbox unsent until the next restart.
    for i in range(20):
        await outbox.submit(position(i))
    first = await outbox.fetch(10)
    fetching = asyncio.create_task(outbox.fetch(5))
    await asyncio.sleep(0)  # the fetch holds the lock and waits on its SELECT
    outbox.release(row.seq for row in first)
    second = await fetching
    assert [row.seq for row in second] == [11, 12, 13, 14, 15]
    again = await outbox.fetch(100)
    assert [row.seq for row in again] == list(range(1, 11)) + list(range(16, 21))


async def test_a_full_outbox_evicts_the_oldest_of_the_least_urgent_class(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with Outbox(path, "shop-a", log=LOG, max_readings=6) as box:
        for i in range(3):
            await box.submit(position(i))  # seq 1..3
        await box.submit(status())  # 4
        await box.submit(trouble())  # 5
        await box.submit(alarm())  # 6: full
        assert await box.submit(alarm()) == 7  # evicts position 1
        assert await box.submit(trouble()) == 8  # evicts position 2
        assert seqs_in_file(path) == [3, 4, 5, 6, 7, 8]
        await box.submit(alarm())  # 9: evicts position 3
        await box.submit(alarm())  # 10: evicts the status, 4
        assert seqs_in_file(path) == [5, 6, 7, 8, 9, 10]
        assert box.counts().evicted == 4
    async with Outbox(path, "shop-a", log=LOG, max_readings=6) as box:
        assert box.counts().evicted == 4


async def test_alarms_are_never_evicted_and_other_readings_are_refused_when_only_alarms_are_left(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.db"
    async with Outbox(path, "shop-a", log=LOG, max_readings=3) as box:
        await box.submit(position())
        for _ in range(3):
            await box.submit(alarm())  # the third evicts the position
        assert box.counts().pending == {int(Priority.ALARM): 3}
        with pytest.raises(OutboxRefused, match="full of alarms"):
            await box.submit(position())
        with pytest.raises(OutboxRefused):
            await box.submit(trouble())
        assert await box.submit(alarm()) == 5  # over the limit, but an alarm is still taken
        counts = box.counts()
        assert counts.pending == {int(Priority.ALARM): 4}
        assert counts.refused == 2
        assert counts.evicted == 1
    assert seqs_in_file(path) == [2, 3, 4, 5]


async def test_evictions_inside_one_group_commit_fall_on_its_own_oldest_readings(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with Outbox(path, "shop-a", log=LOG, max_readings=3) as box:
        seqs = await asyncio.gather(*(box.submit(position(i)) for i in range(5)))
        assert sorted(seqs) == [1, 2, 3, 4, 5]
        assert box.counts().evicted == 2
        assert box.counts().pending == {int(Priority.TELEMETRY): 3}
    assert seqs_in_file(path) == [3, 4, 5]


async def test_an_unencodable_reading_is_refused_alone(outbox: Outbox) -> None:
    bad = Reading("panel-1", Kind.STATUS, {"when": object()})
    results = await asyncio.gather(outbox.submit(alarm()), outbox.submit(bad), outbox.submit(alarm()),
                                   return_exceptions=True)
    assert results[0] == 1
    assert isinstance(results[1], OutboxRefused)
    assert results[2] == 2


async def test_side_statements_commit_with_the_readings(outbox: Outbox) -> None:
    await outbox.write([("CREATE TABLE notes (text TEXT)", ())])
    outbox.write_nowait([("INSERT INTO notes VALUES (?)", ("before",))])
    await outbox.submit(alarm())
    assert await outbox.query("SELECT text FROM notes") == [("before",)]


WRITER = textwrap.dedent("""
    import asyncio, logging, sys
    from pathlib import Path
    from edge.outbox import Outbox
    from shaobing.envelope import Kind, Reading

    async def main() -> None:
        async with Outbox(Path(sys.argv[1]), "shop-a", log=logging.getLogger("w")) as box:
            n = 0
            while True:
                batch = [box.submit(Reading("panel-1", Kind.ALARM, {"n": n + i})) for i in range(50)]
                n += 50
                for seq in await asyncio.gather(*batch):
                    sys.stdout.write(f"{seq}\\n")
                sys.stdout.flush()

    asyncio.run(main())
""")


def test_every_acknowledged_seq_survives_a_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    acknowledged: list[int] = []
    try:
        while len(acknowledged) < 3000:
            line = process.stdout.readline()
            assert line, "the writer stopped early"
            acknowledged.append(int(line))
        process.send_signal(signal.SIGKILL)  # right after those submits returned
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    in_file = set(seqs_in_file(path))
    assert set(acknowledged) <= in_file
    with sqlite3.connect(path) as db:
        (last_seq,) = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        payloads = [json.loads(p) for (p,) in db.execute("SELECT payload FROM outbox ORDER BY seq LIMIT 3")]
    assert int(last_seq) >= max(acknowledged)
    assert [p["seq"] for p in payloads] == [1, 2, 3]


async def test_a_newcomer_less_urgent_than_everything_present_is_refused_not_made_room_for(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with Outbox(path, "shop-a", log=LOG, max_readings=3) as box:
        for i in range(3):
            await box.submit(trouble(i))  # seq 1..3
        with pytest.raises(OutboxRefused, match="full of more urgent readings"):
            await box.submit(position())
        assert box.counts().pending == {int(Priority.TROUBLE): 3}
        assert (box.counts().evicted, box.counts().refused) == (0, 1)
    assert seqs_in_file(path) == [1, 2, 3]


async def test_a_newcomer_of_the_least_urgent_class_present_pushes_out_the_oldest_of_its_own_class(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.db"
    async with Outbox(path, "shop-a", log=LOG, max_readings=3) as box:
        await box.submit(trouble(1))  # 1
        await box.submit(position(2))  # 2
        await box.submit(trouble(3))  # 3
        assert await box.submit(position(4)) == 4  # evicts position 2, keeps the troubles
        assert seqs_in_file(path) == [1, 3, 4]
        assert await box.submit(status()) == 5  # more urgent than the position: evicts position 4
        assert seqs_in_file(path) == [1, 3, 5]
        with pytest.raises(OutboxRefused):
            await box.submit(position(6))  # nothing as little urgent left to push out
        assert box.counts().evicted == 2


async def test_positions_age_out_first_inside_one_group_commit(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with Outbox(path, "shop-a", log=LOG, max_readings=2) as box:
        outcomes = await asyncio.gather(box.submit(trouble(1)), box.submit(trouble(2)), box.submit(position(3)),
                                        return_exceptions=True)
        assert list(outcomes[:2]) == [1, 2]
        assert isinstance(outcomes[2], OutboxRefused)
    assert seqs_in_file(path) == [1, 2]


async def test_a_readings_own_statements_and_callback_take_effect_only_with_its_commit(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    committed: list[int] = []
    async with Outbox(path, "shop-a", log=LOG, max_readings=1) as box:
        await box.write([("CREATE TABLE notes (text TEXT)", ())])
        note = [("INSERT INTO notes VALUES (?)", ("first",))]
        assert await box.submit(alarm(), statements=note, on_commit=committed.append) == 1
        with pytest.raises(OutboxRefused):  # full of alarms: refused, so its note is not written either
            await box.submit(position(), statements=[("INSERT INTO notes VALUES (?)", ("refused",))],
                             on_commit=committed.append)
        assert await box.query("SELECT text FROM notes") == [("first",)]
    assert committed == [1]


async def test_hostile_nesting_in_a_reading_is_refused_and_the_writer_carries_on(outbox: Outbox) -> None:
    nested: list[object] = []
    deepest = nested
    for _ in range(5_000):
        inner: list[object] = []
        deepest.append(inner)
        deepest = inner
    with pytest.raises(OutboxRefused, match="cannot be encoded"):
        await outbox.submit(Reading("panel-1", Kind.STATUS, {"nested": nested}))
    assert await outbox.submit(alarm()) == 1


async def test_a_failing_listener_does_not_stop_the_writer(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_listener(priority: int) -> None:
        raise RuntimeError("listener bug")

    outbox.add_listener(broken_listener)
    assert await outbox.submit(alarm()) == 1
    async with asyncio.timeout(5):
        assert await outbox.submit(alarm()) == 2
    assert "listener bug" in caplog.text
    assert outbox.failure is None


class WriterFault(BaseException):
    """A fault the writer cannot handle (not an `Exception`), standing in for a bug in it."""


async def test_a_dead_writer_refuses_every_submit_at_once_and_says_why(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    def fatal_listener(priority: int) -> None:
        raise WriterFault("the writer's own fault")

    outbox.add_listener(fatal_listener)
    assert await outbox.submit(alarm()) == 1  # committed, then the writer dies on its way out
    async with asyncio.timeout(5):
        reason = await outbox.wait_failed()
        with pytest.raises(OutboxRefused, match="the outbox writer stopped"):
            await outbox.submit(alarm())
        with pytest.raises(OutboxRefused):
            outbox.write_nowait([("SELECT 1", ())])
    assert "WriterFault" in reason
    assert outbox.failure == reason
    assert "refusing every reading" in caplog.text
    assert seqs_in_file(outbox.path) == [1]


async def test_an_id_read_refused_by_a_full_outbox_is_logged_without_its_personal_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    number = "11010519491231002X"
    read = Reading("idr-1", Kind.ID_READ, {"id_number": number, "name": "张三丰", "address": "北京市东城区某街1号",
                                          "birth_date": "1949-12-31", "photo_wlt": "V0xUZmFjZQ==",
                                          "card_type": "resident"})
    async with Outbox(tmp_path / "outbox.db", "shop-a", log=LOG, max_readings=2) as box:
        for i in range(2):
            await box.submit(alarm(i))
        with caplog.at_level(logging.WARNING), pytest.raises(OutboxRefused):
            await box.submit(read)
    assert "refused a reading" in caplog.text
    for secret in (number, "张三丰", "北京市东城区某街1号", "1949-12-31", "V0xUZmFjZQ=="):
        assert secret not in caplog.text
    assert "110105********002X" in caplog.text
