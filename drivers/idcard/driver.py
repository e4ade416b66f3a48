"""The ID card reader at a service point: looks for a card, reads it, commits one `id_read` per card presented.

Each look is find (20 01) -> select (20 02) -> read (30 01, or 30 10). A card that stays on the reader is read again
but not reported again: its ID number is remembered until `lift_polls` finds in a row come back empty. A reading that
the outbox refuses is not remembered, so the next look reads and offers it again.

Failures and what is done about them:
- a refused frame (bad checksum, garbage, a frame cut off when the module stopped mid-frame): logged once as hex
  (read answers redacted, see `codec.redact`), counted, and the command counts as failed;
- no answer within `answer_timeout`: counted, the command counts as failed;
- `max_failures` failed commands in a row, or a port that goes away (adapter unplugged): the port is closed and opened
  again, after `reopen_delay` doubling up to `reopen_max` while it keeps failing.
A card whose contents are refused (an unknown nation code, a bad date) is logged once while it stays on the reader.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Mapping
from typing import Any

import serial

from drivers.base import DriverContext, OutboxRefused
from drivers.idcard.codec import answers, card_fields, parse_read, photo_fields, redact
from drivers.idcard.commands import Command
from drivers.idcard.frame import SamFramer, SamRequest, SamResponse, build_request, unwrap
from drivers.idcard.gb11643 import mask
from drivers.idcard.options import IdCardOptions
from drivers.idcard.status import FIND_FAILED, FIND_OK, OK, READ_FAILED, SELECT_FAILED
from drivers.serial_port import close_stream, open_stream
from shaobing.config import validate_table
from shaobing.envelope import Kind, Reading
from shaobing.errors import FrameError

READ_SIZE = 4096


class PortLost(Exception):
    """The serial port stopped working while open."""


class ExchangeFailed(Exception):
    """One command got no usable answer."""


class Unresponsive(Exception):
    """Too many commands in a row got no usable answer."""


class _Line:
    """One open port: send a command, wait for its answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ctx: DriverContext,
                 options: IdCardOptions) -> None:
        self.reader, self.writer, self.ctx, self.options = reader, writer, ctx, options
        self.framer = SamFramer()
        self.received: deque[bytes | FrameError] = deque()  # split from the stream, not yet looked at

    def _refuse(self, error: FrameError) -> None:
        self.ctx.refused(FrameError(error.reason, redact(error.frame)), self.options.port)

    async def exchange(self, command: Command) -> SamResponse:
        try:
            self.writer.write(build_request(command))
            await self.writer.drain()
        except (serial.SerialException, OSError) as exc:
            raise PortLost(str(exc)) from None
        try:
            async with asyncio.timeout(self.options.answer_timeout):
                return await self._answer(command)
        except TimeoutError:
            errors = self.framer.drain()
            for error in errors:
                self._refuse(error)
            self.ctx.stats.count("no_answer")
            raise ExchangeFailed(f"{command.label}: no answer within {self.options.answer_timeout:g}s"
                                 + (f" ({errors[-1].reason})" if errors else "")) from None

    async def _answer(self, command: Command) -> SamResponse:
        """The first frame that can answer `command`; late answers to earlier commands are skipped."""
        while True:
            while self.received:
                item = self.received.popleft()
                if isinstance(item, FrameError):
                    self._refuse(item)
                    continue
                try:
                    parsed = unwrap(item)
                except FrameError as error:
                    self._refuse(error)
                    raise ExchangeFailed(f"{command.label}: {error.reason}") from None
                if isinstance(parsed, SamRequest):
                    self._refuse(FrameError("a request where an answer was due", item))
                    raise ExchangeFailed(f"{command.label}: a request where an answer was due")
                if answers(command, parsed):
                    return parsed
                # the answer to a command that timed out, arriving now: skip it, so answers stay in step
                self.ctx.stats.count("late_answer")
                self.ctx.log.info("idcard: skipped a late answer (%s) while waiting for %s", parsed.status.name,
                                  command.label)
            try:
                data = await self.reader.read(READ_SIZE)
            except (serial.SerialException, OSError) as exc:
                raise PortLost(str(exc)) from None
            if not data:
                raise PortLost("end of stream")
            self.received.extend(self.framer.feed(data))


