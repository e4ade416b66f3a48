"""The ID card driver on a real pseudo-terminal, with the simulated SAM module on the other end."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from firmware_sim.idreader import cards
from firmware_sim.idreader.reader import SimulatedReader, serving
from firmware_sim.pty_pair import PtyPair

from drivers.base import DriverContext, OutboxRefused, create_driver
from drivers.idcard.driver import IdCardDriver
from shaobing.envelope import Kind, Reading
from shaobing.errors import ConfigError

LOG = "test.idcard.driver"
CONTRACT = {"id_number", "name", "gender", "nation", "birth_date", "address", "authority", "valid_from", "valid_to",
            "card_type"}


class RecordingSink:
    """Numbers readings in order; refuses the first `refuse` submits."""

    def __init__(self, refuse: int = 0) -> None:
        self.readings: list[Reading] = []
        self.refuse = refuse

    async def submit(self, reading: Reading) -> int:
        if self.refuse > 0:
            self.refuse -= 1
            raise OutboxRefused("outbox full")
        self.readings.append(reading)
        return len(self.readings)


async def eventually(check: Callable[[], bool], what: str, within: float = 5.0) -> None:
    """Poll a counter (counters have no event to wait on) until `check` holds."""
    try:
        async with asyncio.timeout(within):
            while not check():
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"not within {within}s: {what}")


@asynccontextmanager
async def running(port: str, sink: RecordingSink, **options: Any) -> AsyncIterator[DriverContext]:
    driver = create_driver({"type": "idcard", "port": port, "poll_interval": 0.02, "answer_timeout": 0.2,
                            "reopen_delay": 0.05, "reopen_max": 0.2, "service_point": "building-7",
                            "reader": "front-desk", **options}, source="test")
    assert isinstance(driver, IdCardDriver)
    ctx = DriverContext(site="rental-7", sink=sink, log=logging.getLogger(LOG))
    task = asyncio.create_task(driver.run(ctx), name="idcard driver")
    try:
        yield ctx
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.fixture
def pair() -> Iterator[PtyPair]:
    with PtyPair() as made:
        yield made


async def looks(reader: SimulatedReader, count: int) -> None:
    """Wait until the driver has looked for a card `count` more times."""
    target = reader.stats["find_card"] + count
    await eventually(lambda: reader.stats["find_card"] >= target, f"{count} more finds")


async def test_a_card_presented_gives_exactly_one_reading_until_it_is_lifted(pair: PtyPair) -> None:
    sink = RecordingSink()
    reader = SimulatedReader(pair.master_fd)
    card = cards.resident("王小明", birth=date(1991, 1, 1), region="360426", sequence=7)
    async with serving(reader), running(pair.slave_path, sink) as ctx:
        await looks(reader, 3)
        assert sink.readings == []
        reader.present(card)
        await eventually(lambda: len(sink.readings) == 1, "the card read")
        await looks(reader, 10)  # still on the reader: read again, not reported again
        assert len(sink.readings) == 1
        assert ctx.stats.counts["still_present"] >= 5
        reader.lift()
        await looks(reader, 3)
        reader.present(card)  # the same person again, after lifting: a new registration
        await eventually(lambda: len(sink.readings) == 2, "the card read again")
    reading = sink.readings[0]
    assert reading.kind is Kind.ID_READ and reading.device == "idcard"
    data = reading.data
    assert set(data) >= CONTRACT
    assert data | {"photo_wlt": None, "photo_sha256": None} == {
        "card_type": "resident", "id_number": card.id_number, "name": "王小明", "gender": "male", "nation": "汉",
        "birth_date": "1991-01-01", "address": card.address, "authority": card.authority, "valid_from": "2015-03-01",
        "valid_to": "2035-03-01", "long_term": False, "id_number_valid": True, "nation_code": "01",
        "photo_len": 1024, "photo_wlt": None, "photo_sha256": None, "reader": "front-desk",
        "service_point": "building-7"}
    assert base64.b64decode(data["photo_wlt"]) == bytes(range(256)) * 4


async def test_cards_swapped_without_a_gap_give_one_reading_each(pair: PtyPair) -> None:
    sink = RecordingSink()
    reader = SimulatedReader(pair.master_fd)
    first, second = cards.demo_cards()[:2]
    async with serving(reader), running(pair.slave_path, sink, photo="hash", fingerprint=True):
        reader.present(first)
        await eventually(lambda: len(sink.readings) == 1, "first card")
        reader.present(second)
        await eventually(lambda: len(sink.readings) == 2, "second card")
        await looks(reader, 5)
    assert [r.data["id_number"] for r in sink.readings] == [first.id_number, second.id_number]
    assert sink.readings[1].data["valid_to"] is None and sink.readings[1].data["long_term"] is True
    assert "photo_wlt" not in sink.readings[0].data and sink.readings[0].data["fingerprint_len"] == 512
    assert reader.stats["read_fingerprint"] >= 2


async def test_every_card_type_is_read(pair: PtyPair) -> None:
    sink = RecordingSink()
    reader = SimulatedReader(pair.master_fd)
    async with serving(reader), running(pair.slave_path, sink):
        for index, card in enumerate(cards.demo_cards(), start=1):
            reader.present(card)
            await eventually(lambda index=index: len(sink.readings) == index, card.card_type)  # type: ignore[misc]
    assert [r.data["card_type"] for r in sink.readings] == ["resident", "resident", "hk_macao_taiwan", "foreigner"]
    assert [r.data["id_number_valid"] for r in sink.readings] == [True, True, True, None]


@pytest.mark.parametrize(("fault", "refusal"), [
    ("stop_mid_frame", "refused:truncated"),
    ("bad_checksum", "refused:checksum"),
    ("garbage", "refused:garbage"),
])
async def test_a_reader_that_misbehaves_is_refused_counted_and_recovered_from(
        pair: PtyPair, fault: str, refusal: str, caplog: pytest.LogCaptureFixture) -> None:
    sink = RecordingSink()
    reader = SimulatedReader(pair.master_fd)
    reader.present(cards.resident("赵六"))
    reader.misbehave(fault, "silent", fault)  # the first find, second find, and first select go wrong
    with caplog.at_level(logging.WARNING, LOG):
        async with serving(reader), running(pair.slave_path, sink) as ctx:
            await eventually(lambda: len(sink.readings) == 1, "the card read after the faults")
            await looks(reader, 3)
    assert len(sink.readings) == 1
    assert ctx.stats.counts[refusal] == 2
    assert ctx.stats.counts["reader_unresponsive"] == 1  # three failed commands in a row: the port was reopened
    assert ctx.stats.counts["reopen"] == 1
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused frame")]
    assert len(refused) == 2 and all("hex=" in line for line in refused)


async def test_a_reader_that_goes_quiet_is_reopened_and_read_when_it_answers_again(pair: PtyPair) -> None:
    sink = RecordingSink()
    reader = SimulatedReader(pair.master_fd)
    reader.present(cards.resident("孙七"))
    reader.misbehave(*["silent"] * 7)
    async with serving(reader), running(pair.slave_path, sink) as ctx:
        await eventually(lambda: len(sink.readings) == 1, "the card read after the silence")
    assert ctx.stats.counts["no_answer"] == 7
    assert ctx.stats.counts["reader_unresponsive"] == 2


async def test_an_unplugged_reader_is_reopened_with_backoff(tmp_path: Path) -> None:
    link = tmp_path / "ttyID0"
    sink = RecordingSink()
    first = PtyPair()
    link.symlink_to(first.slave_path)
    reader = SimulatedReader(first.master_fd)
    async with running(str(link), sink) as ctx:
        async with serving(reader):
            await looks(reader, 2)
            # the adapter is pulled out: its device node goes (so a pty made later with the same number is not it)
            link.unlink()
            link.symlink_to(tmp_path / "gone")
            first.close()
            await eventually(lambda: ctx.stats.counts["port_lost"] == 1, "port lost")
        await eventually(lambda: ctx.stats.counts["open_failed"] >= 2, "retried while gone")
        with PtyPair() as second:
            link.unlink()
            link.symlink_to(second.slave_path)  # plugged back in
            again = SimulatedReader(second.master_fd)
            again.present(cards.resident("周八"))
            async with serving(again):
                await eventually(lambda: len(sink.readings) == 1, "the card read on the new port")
    assert ctx.stats.counts["reopen"] == 1


async def test_a_late_answer_is_skipped_so_answers_stay_in_step(pair: PtyPair) -> None:
    sink = RecordingSink()
    reader = SimulatedReader(pair.master_fd)
    reader.late_by = 0.4  # twice the driver's answer_timeout
    reader.present(cards.resident("钱二"))
    reader.misbehave("late")
    async with serving(reader), running(pair.slave_path, sink) as ctx:
        await eventually(lambda: len(sink.readings) == 1, "the card read after the late answer")
        await looks(reader, 3)
    assert ctx.stats.counts["no_answer"] == 1
    assert ctx.stats.counts["late_answer"] == 1
    assert len(sink.readings) == 1 and not any(k.startswith("status:") for k in ctx.stats.counts)


async def test_a_card_the_outbox_refuses_is_offered_again(pair: PtyPair) -> None:
    sink = RecordingSink(refuse=2)
    reader = SimulatedReader(pair.master_fd)
    reader.present(cards.resident("吴九"))
    async with serving(reader), running(pair.slave_path, sink) as ctx:
        await eventually(lambda: len(sink.readings) == 1, "committed on the third offer")
        await looks(reader, 5)
    assert ctx.stats.counts["outbox_refused"] == 2 and len(sink.readings) == 1


async def test_a_card_with_refused_contents_is_logged_once_while_it_stays(
        pair: PtyPair, caplog: pytest.LogCaptureFixture) -> None:
    sink = RecordingSink()
    reader = SimulatedReader(pair.master_fd)
    card = cards.resident("郑十")
    reader.present(replace(card, nation_code="77"))
    with caplog.at_level(logging.WARNING, LOG):
        async with serving(reader), running(pair.slave_path, sink) as ctx:
            await eventually(lambda: ctx.stats.counts["refused_again"] >= 3, "read again while it stays")
    assert sink.readings == []
    assert ctx.stats.counts["refused:unknown nation code '77'"] == 1
    logged = [r.getMessage() for r in caplog.records if "unknown nation code" in r.getMessage()]
    assert len(logged) == 1
    assert card.id_number.encode("utf-16-le").hex() not in logged[0]  # the number is starred in the log


def test_options_are_closed_and_checked() -> None:
    with pytest.raises(ConfigError, match="baud: unknown key"):
        create_driver({"type": "idcard", "port": "/dev/null", "baud": 9600}, source="site.toml")
    with pytest.raises(ConfigError, match="port"):
        create_driver({"type": "idcard"}, source="site.toml")
    with pytest.raises(ConfigError, match="photo"):
        create_driver({"type": "idcard", "port": "/dev/null", "photo": "png"}, source="site.toml")

