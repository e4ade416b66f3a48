"""The simulated ID card reader: its cards, its answers, its faults, and `shaobing sim idreader` read by the driver."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import date
from pathlib import Path

import pytest
from firmware_sim.idreader import cards
from firmware_sim.idreader.cli import parse_card
from firmware_sim.idreader.reader import SimulatedReader, serving
from firmware_sim.pty_pair import PtyPair

from drivers.base import DriverContext, create_driver
from drivers.idcard.codec import parse_read
from drivers.idcard.commands import Command
from drivers.idcard.frame import SamFramer, SamRequest, SamResponse, build_request, unwrap
from drivers.idcard.gb11643 import check
from shaobing.envelope import Reading

TODAY = date(2026, 11, 24)


def test_built_numbers_pass_gb11643_and_match_the_card() -> None:
    for card in [*cards.demo_cards(), cards.resident("甲", gender="female", sequence=999),
                 cards.resident("乙", sequence=0), cards.residence_permit("丙", origin="taiwan", gender="male")]:
        if card.card_type == "foreigner":
            continue
        result = check(card.id_number, today=TODAY)
        assert result.valid, (card.id_number, result.problem)
        assert result.birth_date == card.birth_date and result.gender == card.gender


def test_builder_refuses_what_no_card_holds() -> None:
    with pytest.raises(ValueError, match="GB 3304"):
        cards.resident("甲", nation="火星")
    with pytest.raises(ValueError, match="six digits"):
        cards.id_number("1101", date(1990, 1, 1), 1, "male")


def test_card_specs() -> None:
    card = parse_card("resident:王小明:female:1991-01-01", 3)
    assert (card.card_type, card.name, card.gender, card.birth_date) == ("resident", "王小明", "female",
                                                                        date(1991, 1, 1))
    assert parse_card("permit:陈美玲", 0).card_type == "hk_macao_taiwan"
    assert parse_card("foreigner:SMITH, JOHN", 0).name_en == "SMITH, JOHN"
    for bad in ("resident", "martian:甲", "resident:甲:other", "resident:甲:male:1991-13-01"):
        with pytest.raises(ValueError, match="card"):
            parse_card(bad, 0)


def answer(reader: SimulatedReader, command: Command) -> SamResponse:
    parsed = unwrap(reader.answer(SamRequest(command=command, data=b"", raw=build_request(command))))
    assert isinstance(parsed, SamResponse)
    return parsed


def test_answers_with_and_without_a_card() -> None:
    with PtyPair() as pair:
        reader = SimulatedReader(pair.master_fd)
        assert [answer(reader, c).status.name for c in Command] == [
            "ok", "ok", "ok", "find_failed", "select_failed", "read_failed", "read_failed"]
        card = cards.resident("甲")
        reader.present(card)
        assert [answer(reader, c).status.name for c in Command] == ["ok", "ok", "ok", "find_ok", "ok", "ok", "ok"]
        assert parse_read(answer(reader, Command.READ)).text == card
        assert parse_read(answer(reader, Command.READ_FINGERPRINT)).fingerprint == bytes(512)
        with pytest.raises(ValueError, match="unknown faults"):
            reader.misbehave("explode")


async def exchange(pair: PtyPair, request: bytes, within: float = 1.0) -> list[bytes]:
    """Write to the port's end and collect what comes back until `within` passes with nothing more."""
    fd = os.open(pair.slave_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    framer, got = SamFramer(), bytearray()
    try:
        os.write(fd, request)
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            try:
                got += os.read(fd, 4096)
            except BlockingIOError:
                await asyncio.sleep(0.01)
    finally:
        os.close(fd)
    return [item for item in framer.feed(bytes(got)) if isinstance(item, bytes)]


async def test_a_request_with_a_bad_checksum_gets_the_modules_checksum_error() -> None:
    with PtyPair() as pair:
        reader = SimulatedReader(pair.master_fd)
        async with serving(reader):
            frames = await exchange(pair, bytes.fromhex("AAAAAA96690003200121") + build_request(Command.FIND_CARD),
                                    within=0.3)
    statuses = [unwrap(frame) for frame in frames]
    assert [s.status.name for s in statuses if isinstance(s, SamResponse)] == ["checksum_error", "find_failed"]


async def test_faults_are_used_up_in_order() -> None:
    with PtyPair() as pair:
        reader = SimulatedReader(pair.master_fd)
        reader.misbehave("silent", "bad_checksum")
        async with serving(reader):
            first = await exchange(pair, build_request(Command.FIND_CARD), within=0.2)
            second = await exchange(pair, build_request(Command.FIND_CARD), within=0.2)
            third = await exchange(pair, build_request(Command.FIND_CARD), within=0.2)
    assert first == []
    assert len(second) == 1 and second[0][-1] != unwrap(third[0]).raw[-1]
    assert reader.stats["fault:silent"] == 1 and reader.stats["fault:bad_checksum"] == 1


class Sink:
    def __init__(self) -> None:
        self.readings: list[Reading] = []

    async def submit(self, reading: Reading) -> int:
        self.readings.append(reading)
        return len(self.readings)


async def test_shaobing_sim_idreader_is_read_by_the_driver(tmp_path: Path) -> None:
    link = tmp_path / "ttyID"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shaobing", "sim", "idreader", "--pty", str(link), "--card", "resident:王小明",
        "--card", "permit:陈美玲:female", "--hold", "0.6", "--gap", "0.3", "--for", "5",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        first = await asyncio.wait_for(process.stdout.readline(), 30)
        assert b"ID card reader on" in first and link.is_symlink()
        sink = Sink()
        driver = create_driver({"type": "idcard", "port": str(link), "poll_interval": 0.05}, source="test")
        ctx = DriverContext(site="rental-7", sink=sink, log=logging.getLogger("test.idreader.cli"))
        task = asyncio.create_task(driver.run(ctx))
        try:
            async with asyncio.timeout(10):
                while len(sink.readings) < 2:
                    await asyncio.sleep(0.02)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        rest = await asyncio.wait_for(process.stdout.read(), 30)
        assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert [(r.data["name"], r.data["card_type"]) for r in sink.readings] == [
        ("王小明", "resident"), ("陈美玲", "hk_macao_taiwan")]
    assert "presented" in first.decode() + rest.decode() and "done:" in rest.decode()
    assert not link.exists()