class IdCardDriver:
    def __init__(self, options: IdCardOptions) -> None:
        self.options = options
        self.name = options.name
        self._present: str | None = None  # ID number of the card on the reader, already reported
        self._absent = 0  # finds in a row that found nothing
        self._refused_card: bytes | None = None  # digest of the last card refused, so it is logged once
        self._delay = options.reopen_delay

    async def run(self, ctx: DriverContext) -> None:
        port = self.options.port
        down_reason: str | None = None  # logged once per outage, not once per retry
        opened_before = False
        while True:
            try:
                reader, writer = await open_stream(port, self.options.baudrate)
            except (serial.SerialException, OSError, ValueError) as exc:
                reason = f"cannot open: {exc}"
                if reason != down_reason:
                    ctx.log.warning("idcard %s: port %s %s; retrying", self.name, port, reason)
                    down_reason = reason
                ctx.stats.count("open_failed")
                await self._back_off()
                continue
            ctx.stats.count("opened")
            if opened_before:
                ctx.stats.count("reopen")
            opened_before = True
            down_reason = None
            ctx.log.info("idcard %s: port %s open at %d baud", self.name, port, self.options.baudrate)
            try:
                await self._serve(_Line(reader, writer, ctx, self.options))
            except PortLost as exc:
                ctx.stats.count("port_lost")
                ctx.log.warning("idcard %s: port %s lost: %s; reopening", self.name, port, exc)
            except Unresponsive as exc:
                ctx.stats.count("reader_unresponsive")
                ctx.log.warning("idcard %s: reader on %s not answering (%s); reopening the port", self.name, port,
                                exc)
            finally:
                await close_stream(writer)
            await self._back_off()

    async def _back_off(self) -> None:
        await asyncio.sleep(self._delay)
        self._delay = min(self._delay * 2, self.options.reopen_max)

    async def _serve(self, line: _Line) -> None:
        failures = 0
        while True:
            try:
                await self._look(line)
            except ExchangeFailed as exc:
                failures += 1
                line.ctx.log.info("idcard %s: %s (%d in a row)", self.name, exc, failures)
                if failures >= self.options.max_failures:
                    raise Unresponsive(str(exc)) from None
            else:
                failures = 0
                self._delay = self.options.reopen_delay  # the reader answers: the next outage starts afresh
            await asyncio.sleep(self.options.poll_interval)

    async def _look(self, line: _Line) -> None:
        """One find -> select -> read round."""
        ctx = line.ctx
        found = await self._command(line, Command.FIND_CARD, (FIND_OK, FIND_FAILED))
        if found.status.sw3 == FIND_FAILED:
            self._absent += 1
            if self._present is not None and self._absent >= self.options.lift_polls:
                ctx.log.info("idcard %s: card %s lifted", self.name, mask(self._present))
                self._present = None
                self._refused_card = None
            return
        self._absent = 0
        selected = await self._command(line, Command.SELECT_CARD, (OK, SELECT_FAILED))
        if selected.status.sw3 != OK:
            ctx.stats.count("select_failed")
            return
        command = Command.READ_FINGERPRINT if self.options.fingerprint else Command.READ
        answer = await self._command(line, command, (OK, READ_FAILED))
        if answer.status.sw3 != OK:
            ctx.stats.count("read_failed")
            return
        await self._card(ctx, answer)

    async def _command(self, line: _Line, command: Command, expected: tuple[int, ...]) -> SamResponse:
        answer = await line.exchange(command)
        if answer.status.sw3 not in expected:
            line.ctx.stats.count(f"status:{answer.status.name}")
            raise ExchangeFailed(f"{command.label}: module says {answer.status.name} ({answer.status.meaning})")
        return answer

    async def _card(self, ctx: DriverContext, answer: SamResponse) -> None:
        try:
            card = parse_read(answer)
        except FrameError as error:
            digest = hashlib.sha256(answer.raw).digest()
            if digest != self._refused_card:
                ctx.refused(FrameError(error.reason, redact(error.frame)), self.options.port)
                self._refused_card = digest
            else:
                ctx.stats.count("refused_again")
            return
        id_number = card.text.id_number
        if id_number == self._present:
            ctx.stats.count("still_present")
            return
        data = card_fields(card.text, today=ctx.clock.now().date())
        data.update(photo_fields(card.photo, embed=self.options.photo == "base64"))
        if card.fingerprint is not None:
            data["fingerprint_len"] = len(card.fingerprint)
        data["reader"] = self.options.reader or self.name
        data["service_point"] = self.options.service_point
        now = ctx.clock.now()
        try:
            seq = await ctx.sink.submit(Reading(device=self.name, kind=Kind.ID_READ, data=data, ts=now, rx=now))
        except OutboxRefused as exc:
            ctx.stats.count("outbox_refused")
            ctx.log.warning("idcard %s: card %s not committed (%s); read again at the next look", self.name,
                            mask(id_number), exc)
            return
        self._present = id_number
        ctx.stats.count("cards")
        ctx.log.info("idcard %s: card %s (%s) -> seq %d", self.name, mask(id_number), data["card_type"], seq)


def create(options: Mapping[str, Any], *, source: str) -> IdCardDriver:
    """Entry point `idcard`: see `IdCardOptions` (unknown keys are errors)."""
    return IdCardDriver(validate_table(options, IdCardOptions, source))
