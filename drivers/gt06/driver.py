"""The GT06 gateway: an asyncio TCP server for thousands of trackers, one task per connection.

A connection's life:
- it must log in (0x01) within `login_timeout`; any other packet before that is refused and counted, and after
  `BEFORE_LOGIN_LIMIT` of them the connection is closed (a tracker always logs in first; anything else is a stranger
  or a confused device). The login binds the IMEI; a second connection logging in with the same IMEI replaces the
  first, which is closed (a tracker that reconnected before its old connection timed out);
- each packet's readings are submitted to the outbox and only then is the reply written, alarms included: a power
  cut after the reply loses nothing. If the outbox refuses, nothing is replied and the tracker sends again;
- a frame whose CRC does not match is refused without a reply, unless the device (or the gateway) is configured
  `crc = "lenient"`: then it is taken and counted as `crc_lenient`;
- it is closed after `idle_timeout` without a byte, after `frame_timeout` with a frame begun and not finished
  (a slow-loris trickle never completes a frame), after too many bytes of garbage or too many refused frames in a
  row, and refused at once beyond `max_connections`.

Commands (`device_command`): a 0x80 text command goes out with a fresh 4-byte server flag; the tracker's 0x15 / 0x21
reply carrying that flag completes it. Firmware that answers with a zero flag is matched to the one command waiting
on its connection. Per connection the gateway keeps a framer (bytes of one unfinished frame), a small session object
and a task: no buffers sized for the worst case, so ten thousand trackers fit in one process.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from drivers.base import CommandResult, DriverContext, OutboxRefused
from drivers.gt06.codec import UnsupportedProtocol, parse_frame, reply_for
from drivers.gt06.framing import Envelope, Gt06Framer, unwrap
from drivers.gt06.message import LOGIN, Gt06Packet
from drivers.gt06.options import Gt06Options
from drivers.gt06.readings import readings_for
from drivers.gt06.replies import build_command, needs_reply, reply
from drivers.tcp_server import TcpServer
from shaobing.config import validate_table
from shaobing.errors import FrameError

READ_SIZE = 2048
BEFORE_LOGIN_LIMIT = 3  # packets refused before a login, then the connection is closed
REFUSED_LIMIT = 16  # refused frames in a row (bad CRCs resent forever, say) before the connection is closed
GARBAGE_LIMIT_FRAMES = 4  # this many max_frame's worth of bytes outside frames and the connection is closed
BACKLOG = 4096  # a gateway restart brings thousands of reconnections at once
KNOWN_PER_CONNECTION = 4  # IMEIs remembered (to say "offline" rather than "not here") per allowed connection


class _Session:
    """A logged-in tracker: its connection, and the commands waiting for its answer."""

    __slots__ = ("imei", "peer", "pending", "serial", "timezone_minutes", "writer")

    def __init__(self, imei: str, writer: asyncio.StreamWriter, peer: str, timezone_minutes: int | None) -> None:
        self.imei = imei
        self.writer = writer
        self.peer = peer
        self.timezone_minutes = timezone_minutes
        self.serial = 0
        self.pending: dict[int, asyncio.Future[str]] | None = None  # made on the first command

    def next_serial(self) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        return self.serial

    def fail_pending(self, why: str) -> None:
        for future in (self.pending or {}).values():
            if not future.done():
                future.set_exception(ConnectionError(why))


class _Connection:
    __slots__ = ("before_login", "close", "peer", "refused_in_row", "session", "writer")

    def __init__(self, writer: asyncio.StreamWriter, peer: str) -> None:
        self.writer = writer
        self.peer = peer
        self.session: _Session | None = None
        self.before_login = 0
        self.refused_in_row = 0
        self.close = False


class Gt06Server(TcpServer):
    """Serve GT06 trackers over TCP until cancelled; `ready` is set and `bound_port` known once it listens."""

    backlog = BACKLOG
    settle_on_stop = True

    def __init__(self, options: Gt06Options, *, source: str = "gt06") -> None:
        super().__init__(options.name, options.max_connections)
        self.options = options
        self.name = options.name
        self.source = source
        self.device_commands: frozenset[str] = frozenset(options.command_texts)
        self._commands = options.command_texts
        self._sessions: dict[str, _Session] = {}
        # IMEIs that logged in here, the least recent first: bounded, or logins with made-up IMEIs would fill memory
        self._known: OrderedDict[str, None] = OrderedDict()
        self._known_limit = KNOWN_PER_CONNECTION * options.max_connections
        self._ctx: DriverContext | None = None

    @property
    def known_count(self) -> int:
        """IMEIs remembered as served here (online or not)."""
        return len(self._known)

    @property
    def online(self) -> frozenset[str]:
        """The IMEIs logged in right now."""
        return frozenset(self._sessions)

    async def run(self, ctx: DriverContext) -> None:
        self._ctx = ctx
        await self._listen(ctx, *self.options.host_port())

    def _listening(self, ctx: DriverContext, host: str) -> None:
        ctx.log.info("%s: GT06 gateway listening on %s:%s (CRC %s, unknown devices %s)", self.name, host,
                     self.bound_port, self.options.crc,
                     "accepted" if self.options.accept_unknown_devices else "refused")

    # --- commands

    async def device_command(self, device: str, name: str, args: Mapping[str, Any]) -> CommandResult | None:
        if device not in self._sessions and device not in self._known:
            return None
        text = self._commands.get(name)
        if text is None:
            return CommandResult(False, f"unknown command {name!r} (this gateway knows: "
                                        f"{', '.join(sorted(self._commands))})")
        session = self._sessions.get(device)
        if session is None:
            return CommandResult(False, f"tracker {device} is offline")
        if session.pending is None:
            session.pending = {}
        flag = secrets.randbits(32)
        while flag == 0 or flag in session.pending:  # 0 is what firmware that ignores the flag sends back
            flag = secrets.randbits(32)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        session.pending[flag] = future
        try:
            session.writer.write(build_command(text, flag, session.next_serial()))
            await session.writer.drain()
            async with asyncio.timeout(self.options.command_timeout):
                answer = await future
        except TimeoutError:
            self._count("command_timeout")
            return CommandResult(False, f"no answer from tracker {device} in {self.options.command_timeout:g} s")
        except (ConnectionError, OSError) as exc:
            return CommandResult(False, f"tracker {device} disconnected before answering ({exc})")
        finally:
            session.pending.pop(flag, None)
        self._count("command_answered")
        return CommandResult(True, answer)

    def _count(self, name: str) -> None:
        if self._ctx is not None:
            self._ctx.stats.count(name)

    # --- connections

    def _end_quietly(self, ctx: DriverContext, peer: str) -> bool:
        return True  # the gateway is stopping: the connection just ends

    async def _turn_away(self, writer: asyncio.StreamWriter) -> None:
        writer.transport.abort()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                                ctx: DriverContext, peer: str) -> None:
        connection = _Connection(writer, peer)
        try:
            await self._serve(reader, connection, ctx)
        finally:
            session = connection.session
            if session is not None:
                session.fail_pending("connection closed")
                if self._sessions.get(session.imei) is session:
                    del self._sessions[session.imei]

    async def _serve(self, reader: asyncio.StreamReader, connection: _Connection, ctx: DriverContext) -> None:
        options = self.options
        framer = Gt06Framer(options.max_frame)
        garbage_limit = GARBAGE_LIMIT_FRAMES * options.max_frame
        loop = asyncio.get_running_loop()
        opened = last_byte = loop.time()
        partial_since: float | None = None
        while not connection.close:
            deadline, why = last_byte + options.idle_timeout, "idle"
            if connection.session is None and opened + options.login_timeout < deadline:
                deadline, why = opened + options.login_timeout, "login"
            if partial_since is not None and partial_since + options.frame_timeout < deadline:
                deadline, why = partial_since + options.frame_timeout, "frame"
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await reader.read(READ_SIZE)
            except TimeoutError:
                ctx.stats.count(f"closed:{why}_timeout")
                ctx.log.info("%s: closing %s (%s): %s timeout", self.name, connection.peer, self._who(connection),
                             why)
                return
            if not chunk:
                return
            last_byte = loop.time()
            completed = False
            for item in framer.feed(chunk):
                if isinstance(item, FrameError):
                    self._refuse(ctx, connection, item)
                else:
                    completed = True
                    await self._frame(item, connection, ctx)
                if connection.close:
                    return
            if not framer.partial:
                partial_since = None
            elif completed or partial_since is None:
                partial_since = last_byte
            if framer.junk_pending > garbage_limit:
                ctx.stats.count("closed:garbage")
                ctx.log.warning("%s: closing %s: %d bytes outside any frame", self.name, connection.peer,
                                framer.junk_pending)
                return
            if connection.refused_in_row >= REFUSED_LIMIT:
                ctx.stats.count("closed:refused")
                ctx.log.warning("%s: closing %s (%s): %d frames refused in a row", self.name, connection.peer,
                                self._who(connection), connection.refused_in_row)
                return

    def _refuse(self, ctx: DriverContext, connection: _Connection, error: FrameError) -> None:
        ctx.refused(error, f"{connection.peer} ({self._who(connection)})")
        connection.refused_in_row += 1

    @staticmethod
    def _who(connection: _Connection) -> str:
        return connection.session.imei if connection.session is not None else "not logged in"

    async def _frame(self, frame: bytes, connection: _Connection, ctx: DriverContext) -> None:
        try:
            envelope = unwrap(frame, check_crc=False)
        except FrameError as exc:
            self._refuse(ctx, connection, exc)
            return
        packet: Gt06Packet | None = None
        error: FrameError | None = None
        try:
            packet = parse_frame(frame, check_crc=False)
        except FrameError as exc:
            error = exc
        session = connection.session
        if not envelope.crc_ok:
            policy_imei = session.imei if session is not None else packet.imei if packet is not None else None
            if not self.options.lenient_crc(policy_imei):
                self._refuse(ctx, connection, FrameError(envelope.crc_problem, frame))
                return
            ctx.stats.count("crc_lenient")
        if session is None and envelope.protocol != LOGIN:
            self._before_login(ctx, connection, envelope, frame)
            return
        if error is not None or packet is None:
            assert error is not None
            self._refuse(ctx, connection, error)
            if isinstance(error, UnsupportedProtocol) and needs_reply(envelope.protocol):
                await self._write(connection, reply(envelope.protocol, envelope.serial,
                                                    long_frame=envelope.long_frame))
            return
        connection.refused_in_row = 0
        if packet.type == "login":
            await self._login(packet, connection, ctx)
            return
        assert session is not None
        if packet.type == "command_reply":
            self._command_reply(packet, session, ctx)
        elif not await self._submit(packet, session, ctx):
            return
        answer = reply_for(packet)
        if answer is not None:
            await self._write(connection, answer)

    def _before_login(self, ctx: DriverContext, connection: _Connection, envelope: Envelope, frame: bytes) -> None:
        connection.before_login += 1
        self._refuse(ctx, connection, FrameError(f"not logged in: protocol 0x{envelope.protocol:02X} before a login",
                                                 frame))
        if connection.before_login >= BEFORE_LOGIN_LIMIT:
            ctx.stats.count("closed:before_login")
            ctx.log.warning("%s: closing %s: %d packets and no login", self.name, connection.peer,
                            connection.before_login)
            connection.close = True

    async def _login(self, packet: Gt06Packet, connection: _Connection, ctx: DriverContext) -> None:
        imei = packet.imei
        assert imei is not None
        if not self.options.may_log_in(imei):
            self._refuse(ctx, connection, FrameError(f"login refused: IMEI {imei} may not log in", packet.raw))
            connection.close = True
            return
        current = connection.session
        if current is not None and current.imei != imei:
            self._refuse(ctx, connection, FrameError(f"login refused: IMEI {imei} on a connection logged in as "
                                                     f"{current.imei}", packet.raw))
            connection.close = True
            return
        if current is None:
            session = _Session(imei, connection.writer, connection.peer, packet.timezone_minutes)
            previous = self._sessions.get(imei)
            if previous is not None:
                ctx.stats.count("replaced")
                ctx.log.info("%s: %s logged in again from %s: closing its connection from %s", self.name, imei,
                             connection.peer, previous.peer)
                previous.fail_pending("replaced by a new connection")
                previous.writer.transport.abort()
            self._sessions[imei] = session
            self._remember(imei)
            connection.session = session
            ctx.stats.count("logins")
            ctx.log.info("%s: %s logged in from %s", self.name, imei, connection.peer)
        else:
            current.timezone_minutes = packet.timezone_minutes
        answer = reply_for(packet)
        assert answer is not None
        await self._write(connection, answer)

    def _remember(self, imei: str) -> None:
        self._known[imei] = None
        self._known.move_to_end(imei)
        while len(self._known) > self._known_limit:
            self._known.popitem(last=False)

    def _command_reply(self, packet: Gt06Packet, session: _Session, ctx: DriverContext) -> None:
        pending = session.pending or {}
        future = pending.get(packet.server_flag) if packet.server_flag else None
        if not packet.server_flag and len(pending) == 1:
            future = next(iter(pending.values()))  # firmware that does not echo the flag: the one command waiting
        # Any other flag is a late answer to a command given up on: it must not complete the one waiting now.
        if future is None or future.done():
            ctx.stats.count("command_reply_unmatched")
            ctx.log.info("%s: %s answered %r with no command waiting", self.name, session.imei, packet.text)
            return
        future.set_result(packet.text or "")

    async def _submit(self, packet: Gt06Packet, session: _Session, ctx: DriverContext) -> bool:
        """Commit the packet's readings; True when the packet may be acknowledged."""
        if (packet.fix_time is not None and session.timezone_minutes
                and self.options.uses_login_timezone(session.imei)):
            packet = replace(packet, fix_time=packet.fix_time - timedelta(minutes=session.timezone_minutes))
        readings = readings_for(packet, session.imei, rx=ctx.clock.now())
        if not readings:
            return True
        try:
            await asyncio.gather(*(ctx.sink.submit(reading) for reading in readings))
        except OutboxRefused as exc:
            ctx.stats.count("outbox_refused")
            ctx.log.warning("%s: outbox refused a packet from %s (%s): not acknowledged, the tracker will resend",
                            self.name, session.imei, exc)
            return False
        except Exception:
            ctx.stats.count("submit_failed")
            ctx.log.exception("%s: could not commit %s from %s: not acknowledged, the tracker will resend",
                              self.name, packet.raw.hex(), session.imei)
            return False
        ctx.stats.count("accepted")
        if packet.archived:
            ctx.stats.count("archived")
        return True

    @staticmethod
    async def _write(connection: _Connection, data: bytes) -> None:
        connection.writer.write(data)
        await connection.writer.drain()


def create(options: Mapping[str, Any], *, source: str) -> Gt06Server:
    """Entry point `gt06` of `shaobing.drivers`: a gateway from its (closed) configuration table."""
    return Gt06Server(validate_table(options, Gt06Options, source), source=source)
