"""`shaobing sim card` as a person runs it: the real console script presenting a card to a real pcscd."""

from __future__ import annotations

import asyncio
import sys

from tests.drivers.pcsc.kit import DOOR, DictAllowList, Holder, running_driver
from tests.drivers.pcsc.pcscd import Pcscd, free_port_pair


async def sim_card(*arguments: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shaobing", "sim", "card", *arguments,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_the_simulated_card_presented_twice_is_two_swipes(pcscd: Pcscd) -> None:
    allow_list = DictAllowList({"04A1B2C3": Holder("Li Wei", frozenset({DOOR}))})
    async with running_driver(allow_list) as run:
        status, output = await sim_card("--uid", "04a1b2c3", "--port", str(pcscd.port), "--hold", "1", "--gap", "1",
                                        "--count", "2")
        assert status == 0, output
        assert [(swipe["card"], swipe["decision"]) for swipe in run.swipes()] == [("04A1B2C3", "granted")] * 2
    assert "card 04A1B2C3 on the reader (2/2)" in output
    assert "read 2 time(s) so far" in output


async def test_without_a_reader_to_reach_it_says_so_and_exits_1() -> None:
    status, output = await sim_card("--uid", "04A1B2C3", "--port", str(free_port_pair()))
    assert status == 1
    assert "cannot reach the virtual reader" in output and "is pcscd running with vpcd?" in output


async def test_a_uid_that_is_not_hex_is_refused() -> None:
    status, output = await sim_card("--uid", "04A1B2CZ")
    assert status == 1
    assert "--uid must be hex" in output
