"""`shaobing sim idreader`: a simulated ID card reader on a serial line, presenting a sequence of cards.

Each card lies on the reader `hold` seconds, then is lifted for `gap` seconds. Cards are written
`KIND:NAME[:GENDER[:BIRTH]]`, KIND one of resident, permit (HK/Macao/Taiwan residence permit) or foreigner, e.g.
`resident:王小明:male:1991-01-01`; with none, the demo's four tenants are presented. `--fault` makes the module
misbehave on its next answers (bad_checksum, stop_mid_frame, garbage, silent, late), in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TextIO

import serial

from drivers.idcard.gb11643 import mask
from drivers.idcard.text import CardText
from firmware_sim.idreader import cards
from firmware_sim.idreader.reader import SimulatedReader, serving
from firmware_sim.pty_pair import PtyPair

GENDERS = ("male", "female")


def parse_card(spec: str, index: int) -> CardText:
    parts = spec.split(":")
    if not 2 <= len(parts) <= 4 or not parts[1]:
        raise ValueError(f"card {spec!r}: write KIND:NAME[:GENDER[:BIRTH]], e.g. resident:王小明:male:1991-01-01")
    kind, name = parts[0], parts[1]
    gender = parts[2] if len(parts) > 2 and parts[2] else "male"
    if gender not in GENDERS:
        raise ValueError(f"card {spec!r}: gender is male or female")
    try:
        birth = date.fromisoformat(parts[3]) if len(parts) > 3 else date(1990, 5, 17)
    except ValueError:
        raise ValueError(f"card {spec!r}: birth date as YYYY-MM-DD") from None
    if kind == "resident":
        return cards.resident(name, gender=gender, birth=birth, sequence=100 + index)
    if kind == "permit":
        return cards.residence_permit(name, gender=gender, birth=birth, sequence=100 + index)
    if kind == "foreigner":
        return cards.foreigner(name, gender=gender, birth=birth, number=f"CAN3100{birth:%y%m%d}{index % 100:02d}")
    raise ValueError(f"card {spec!r}: kind is resident, permit or foreigner")


def _point_link(link: Path, target: str) -> Callable[[], None]:
    """Point `link` at `target` (the port the driver is configured with); returns what removes it."""
    if link.is_symlink():
        link.unlink()
    link.symlink_to(target)
    return lambda: link.unlink(missing_ok=True)


def _stamp() -> str:
    return time.strftime("%H:%M:%S")


async def run_idreader_cli(*, port: str | None, pty: str | None, card_specs: list[str], hold: float, gap: float,
                           repeat: bool, faults: list[str], duration: float | None, baudrate: int = 115200,
                           out: TextIO = sys.stdout) -> int:
    """Present the cards (over and over with `repeat`) until done, `duration` is up, or interrupted."""
    if hold <= 0 or gap < 0:
        raise ValueError("--hold must be positive and --gap not negative")
    script = [parse_card(spec, index) for index, spec in enumerate(card_specs)] or cards.demo_cards()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    with contextlib.ExitStack() as stack:
        if port is not None:
            device = stack.enter_context(serial.serial_for_url(port, baudrate=baudrate))
            fd, where = device.fileno(), port
        else:
            pair = stack.enter_context(PtyPair())
            fd, where = pair.master_fd, pair.slave_path
            if pty is not None:
                stack.callback(_point_link(Path(pty), pair.slave_path))
                where = f"{pty} -> {pair.slave_path}"
        reader = SimulatedReader(fd)
        reader.misbehave(*faults)
        print(f"{_stamp()} ID card reader on {where} (point the edge's idcard driver at it)", file=out, flush=True)
        async with serving(reader):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(duration):
                    await _present(reader, script, hold=hold, gap=gap, repeat=repeat, stop=stop, out=out)
        counts = ", ".join(f"{name} {count}" for name, count in sorted(reader.stats.items()))
        print(f"{_stamp()} done: {counts or 'no requests'}", file=out, flush=True)
    return 0


async def _present(reader: SimulatedReader, script: list[CardText], *, hold: float, gap: float, repeat: bool,
                   stop: asyncio.Event, out: TextIO) -> None:
    while not stop.is_set():
        for card in script:
            reader.present(card)
            print(f"{_stamp()} presented {card.card_type} {card.name} {mask(card.id_number)}", file=out, flush=True)
            if await _wait(stop, hold):
                return
            reader.lift()
            print(f"{_stamp()} lifted", file=out, flush=True)
            if await _wait(stop, gap):
                return
        if not repeat:
            return


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds`; True if told to stop meanwhile."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
    return stop.is_set()
