"""Contact ID receiver on a serial line: frames, parses, commits each reading, then sends the kiss-off.

The port is a device path or a pyserial URL. A port that cannot be opened, or that goes away (adapter unplugged, pty
closed), is logged once and tried again every `reopen_delay` seconds until the driver is cancelled.
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import Mapping
from typing import Any

import serial
from pydantic import Field

from drivers.base import DriverContext, OutboxRefused
from drivers.contact_id.codec import parse
from drivers.contact_id.events import contact_id_reading
from drivers.contact_id.framing import ACK, MAX_LINE, NAK, LineFramer, Overflow
from drivers.serial_reopen import PortLost, serve_reopening
from shaobing.config import Closed, validate_table
from shaobing.envelope import Reading
from shaobing.errors import FrameError

READ_SIZE = 1024


class ContactIdSerialOptions(Closed):
    name: str = Field(default="panel", min_length=1)
    port: str = Field(min_length=1)
    baudrate: int = Field(default=9600, gt=0)
    reopen_delay: float = Field(default=2.0, gt=0)


class ContactIdSerialDriver:
    def __init__(self, options: ContactIdSerialOptions) -> None:
        self.options = options
        self.name = options.name

    async def run(self, ctx: DriverContext) -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(ctx, reader, writer)

        await serve_reopening(ctx, f"contact-id {self.name}", self.options.port, self.options.baudrate,
                              self.options.reopen_delay, serve)

    async def _serve(self, ctx: DriverContext, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = LineFramer(MAX_LINE)
        while True:
            try:
                data = await reader.read(READ_SIZE)
            except (serial.SerialException, OSError) as exc:
                raise PortLost(str(exc)) from None
            if not data:
                raise PortLost("end of stream")
            for line in framer.feed(data):
                reply = await self._handle(ctx, line)
                try:
                    await _send_reply(writer, reply)
                except (serial.SerialException, OSError) as exc:
                    raise PortLost(str(exc)) from None

    async def _handle(self, ctx: DriverContext, line: bytes) -> bytes:
        """The answer to one line: ACK once its reading is committed, NAK when refused or not committed."""
        port = self.options.port
        try:
            if isinstance(line, Overflow):
                raise FrameError(f"overflow: more than {MAX_LINE} bytes without CR or LF", line)
            message = parse(line)
        except FrameError as error:
            ctx.refused(error, port)
            return NAK
        kind, data = contact_id_reading(
            qualifier=message.qualifier, event_code=message.event_code, partition=message.partition,
            zone_or_user=message.zone_or_user, source="contact_id", account=message.account)
        now = ctx.clock.now()
        reading = Reading(device=self.name, kind=kind, data=data, ts=now, rx=now)
        text = line.decode("ascii")
        try:
            seq = await ctx.sink.submit(reading)
        except OutboxRefused as exc:
            ctx.stats.count("outbox_refused")
            ctx.log.warning("contact-id %s: frame %r not committed (%s); NAK so the panel retries", self.name, text,
                            exc)
            return NAK
        except Exception:
            # the sink failed in a way it should not; the panel keeps the event and retries, the driver carries on
            ctx.stats.count("submit_failed")
            ctx.log.exception("contact-id %s: frame %r: submit failed; NAK so the panel retries", self.name, text)
            return NAK
        ctx.stats.count("accepted")
        ctx.log.info("contact-id %s: frame %r -> seq %d", self.name, text, seq)
        return ACK


async def _send_reply(writer: asyncio.StreamWriter, reply: bytes) -> None:
    """Write the one-byte answer straight to the port, so a hung-up line raises here (and is handled as a lost port)
    rather than inside the transport, which would report it to the event loop as an unhandled error."""
    port = writer.get_extra_info("serial")
    direct = port is not None and writer.transport.get_write_buffer_size() == 0 and _writable(port.fileno())
    if direct and port.write(reply) == len(reply):
        return
    writer.write(reply)  # the port's buffer is full: let the transport finish the write when it drains
    await writer.drain()


def _writable(fd: int) -> bool:
    # pyserial's non-blocking write spins while the port is full, so only call it when a write cannot block
    _, ready, _ = select.select([], [fd], [], 0)
    return bool(ready)


def create(options: Mapping[str, Any], *, source: str) -> ContactIdSerialDriver:
    """Entry point `contact_id`: options name, port, baudrate, reopen_delay (unknown keys are errors)."""
    return ContactIdSerialDriver(validate_table(options, ContactIdSerialOptions, source))
