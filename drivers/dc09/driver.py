"""The DC-09 receiver: an asyncio TCP server that turns panel messages into readings and acknowledges them.

Replies (see docs/protocols/dc09.md for the reasons):
- a frame the codec refuses (framing, CRC, length when strict, token, fields): no reply; the panel retries;
- an encrypted message that cannot be decrypted, or a timestamp outside the window: NAK with the receiver's time;
- a message understood but not processed (unknown account, no key for an encrypted message, a keyed account
  sending in clear, data that cannot be read): DUH;
- the outbox refusing a reading: no reply, so the panel retries later;
- otherwise ACK (encrypted for an encrypted message), written only after every reading was submitted.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from drivers.base import DriverContext, OutboxRefused
from drivers.dc09 import replies
from drivers.dc09.codec import decrypt_message, parse_frame
from drivers.dc09.framing import Dc09Framer
from drivers.dc09.message import Dc09Message
from drivers.dc09.options import AccountOptions, Dc09Options
from drivers.dc09.readings import readings_of
from drivers.tcp_server import TcpServer
from shaobing.config import validate_table
from shaobing.errors import FrameError

READ_SIZE = 4096
GARBAGE_LIMIT_FRAMES = 16  # a connection sending this many max_frame's worth of bytes outside frames is dropped
DUPLICATE_WINDOW_S = 300.0  # a panel resending a message we ACKed (the ACK got lost) within this time is re-ACKed
RECENT_LIMIT = 10_000


class _RecentMessages:
    """The last acknowledged message of each account, to recognise a resend whose ACK was lost."""

    def __init__(self, limit: int = RECENT_LIMIT) -> None:
        self._last: OrderedDict[str, tuple[tuple[str, ...], float]] = OrderedDict()
        self._limit = limit

    @staticmethod
    def _identity(message: Dc09Message) -> tuple[str, ...]:
        return message.format, message.sequence, message.data, *message.x_data

    def is_resend(self, message: Dc09Message, now: float) -> bool:
        seen = self._last.get(message.account.upper())
        return seen is not None and seen[0] == self._identity(message) and now - seen[1] <= DUPLICATE_WINDOW_S

    def remember(self, message: Dc09Message, now: float) -> None:
        account = message.account.upper()
        self._last.pop(account, None)
        self._last[account] = (self._identity(message), now)
        while len(self._last) > self._limit:
            self._last.popitem(last=False)


class Dc09Receiver(TcpServer):
    """Serve DC-09 over TCP until cancelled; `ready` is set and `bound_port` known once it listens."""

    def __init__(self, options: Dc09Options, *, source: str = "dc09") -> None:
        super().__init__(options.name, options.max_connections)
        self.options = options
        self.name = options.name
        self.source = source
        self._accounts: dict[str, AccountOptions] = {acct.upper(): cfg for acct, cfg in options.accounts.items()}
        self._keys: dict[str, bytes | None] = {acct: cfg.key_bytes for acct, cfg in self._accounts.items()}
        self._recent = _RecentMessages()

    async def run(self, ctx: DriverContext) -> None:
        await self._listen(ctx, *self.options.host_port())

    def _listening(self, ctx: DriverContext, host: str) -> None:
        ctx.log.info("%s: DC-09 receiver listening on %s:%s", self.name, host, self.bound_port)
        if self.options.accept_any_account:
            ctx.log.warning("%s: accept_any_account is on: any account is accepted, unencrypted", self.name)
        keyless = sorted(acct for acct, key in self._keys.items() if key is None)
        if keyless:
            ctx.log.warning("%s: accounts without an AES key (reports can be forged by anyone who reaches "
                            "this port): %s", self.name, ", ".join(keyless))

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                                ctx: DriverContext, peer: str) -> None:
        framer = Dc09Framer(self.options.max_frame)
        garbage_limit = GARBAGE_LIMIT_FRAMES * self.options.max_frame
        while True:
            try:
                async with asyncio.timeout(self.options.idle_timeout):
                    chunk = await reader.read(READ_SIZE)
            except TimeoutError:
                ctx.stats.count("idle_closed")
                ctx.log.info("%s: closing %s after %.0f s idle", self.name, peer, self.options.idle_timeout)
                break
            if not chunk:
                break
            for item in framer.feed(chunk):
                if isinstance(item, FrameError):
                    ctx.refused(item, peer)
                    continue
                reply = await self._handle_frame(item, ctx, peer)
                if reply is not None:
                    writer.write(reply)
                    await writer.drain()
            if framer.junk_pending > garbage_limit:
                ctx.stats.count("garbage_closed")
                ctx.log.warning("%s: closing %s: %d bytes outside any frame", self.name, peer, framer.junk_pending)
                break
        for item in framer.flush():
            if isinstance(item, FrameError):
                ctx.refused(item, peer)

    def _refuse(self, ctx: DriverContext, reason: str, message: Dc09Message, peer: str) -> None:
        ctx.refused(FrameError(reason, message.raw), peer)

    async def _handle_frame(self, frame: bytes, ctx: DriverContext, peer: str) -> bytes | None:
        """The reply to one frame (None for no reply), after its readings are submitted."""
        try:
            message = parse_frame(frame, strict_length=self.options.strict_length)
        except FrameError as exc:
            ctx.refused(exc, peer)
            return None
        if not message.length_ok:
            ctx.stats.count("length_mismatch")
        now = ctx.clock.now()
        account_key = message.account.upper()
        account = self._accounts.get(account_key)
        if self._accounts and account is None:
            self._refuse(ctx, f"account: {message.account!r} is not configured", message, peer)
            return replies.duh(message)
        key = self._keys.get(account_key)
        if message.encrypted:
            if key is None:
                self._refuse(ctx, f"encryption: no key for account {message.account!r}", message, peer)
                return replies.duh(message)
            try:
                message = decrypt_message(message, key)
            except FrameError as exc:
                ctx.refused(exc, peer)
                return replies.nak(now)
        elif key is not None:
            self._refuse(ctx, f"encryption: account {message.account!r} must send encrypted", message, peer)
            return replies.duh(message)
        if message.timestamp is not None and not self._in_window(message.timestamp, now):
            past, future = self.options.timestamp_window
            self._refuse(ctx, f"timestamp: {message.timestamp.isoformat()} outside -{past:g} s .. +{future:g} s "
                              f"of {now.isoformat(timespec='seconds')}", message, peer)
            return replies.nak(now)
        monotonic = ctx.clock.monotonic()
        if message.format != "NULL" and self._recent.is_resend(message, monotonic):
            ctx.stats.count("resent")
            ctx.log.info("%s: resend of acknowledged %r from %s, acknowledged again", self.name,
                         message.raw.decode("ascii"), peer)
            return replies.ack(message, key=key, now=now)
        extra = {"account_name": account.name} if account is not None and account.name else None
        try:
            readings = readings_of(message, device=f"{self.name}:{message.account}", rx=now, extra=extra)
        except FrameError as exc:
            ctx.refused(exc, peer)
            return replies.duh(message)
        try:
            # All events of one message go to the same group commit; the ACK waits for every one of them.
            seqs = await asyncio.gather(*(ctx.sink.submit(reading) for reading in readings))
        except OutboxRefused as exc:
            ctx.stats.count("outbox_refused")
            ctx.log.warning("%s: outbox refused %r from %s (%s): not acknowledged, the panel will resend",
                            self.name, message.raw.decode("ascii"), peer, exc)
            return None
        except Exception:
            ctx.stats.count("submit_failed")
            ctx.log.exception("%s: could not commit %r from %s: not acknowledged, the panel will resend",
                              self.name, message.raw.decode("ascii"), peer)
            return None
        ctx.stats.count("accepted")
        ctx.log.info("%s: accepted %r from %s as seq %s", self.name, message.raw.decode("ascii"), peer,
                     ",".join(map(str, seqs)))
        if message.format != "NULL":
            self._recent.remember(message, monotonic)
        return replies.ack(message, key=key, now=now)

    def _in_window(self, timestamp: datetime, now: datetime) -> bool:
        past, future = self.options.timestamp_window
        return now - timedelta(seconds=past) <= timestamp <= now + timedelta(seconds=future)


def create(options: Mapping[str, Any], *, source: str) -> Dc09Receiver:
    """Entry point `dc09` of `shaobing.drivers`: a receiver from its (closed) configuration table."""
    return Dc09Receiver(validate_table(options, Dc09Options, source), source=source)
