"""`shaobing sim door` against the driver: the script is played once the link is up and the commands are printed."""

from __future__ import annotations

import asyncio
import logging
import re
import time

import pytest
from firmware_sim.door.cli import check_actions, run_door_cli

from drivers.base import AccessDecision, DriverContext
from drivers.osdp.driver import create
from shaobing.envelope import Kind
from tests.drivers.osdp.test_reader_pty import KEY, RecordingSink


class OneCard:
    def decide(self, card: str, door: str, at: object) -> AccessDecision:
        return AccessDecision(card == "W26:90:324", "granted" if card == "W26:90:324" else "unknown_card")


@pytest.mark.parametrize("action", ["card:W26:256:1", "card:zz", "wait:x", "wait:-1", "jump", "open:now"])
def test_bad_actions_are_refused_before_starting(action: str) -> None:
    with pytest.raises(ValueError, match=r"card|wait|action|facility"):
        check_actions([action])


async def test_sim_door_plays_its_script_and_prints_what_the_panel_sent(capsys: pytest.CaptureFixture[str]) -> None:
    sim = asyncio.create_task(run_door_cli(port=None, address=0, scbk=KEY, interval=0.2, duration=2.5,
                                           actions=["close", "card:W26:90:324", "card:W26:1:1"]))
    deadline = time.monotonic() + 3
    err = ""
    while not (found := re.search(r"/dev/pts/\d+", err)):
        assert time.monotonic() < deadline, "the simulator printed no serial line"
        await asyncio.sleep(0.05)
        err += capsys.readouterr().err
    sink = RecordingSink()
    driver = create({"port": found.group(0), "scbk": KEY, "door": "gate"}, source="test")
    ctx = DriverContext(site="s", sink=sink, log=logging.getLogger("test.osdp"), access=OneCard())
    run = asyncio.create_task(driver.run(ctx))
    assert await sim == 0
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    lines = capsys.readouterr().out.splitlines()
    assert "reader: online with secure channel" in lines
    assert lines.index("reader: output 0 pulse 5s") < lines.index("reader: LED green") < lines.index("reader: LED red")
    assert [(s["card"], s["decision"]) for s in sink.of(Kind.CARD_SWIPE)] == [
        ("W26:90:324", "granted"), ("W26:1:1", "denied")]
