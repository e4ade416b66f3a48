"""Arming state from panels' open/close readings, persisted, and the `site_armed` each alarm carries."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

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
