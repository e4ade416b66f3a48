"""An NMEA receiver on a serial line (a box's onboard GNSS module, a USB receiver, a serial device server).

The port is a device path or a pyserial URL. A port that cannot be opened, or that goes away (adapter unplugged,
pty closed), is logged once per outage and tried again every `reopen_delay` seconds until the driver is cancelled;
the epoch open when the port went away is flushed first. The rate limiter lives as long as the driver, so a reopened
port does not restart the interval.
"""

from __future__ import annotations

import asyncio
from typing import Final

import serial

from drivers.base import DriverContext
from drivers.contact_id.framing import LineFramer, Overflow
from drivers.nmea.options import NmeaOptions
from drivers.nmea.stream import PositionStream
from drivers.serial_reopen import PortLost, serve_reopening
from shaobing.errors import FrameError

READ_SIZE: Final = 1024
# An epoch still open after this long without a byte is complete: receivers send an epoch's sentences back to back.
EPOCH_QUIET_S: Final = 0.5


class NmeaSerialDriver:
    def __init__(self, options: NmeaOptions) -> None:
        assert options.port is not None  # the options' validator requires it in serial mode
        self.options = options
        self.name = options.name
        self.port: str = options.port

    async def run(self, ctx: DriverContext) -> None:
        stream = PositionStream(self.name, self.options, ctx, source=self.port)

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(reader, stream)

        # the epoch open when the port went away is flushed before the port is tried again
        await serve_reopening(ctx, f"nmea {self.name}", self.port, self.options.baudrate, self.options.reopen_delay,
                              serve, after_close=stream.flush)

    async def _serve(self, reader: asyncio.StreamReader, stream: PositionStream) -> None:
        framer = LineFramer(self.options.max_line)
        while True:
            try:
                async with asyncio.timeout(EPOCH_QUIET_S if stream.pending else None):
                    data = await reader.read(READ_SIZE)
            except TimeoutError:
                await stream.flush()
                continue
            except (serial.SerialException, OSError) as exc:
                raise PortLost(str(exc)) from None
            if not data:
                raise PortLost("end of stream")
            for line in framer.feed(data):
                if isinstance(line, Overflow):
                    # a wrong baud rate looks like this; the line cannot be closed, so it is refused and read on
                    stream.refusals.refused(FrameError(
                        f"length: more than {self.options.max_line} bytes without CR or LF", bytes(line[:64])))
                    continue
                await stream.line(line)
