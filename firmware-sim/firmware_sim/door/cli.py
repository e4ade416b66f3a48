"""`shaobing sim door`: a simulated OSDP reader on a serial line, playing a script of cards, door contact changes and
exit-button presses, and printing every LED, buzzer and output command the control panel sends it.

Actions are written `card:W26:90:324`, `card:W34:1000:7`, `card:04A1B2C3` (a UID), `open`, `close`, `exit` (the exit
button) and `wait:SECONDS`. With no actions the reader plays a short demo: a granted card and its opening, an unknown
card, a forced door.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any

import osdp_sys
import serial

from firmware_sim.door.reader import COLORS, SimulatedReader, card_bytes
from firmware_sim.pty_pair import PtyPair

DEMO = ["close", "card:W26:90:324", "open", "wait:2", "close", "card:W26:1:1", "wait:2", "open", "wait:2", "close"]


def check_actions(actions: list[str]) -> None:
    """Refuse a malformed script before anything starts."""
    for action in actions:
        name, _, arg = action.partition(":")
        if name == "card":
            card_bytes(arg)
        elif name == "wait":
            try:
                if float(arg) < 0:
                    raise ValueError
            except ValueError:
                raise ValueError(f"action {action!r}: write wait:SECONDS") from None
        elif name not in ("open", "close", "exit") or arg:
            raise ValueError(f"action {action!r}: card:NAME, open, close, exit or wait:SECONDS")


def describe(command: dict[str, Any]) -> str:
    kind = command.get("command")
    if kind == osdp_sys.CMD_LED:
        return f"LED {COLORS.get(command['on_color'], command['on_color'])}"
    if kind == osdp_sys.CMD_BUZZER:
        return f"buzzer {int(command['on_count']) / 10:g}s"
    if kind == osdp_sys.CMD_OUTPUT:
        return f"output {command['output_no']} pulse {int(command['timer_count']) / 10:g}s"
    return f"command {command}"


@contextlib.contextmanager
def _line(port: str | None) -> Iterator[int]:
    if port is None:
        with PtyPair() as pair:
            print(f"reader serial line: {pair.slave_path} (point the edge's osdp driver at it)", file=sys.stderr)
            yield pair.master_fd
        return
    with serial.Serial(port, 9600, timeout=0) as opened:  # opened non-blocking and raw by pyserial
        yield opened.fileno()


async def run_door_cli(*, port: str | None, address: int, scbk: str | None, actions: list[str], interval: float,
                       duration: float | None) -> int:
    """Play the actions once the panel has brought the link up, then keep answering until `duration` is over (or
    forever); 0 when every action was played."""
    check_actions(actions or DEMO)
    key = bytes.fromhex(scbk) if scbk else None
    if key is not None and len(key) != 16:
        raise ValueError("--scbk must be 16 bytes in hex")
    started = time.monotonic()
    with _line(port) as fd, SimulatedReader(fd, address=address, scbk=key) as reader:
        printed = 0

        def show() -> None:
            nonlocal printed
            for command in reader.received.commands[printed:]:
                print(f"reader: {describe(command)}", flush=True)
            printed = len(reader.received.commands)

        async def idle(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                show()
                await asyncio.sleep(0.05)

        while not reader.online or (key is not None and not reader.secure):
            if duration is not None and time.monotonic() - started > duration:
                print("reader: the control panel never brought the link up", file=sys.stderr)
                return 1
            await idle(0.1)
        print(f"reader: online{' with secure channel' if reader.secure else ''}", flush=True)
        for action in actions or DEMO:
            name, _, arg = action.partition(":")
            if name == "wait":
                await idle(float(arg))
                continue
            if name == "card":
                reader.present(arg)
            elif name == "exit":
                reader.press_exit()
            else:
                reader.door(name == "open")
            print(f"reader: {action}", flush=True)
            await idle(interval)
        while duration is None or time.monotonic() - started < duration:
            await idle(0.1)
        show()
    return 0
