"""Arming state from panels' open/close readings, persisted with the reading that sets it (or not at all), and the
`site_armed` each alarm carries."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from drivers.base import OutboxRefused
from edge.agent import AgentSink
from edge.arming import ArmingBook
from edge.outbox import Outbox
from shaobing.envelope import Kind, Reading

LOG = logging.getLogger("test.arming")


def arming(state: str, partition: int | None = None, user: str = "3") -> Reading:
    data: dict[str, object] = {"state": state, "user": user, "source": "contact_id"}
    if partition is not None:
        data["partition"] = partition
    return Reading("panel-1", Kind.ARMING, data)


def alarm(partition: int | None = None) -> Reading:
    data: dict[str, object] = {"class": "burglary", "zone": 4}
    if partition is not None:
        data["partition"] = partition
    return Reading("panel-1", Kind.ALARM, data)


def committed_site_armed(path: Path, seq: int) -> object:
    with sqlite3.connect(path) as db:
        (payload,) = db.execute("SELECT payload FROM outbox WHERE seq = ?", (seq,)).fetchone()
    return json.loads(payload)["data"]["site_armed"]


async def test_alarms_carry_the_state_of_their_partition_at_the_moment(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with Outbox(path, "shop-a", log=LOG) as outbox:
        book = ArmingBook(outbox, log=LOG)
        await book.load()
        sink = AgentSink(outbox, book)
        unknown = await sink.submit(alarm(1))
        await sink.submit(arming("armed", 1))
        armed = await sink.submit(alarm(1))
        other_partition = await sink.submit(alarm(2))
        await sink.submit(arming("disarmed", 1))
        disarmed = await sink.submit(alarm(1))
    assert committed_site_armed(path, unknown) is None
    assert committed_site_armed(path, armed) is True
    assert committed_site_armed(path, other_partition) is None
    assert committed_site_armed(path, disarmed) is False


async def test_the_whole_site_state_covers_partitions_without_their_own(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "outbox.db", "shop-a", log=LOG) as outbox:
        book = ArmingBook(outbox, log=LOG)
        await book.load()
        sink = AgentSink(outbox, book)
        await sink.submit(arming("armed"))  # no partition: the whole site
        assert book.armed(3) is True
        assert book.armed(None) is True
        await sink.submit(arming("disarmed", 3))
        assert book.armed(3) is False
        assert book.armed(4) is True
        assert book.armed(None) is True


async def test_without_a_site_state_partitions_must_agree_for_an_alarm_without_one(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "outbox.db", "shop-a", log=LOG) as outbox:
        book = ArmingBook(outbox, log=LOG)
        await book.load()
        sink = AgentSink(outbox, book)
        await sink.submit(arming("armed", 1))
        await sink.submit(arming("armed", 2))
        assert book.armed(None) is True
        await sink.submit(arming("disarmed", 2))
        assert book.armed(None) is None


async def test_the_state_survives_a_restart_and_bad_arming_readings_change_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with Outbox(path, "shop-a", log=LOG) as outbox:
        book = ArmingBook(outbox, log=LOG)
        await book.load()
        sink = AgentSink(outbox, book)
        await sink.submit(arming("armed", 1, user="7"))
        seq = await sink.submit(Reading("panel-1", Kind.ARMING, {"state": "sideways", "partition": 1}))
        assert seq == 2  # the reading itself is still kept and sent
    async with Outbox(path, "shop-a", log=LOG) as outbox:
        book = ArmingBook(outbox, log=LOG)
        await book.load()
        entry = book.snapshot()[1]
        assert (entry.state, entry.user, entry.source) == ("armed", "7", "contact_id")
        assert book.armed(1) is True


async def test_a_whole_site_change_replaces_every_partitions_own_state(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with Outbox(path, "shop-a", log=LOG) as outbox:
        book = ArmingBook(outbox, log=LOG)
        await book.load()
        sink = AgentSink(outbox, book)
        await sink.submit(arming("armed", 1))
        await sink.submit(arming("armed", 2))
        await sink.submit(arming("disarmed", 0))  # partition 0: the whole site
        assert (book.armed(1), book.armed(2), book.armed(None)) == (False, False, False)
        assert list(book.snapshot()) == [0]
        await sink.submit(arming("armed", 2))  # one partition again, beside the whole site's state
        assert (book.armed(1), book.armed(2)) == (False, True)
    async with Outbox(path, "shop-a", log=LOG) as outbox:
        book = ArmingBook(outbox, log=LOG)
        await book.load()
        assert {p: e.state for p, e in book.snapshot().items()} == {0: "disarmed", 2: "armed"}


async def test_an_arming_reading_the_outbox_refuses_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with Outbox(path, "shop-a", log=LOG, max_readings=1) as outbox:
        book = ArmingBook(outbox, log=LOG)
        await book.load()
        sink = AgentSink(outbox, book)
        await sink.submit(alarm(1))  # the outbox is now full of alarms
        with pytest.raises(OutboxRefused):
            await sink.submit(arming("armed", 1))
        assert book.armed(1) is None
        annotated = await sink.submit(alarm(1))
        bad = Reading("panel-1", Kind.ARMING, {"state": "armed", "partition": 1, "odd": object()})
        with pytest.raises(OutboxRefused, match="cannot be encoded"):
            await sink.submit(bad)
        assert book.snapshot() == {}
    assert committed_site_armed(path, annotated) is None
    async with Outbox(path, "shop-a", log=LOG) as outbox:
        book = ArmingBook(outbox, log=LOG)
        await book.load()
        assert book.snapshot() == {}


async def test_an_arming_reading_whose_commit_fails_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with Outbox(path, "shop-a", log=LOG) as outbox:
        book = ArmingBook(outbox, log=LOG)
        await book.load()
        sink = AgentSink(outbox, book)
        await sink.submit(arming("disarmed", 1))
        with contextlib.closing(sqlite3.connect(path)) as db:  # the disk refuses every new row for a while
            db.execute("CREATE TRIGGER refuse_rows BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk says no'); "
                       "END")
            db.commit()
            with pytest.raises(OutboxRefused, match="disk says no"):
                await sink.submit(arming("armed", 1))
            assert book.armed(1) is False
            db.execute("DROP TRIGGER refuse_rows")
            db.commit()
        seq = await sink.submit(alarm(1))
    assert committed_site_armed(path, seq) is False
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT partition, state FROM arming").fetchall() == [(1, "disarmed")]
