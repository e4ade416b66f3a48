"""The OSDP driver as control panel on a real pseudo-terminal, with the simulated reader (a libosdp peripheral) on the
other end: secure channel, card decisions shown on the reader, door supervision, wrong key, a reader going silent."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import osdp_sys
import pytest
from firmware_sim.door.reader import SimulatedReader
from firmware_sim.pty_pair import PtyPair

from drivers.base import AccessDecision, DriverContext
from drivers.osdp.driver import OsdpDriver, create
from shaobing.envelope import Kind, Reading

KEY = "00112233445566778899aabbccddeeff"
OTHER_KEY = "ffeeddccbbaa99887766554433221100"
LOG = "test.osdp"


class RecordingSink:
    def __init__(self) -> None:
        self.readings: list[Reading] = []

    async def submit(self, reading: Reading) -> int:
        self.readings.append(reading)
        return len(self.readings)

    def of(self, kind: Kind) -> list[dict[str, Any]]:
        return [r.data for r in self.readings if r.kind is kind]


class DictAccess:
    """The allow-list as a plain dict: card -> (person, doors)."""

    def __init__(self, cards: dict[str, tuple[str, set[str]]]) -> None:
        self.cards = cards

    def decide(self, card: str, door: str, at: datetime) -> AccessDecision:
        entry = self.cards.get(card)
        if entry is None:
            return AccessDecision(False, "unknown_card")
        person, doors = entry
        if door not in doors:
            return AccessDecision(False, "door_not_allowed", person)
        return AccessDecision(True, "granted", person)


@dataclass
class Bench:
    reader: SimulatedReader
    sink: RecordingSink
    ctx: DriverContext
    driver: OsdpDriver


async def until(check: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def bench(*, reader_key: str | None = KEY, online: bool = True, **options: Any) -> AsyncIterator[Bench]:
    table: dict[str, Any] = {"name": "gate-reader", "door": "gate", "scbk": KEY, "offline_after": 1.0,
                             "reconnect_delay": 0.2, "unlock_seconds": 1.0, "held_open_after": 0.6, **options}
    with PtyPair() as pair:
        table.setdefault("port", pair.slave_path)
        reader = SimulatedReader(pair.master_fd, scbk=bytes.fromhex(reader_key) if reader_key else None)
        sink = RecordingSink()
        access = DictAccess({"W26:90:324": ("Zhang San", {"gate"}), "04A1B2C3": ("Li Si", {"gate"})})
        ctx = DriverContext(site="mine-1", sink=sink, log=logging.getLogger(LOG), access=access)
        driver = create(table, source="test")
        with reader:
            task = asyncio.create_task(driver.run(ctx))
            try:
                if online:
                    await until(lambda: reader.online and ctx.stats.counts["link_up"] >= 1)
                yield Bench(reader, sink, ctx, driver)
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task


async def test_granted_card_unlocks_with_green_and_one_swipe() -> None:
    async with bench() as b:
        assert b.reader.secure
        presented = b.reader.present("W26:90:324")
        await until(lambda: b.reader.received.beeps and b.sink.of(Kind.CARD_SWIPE))
        # the lock first, then what the person sees and hears
        assert [c["command"] for c in b.reader.received.commands] == [
            osdp_sys.CMD_OUTPUT, osdp_sys.CMD_LED, osdp_sys.CMD_BUZZER]
        assert presented <= b.reader.received.at[0] <= b.reader.received.at[1] <= b.reader.received.at[2]
        assert b.reader.received.pulses == [(0, 1.0)]
        assert b.reader.received.leds == ["green"]
        assert b.reader.received.beeps == [0.1]
        assert b.sink.of(Kind.CARD_SWIPE) == [{
            "card": "W26:90:324", "reader": "gate-reader", "door": "gate", "decision": "granted",
            "reason": "granted", "person": "Zhang San", "format": "wiegand26", "bits": 26}]
        assert b.sink.readings[-1].device == "gate-reader"


async def test_uid_card_read_by_its_hex_name() -> None:
    async with bench() as b:
        b.reader.present_raw(bytes.fromhex("04a1b2c3"), 32, wiegand=False)
        await until(lambda: b.sink.of(Kind.CARD_SWIPE))
        swipe = b.sink.of(Kind.CARD_SWIPE)[0]
        assert (swipe["card"], swipe["decision"], swipe["format"], swipe["bits"]) == ("04A1B2C3", "granted", "raw", 32)


async def test_unknown_card_denied_with_red_and_no_unlock() -> None:
    async with bench() as b:
        b.reader.present("W34:1000:7")
        await until(lambda: b.reader.received.beeps and b.sink.of(Kind.CARD_SWIPE))
        assert b.reader.received.leds == ["red"]
        assert b.reader.received.beeps == [1.0]
        assert b.reader.received.pulses == []
        swipe = b.sink.of(Kind.CARD_SWIPE)[0]
        assert (swipe["card"], swipe["decision"], swipe["reason"], swipe["format"]) == (
            "W34:1000:7", "denied", "unknown_card", "wiegand34")


class BrokenAccess:
    """An allow-list that fails on every question (a bug, a list half loaded)."""

    def decide(self, card: str, door: str, at: datetime) -> AccessDecision:
        raise RuntimeError("allow-list unavailable")


async def test_a_failing_allow_list_keeps_the_door_shut_and_still_records_the_swipe() -> None:
    async with bench() as b:
        b.ctx.access = BrokenAccess()
        b.reader.present("W26:90:324")
        await until(lambda: b.reader.received.beeps and b.sink.of(Kind.CARD_SWIPE))
        assert (b.reader.received.leds, b.reader.received.pulses) == (["red"], [])
        swipe = b.sink.of(Kind.CARD_SWIPE)[0]
        assert (swipe["card"], swipe["decision"], swipe["reason"]) == ("W26:90:324", "denied", "decider_failed")
        # the driver carries on: the next card is decided by a working list again
        b.ctx.access = DictAccess({"W26:90:324": ("Zhang San", {"gate"})})
        b.reader.present("W26:90:324")
        await until(lambda: len(b.sink.of(Kind.CARD_SWIPE)) == 2)
        assert b.sink.of(Kind.CARD_SWIPE)[1]["decision"] == "granted"


async def test_parity_error_is_refused_logged_in_hex_and_shown_red(caplog: pytest.LogCaptureFixture) -> None:
    async with bench() as b:
        b.reader.present_raw(bytes.fromhex("2D00A240"), 26)  # W26:90:324 with its trailing parity bit flipped
        await until(lambda: b.reader.received.leds)
        assert b.reader.received.leds == ["red"] and b.reader.received.pulses == []
        assert b.sink.of(Kind.CARD_SWIPE) == []
        assert b.ctx.stats.counts["refused:parity"] == 1
        assert any("2d00a240" in r.getMessage() for r in caplog.records if r.name == LOG)


async def test_door_forced_open_alarms_and_restores_on_closing() -> None:
    async with bench() as b:
        b.reader.door(False)
        await until(lambda: b.sink.of(Kind.DOOR))
        b.reader.door(True)
        await until(lambda: b.sink.of(Kind.ALARM))
        b.reader.door(False)
        await until(lambda: len(b.sink.of(Kind.ALARM)) == 2)
        assert [d["state"] for d in b.sink.of(Kind.DOOR)][:3] == ["closed", "forced", "closed"]
        assert b.sink.of(Kind.ALARM) == [
            {"class": "forced_door", "source": "door", "zone": "gate", "door": "gate", "qualifier": "new"},
            {"class": "forced_door", "source": "door", "zone": "gate", "door": "gate", "qualifier": "restore"}]


async def test_door_held_open_after_a_grant_alarms_once_then_restores() -> None:
    async with bench() as b:
        b.reader.door(False)
        await until(lambda: b.sink.of(Kind.DOOR))
        b.reader.present("W26:90:324")
        await until(lambda: b.sink.of(Kind.CARD_SWIPE))
        b.reader.door(True)
        await until(lambda: b.sink.of(Kind.ALARM))
        await asyncio.sleep(0.8)  # past another held_open_after: still one alarm for this opening
        b.reader.door(False)
        await until(lambda: len(b.sink.of(Kind.ALARM)) == 2)
        assert [d["state"] for d in b.sink.of(Kind.DOOR)] == ["closed", "open", "held", "closed"]
        assert [(a["class"], a["qualifier"]) for a in b.sink.of(Kind.ALARM)] == [
            ("held_door", "new"), ("held_door", "restore")]


async def test_exit_request_then_opening_is_not_forced() -> None:
    async with bench(held_open_after=10.0) as b:
        b.reader.door(False)
        await until(lambda: b.sink.of(Kind.DOOR))
        b.reader.press_exit()
        await until(lambda: b.reader.received.pulses)
        b.reader.door(True)
        await until(lambda: len(b.sink.of(Kind.DOOR)) == 2)
        b.reader.door(False)
        await until(lambda: len(b.sink.of(Kind.DOOR)) == 3)
        assert [d["state"] for d in b.sink.of(Kind.DOOR)] == ["closed", "open", "closed"]
        assert b.sink.of(Kind.ALARM) == []
        assert b.ctx.stats.counts["exit_request"] == 1


async def test_wrong_key_accepts_no_reads_and_reports_tamper(caplog: pytest.LogCaptureFixture) -> None:
    async with bench(reader_key=OTHER_KEY, online=False) as b:
        await until(lambda: b.sink.of(Kind.TROUBLE))
        b.reader.present("W26:90:324")
        await until(lambda: b.ctx.stats.counts["secure_channel_failed"] >= 2)  # it keeps trying
        assert b.sink.of(Kind.CARD_SWIPE) == []
        assert b.reader.received.commands == []
        assert b.ctx.stats.counts["link_up"] == 0
        troubles = b.sink.of(Kind.TROUBLE)
        assert len(troubles) == 1  # once per outage, however many tries
        assert (troubles[0]["class"], troubles[0]["source"], troubles[0]["zone"], troubles[0]["qualifier"]) == (
            "tamper", "door", "gate", "new")
        assert "secure channel key" in troubles[0]["reason"]
        assert any("secure channel key" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


async def test_reader_going_silent_is_offline_trouble_then_restored() -> None:
    async with bench() as b:
        b.reader.pause()
        await until(lambda: b.sink.of(Kind.TROUBLE))
        assert [(t["class"], t["qualifier"]) for t in b.sink.of(Kind.TROUBLE)] == [("device_offline", "new")]
        b.reader.resume()
        await until(lambda: len(b.sink.of(Kind.TROUBLE)) == 2)
        assert b.sink.of(Kind.TROUBLE)[1]["qualifier"] == "restore"
        b.reader.present("W26:90:324")  # and the door works again
        await until(lambda: b.sink.of(Kind.CARD_SWIPE))
        assert b.sink.of(Kind.CARD_SWIPE)[0]["decision"] == "granted"


async def test_port_that_cannot_be_opened_is_comm_fail() -> None:
    async with bench(online=False, port="/dev/osdp-no-such-port") as b:
        await until(lambda: b.sink.of(Kind.TROUBLE))
        trouble = b.sink.of(Kind.TROUBLE)[0]
        assert (trouble["class"], trouble["qualifier"]) == ("comm_fail", "new")
        assert "/dev/osdp-no-such-port" in trouble["reason"]


async def test_without_secure_channel_when_written_out() -> None:
    async with bench(reader_key=None, secure=False, scbk=None) as b:
        assert not b.reader.secure
        b.reader.present("W26:90:324")
        await until(lambda: b.sink.of(Kind.CARD_SWIPE))
        assert b.sink.of(Kind.CARD_SWIPE)[0]["decision"] == "granted"
