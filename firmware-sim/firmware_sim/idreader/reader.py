"""The module side of a SAM serial line: answers find / select / read for the card on it, and can misbehave.

It works on a non-blocking descriptor it does not own (the master end of a `PtyPair`). A card is put on the reader
with `present` and taken off with `lift`. `faults` holds misbehaviours, each used up by the next answer:
- "bad_checksum": the answer's CHK is wrong;
- "stop_mid_frame": only the first half of the answer is sent, then nothing;
- "garbage": bytes that hold no preamble are sent instead of the answer;
- "silent": no answer at all;
- "late": the answer comes `late_by` seconds late (after the host has given up on it); requests wait meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import Counter, deque
from collections.abc import AsyncIterator
from typing import Final

from drivers.idcard.codec import read_answer
from drivers.idcard.commands import Command
from drivers.idcard.frame import SamFramer, SamRequest, build_response, unwrap
from drivers.idcard.status import FIND_FAILED, FIND_OK, OK, READ_FAILED, SELECT_FAILED
from drivers.idcard.text import CardText
from shaobing.errors import FrameError

FAULTS: Final = frozenset({"bad_checksum", "stop_mid_frame", "garbage", "silent", "late"})
SAM_ID: Final = bytes.fromhex("0501000020101010000000120000abcd")
CHECKSUM_ERROR: Final = 0x10
COMMAND_ERROR: Final = 0x21


class SimulatedReader:
    def __init__(self, fd: int, *, log: logging.Logger | None = None, photo: bytes | None = None) -> None:
        os.set_blocking(fd, False)
        self._fd = fd
        self._log = log or logging.getLogger("firmware_sim.idreader")
        self._framer = SamFramer()
        self._photo = photo if photo is not None else bytes(range(256)) * 4
        self.card: CardText | None = None
        self.faults: deque[str] = deque()
        self.late_by = 0.5
        self.stats: Counter[str] = Counter()  # requests by command, answers, faults, refused

    def present(self, card: CardText) -> None:
        self.card = card

    def lift(self) -> None:
        self.card = None

    def misbehave(self, *faults: str) -> None:
        unknown = set(faults) - FAULTS
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}: use {sorted(FAULTS)}")
        self.faults.extend(faults)

    def answer(self, request: SamRequest) -> bytes:
        """What the module answers to one request, before any fault."""
        command, card = request.command, self.card
        if command in (Command.RESET, Command.SAM_STATUS):
            return build_response(OK)
        if command is Command.SAM_ID:
            return build_response(OK, SAM_ID)
        if command is Command.FIND_CARD:
            return build_response(FIND_OK, bytes(4)) if card else build_response(FIND_FAILED)
        if command is Command.SELECT_CARD:
            return build_response(OK, bytes(8)) if card else build_response(SELECT_FAILED)
        if card is None:
            return build_response(READ_FAILED)
        fingerprint = bytes(512) if command is Command.READ_FINGERPRINT else None
        return read_answer(card, self._photo, fingerprint)

    async def serve(self) -> None:
        """Answer requests until cancelled or the line is hung up."""
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(self._fd, readable.set)
        try:
            while True:
                await readable.wait()
                readable.clear()
                try:
                    data = os.read(self._fd, 4096)
                except BlockingIOError:
                    continue
                except OSError:
                    # EIO: nobody holds the slave end open (the driver is between opens); wait for it to return
                    loop.remove_reader(self._fd)
                    await asyncio.sleep(0.02)
                    loop.add_reader(self._fd, readable.set)
                    continue
                for item in self._framer.feed(data):
                    await self._handle(item)
        finally:
            loop.remove_reader(self._fd)

    async def _handle(self, item: bytes | FrameError) -> None:
        if isinstance(item, FrameError):
            self.stats["refused"] += 1
            return
        try:
            parsed = unwrap(item)
        except FrameError as error:
            self.stats["refused"] += 1
            await self._write(build_response(CHECKSUM_ERROR if error.reason.startswith("checksum")
                                             else COMMAND_ERROR))
            return
        if not isinstance(parsed, SamRequest):
            self.stats["refused"] += 1
            await self._write(build_response(COMMAND_ERROR))
            return
        self.stats[parsed.command.label] += 1
        frame = self.answer(parsed)
        fault = self.faults.popleft() if self.faults else None
        if fault is not None:
            self.stats[f"fault:{fault}"] += 1
            self._log.info("idreader: %s on the answer to %s", fault, parsed.command.label)
        if fault == "silent":
            return
        if fault == "stop_mid_frame":
            frame = frame[:max(len(frame) // 2, 6)]
        elif fault == "bad_checksum":
            frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
        elif fault == "garbage":
            frame = bytes([0x55, 0x13, 0x00, 0xFE]) * 8
        elif fault == "late":
            await asyncio.sleep(self.late_by)
        await self._write(frame)
        self.stats["answers"] += 1

    async def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._fd, view):]
            except BlockingIOError:
                await asyncio.sleep(0.005)
            except OSError:
                return  # hung up: the answer is lost, as on a real line


@contextlib.asynccontextmanager
async def serving(reader: SimulatedReader) -> AsyncIterator[SimulatedReader]:
    """The reader answering in a task for the length of the block."""
    task = asyncio.create_task(reader.serve(), name="simulated id reader")
    try:
        yield reader
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
