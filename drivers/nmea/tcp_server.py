"""Trackers sending NMEA over TCP: one tracker per connection, its sentences as position readings.

Identification: a tracker may send one identification line first, either `$PSHB,ID,<id>*hh` (an NMEA proprietary
sentence with its checksum) or plain `ID:<id>`, where `<id>` is 1-32 of A-Z a-z 0-9 _ - (an IMEI fits). Its readings
then come from device `{name}-{id}`; without one, from `{name}-{peer host}` (trackers behind one NAT address then
share a device name: give them identification lines).

Limits: a connection silent for `idle_timeout` seconds is closed; so is one sending a line longer than `max_line`
bytes, or `GARBAGE_LINES` refused lines in a row (it is not a tracker speaking NMEA); beyond `max_connections`
connections a new one is closed at once. The epoch open when a connection ends is flushed.
"""

from __future__ import annotations

import asyncio
import re
from typing import Final

from drivers.base import DriverContext
from drivers.contact_id.framing import LineFramer, Overflow
from drivers.nmea.codec import checksum
from drivers.nmea.options import NmeaOptions
from drivers.nmea.stream import PositionStream
from drivers.tcp_server import TcpServer
from shaobing.errors import FrameError

READ_SIZE: Final = 4096
EPOCH_QUIET_S: Final = 0.5  # an epoch still open after this long without a byte is complete
GARBAGE_LINES: Final = 32

_IDENTIFICATION = re.compile(rb"\$(PSHB,ID,([A-Za-z0-9_-]{1,32}))\*([0-9A-Fa-f]{2})|ID:([A-Za-z0-9_-]{1,32})")


def identification(line: bytes) -> str | None:
    """The tracker id an identification line gives, or None if `line` is not one (a wrong checksum is not one)."""
    found = _IDENTIFICATION.fullmatch(line.strip())
    if found is None:
        return None
    if found[4] is not None:
        return found[4].decode("ascii")
    if checksum(found[1].decode("ascii")) != found[3].decode("ascii").upper():
        return None
    return found[2].decode("ascii")


class NmeaTcpServer(TcpServer):
    """Serve trackers until cancelled; `ready` is set and `bound_port` known once it listens."""

    def __init__(self, options: NmeaOptions) -> None:
        super().__init__(f"nmea {options.name}", options.max_connections)
        self.options = options
        self.name = options.name

    async def run(self, ctx: DriverContext) -> None:
        await self._listen(ctx, *self.options.host_port())

    def _listening(self, ctx: DriverContext, host: str) -> None:
        ctx.log.info("nmea %s: listening for trackers on %s:%s", self.name, host, self.bound_port)

    def _peer_name(self, writer: asyncio.StreamWriter) -> str:
        return _peer_text(_peer(writer))

    def _end_quietly(self, ctx: DriverContext, peer: str) -> bool:
        ctx.log.info("nmea %s: closing %s: the server stops", self.name, peer)
        return True

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                                ctx: DriverContext, peer: str) -> None:
        await self._serve(reader, ctx, _peer(writer))

    async def _serve(self, reader: asyncio.StreamReader, ctx: DriverContext, peer: tuple[str, int]) -> None:
        source = _peer_text(peer)
        framer = LineFramer(self.options.max_line)
        stream: PositionStream | None = None
        loop = asyncio.get_running_loop()
        idle_deadline = loop.time() + self.options.idle_timeout
        try:
            while True:
                quiet = stream is not None and stream.pending
                deadline = min(idle_deadline, loop.time() + EPOCH_QUIET_S) if quiet else idle_deadline
                try:
                    async with asyncio.timeout_at(deadline):
                        chunk = await reader.read(READ_SIZE)
                except TimeoutError:
                    if loop.time() < idle_deadline and stream is not None:
                        await stream.flush()
                        continue
                    ctx.stats.count("idle_closed")
                    ctx.log.info("nmea %s: closing %s after %.0f s idle", self.name, source,
                                 self.options.idle_timeout)
                    return
                if not chunk:
                    return
                idle_deadline = loop.time() + self.options.idle_timeout
                for line in framer.feed(chunk):
                    if stream is None:
                        stream, identified = self._identify(line, ctx, peer)
                        if identified:
                            continue
                    if isinstance(line, Overflow):
                        stream.refusals.refused(FrameError(
                            f"length: more than {self.options.max_line} bytes without CR or LF", bytes(line[:64])))
                        self._garbage(ctx, source, "a line longer than max_line")
                        return
                    await stream.line(line)
                    if stream.refusals.run >= GARBAGE_LINES:
                        self._garbage(ctx, source, f"{GARBAGE_LINES} refused lines in a row")
                        return
        finally:
            if stream is not None:
                await stream.flush()

    def _identify(self, first: bytes, ctx: DriverContext, peer: tuple[str, int]) -> tuple[PositionStream, bool]:
        """The device of a connection from its first line, and whether that line was an identification line."""
        tracker_id = None if isinstance(first, Overflow) else identification(first)
        device = f"{self.name}-{tracker_id if tracker_id is not None else peer[0]}"
        ctx.log.info("nmea %s: tracker %s connected from %s%s", self.name, device, _peer_text(peer),
                     "" if tracker_id is not None else " (no identification line: named by its address)")
        stream = PositionStream(device, self.options, ctx, source=f"{device} at {_peer_text(peer)}")
        return stream, tracker_id is not None

    def _garbage(self, ctx: DriverContext, source: str, why: str) -> None:
        ctx.stats.count("garbage_closed")
        ctx.log.warning("nmea %s: closing %s: %s", self.name, source, why)


def _peer(writer: asyncio.StreamWriter) -> tuple[str, int]:
    info = writer.get_extra_info("peername")
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return str(info), 0


def _peer_text(peer: tuple[str, int]) -> str:
    return f"{peer[0]}:{peer[1]}"
