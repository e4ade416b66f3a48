"""A simulated alarm panel dialler that reports SIA-DCS / ADM-CID events to a DC-09 receiver over TCP.

Like a real dialler it keeps each message until the receiver acknowledges that message's sequence number: a NAK
(whose timestamp it uses to correct its clock), silence past the timeout, or a dropped connection (it reconnects)
mean the message is sent again. A DUH means the receiver will not take the message, so it gives up on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from drivers.dc09.builder import adm_cid_data, build_message, sia_dcs_data
from drivers.dc09.crypto import parse_key
from drivers.dc09.framing import Dc09Framer
from drivers.dc09.replies import Dc09Reply, parse_reply
from shaobing.clock import utc_now
from shaobing.errors import FrameError

RECONNECT_DELAY_MAX = 2.0


@dataclass(frozen=True, slots=True)
class Dc09Event:
    """What to report: the DC-09 format and its data (without brackets), plus optional x-data."""

    format: str
    data: str
    x_data: tuple[str, ...] = ()


def sia_event(code: str, number: int | None = None, *, partition: int | None = 1, user: int | None = None,
              account: str | None = None) -> Dc09Event:
    """A SIA-DCS event, e.g. `sia_event("BA", 3)` burglary on zone 3, `sia_event("CL", 7)` closed by user 7."""
    return Dc09Event("SIA-DCS", sia_dcs_data(code, number, partition=partition, user=user, account=account))


def cid_event(event_code: int, qualifier: str = "new", partition: int = 1, zone_or_user: int = 1, *,
              account: str | None = None) -> Dc09Event:
    """An ADM-CID (Contact ID) event, e.g. `cid_event(130, "new", 1, 3)` burglary on zone 3."""
    return Dc09Event("ADM-CID", adm_cid_data(qualifier, event_code, partition, zone_or_user, account=account))


class Dc09Dialler:
    """The panel side of DC-09 over TCP: one connection to `host:port`, reopened when it drops."""

    def __init__(self, host: str, port: int, account: str, *, receiver: str | None = None, prefix: str = "0",
                 key: bytes | None = None, first_sequence: int = 1, log: logging.Logger | None = None,
                 clock: Callable[[], datetime] = utc_now,
                 wire_noise: Callable[[bytes, int], bytes] | None = None) -> None:
        """`wire_noise(frame, attempt)` returns what actually goes on the wire on that attempt (1-based), to
        simulate corruption; by default the frame goes out as is."""
        self.host = host
        self.port = port
        self.account = account
        self.receiver = receiver
        self.prefix = prefix
        self.key = key
        self.clock_offset = timedelta(0)  # corrected from the receiver's NAK
        self.stats: Counter[str] = Counter()  # sent, ack, nak, duh, timeout, reconnect, bad_reply
        self._sequence = first_sequence
        self._log = log or logging.getLogger("firmware_sim.dc09_dialler")
        self._clock = clock
        self._wire_noise = wire_noise
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._framer = Dc09Framer()

    async def __aenter__(self) -> Dc09Dialler:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def _next_sequence(self) -> int:
        sequence = self._sequence
        self._sequence = sequence % 9999 + 1  # 0001 .. 9999, then round again
        return sequence

    async def _connect(self) -> None:
        if self._writer is not None and not self._writer.is_closing():
            return
        await self.close()
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._framer = Dc09Framer()
        self.stats["connect"] += 1

    # `timeout` is how long each attempt waits for its reply before sending again, not a bound on the whole call
    async def send(self, event: Dc09Event, *, timeout: float = 2.0,  # noqa: ASYNC109
                   attempts: int | None = None) -> bool:
        """Send until acknowledged; True on ACK, False on DUH or once `attempts` sends got none (None: forever)."""
        return await self._deliver(event.format, event.data, event.x_data, reply_timeout=timeout, attempts=attempts)

    async def poll(self, *, timeout: float = 2.0, attempts: int | None = None) -> bool:  # noqa: ASYNC109
        """A NULL message (link test), sent like any other until acknowledged."""
        return await self._deliver("NULL", "", (), reply_timeout=timeout, attempts=attempts)

    async def _deliver(self, fmt: str, data: str, x_data: tuple[str, ...], *, reply_timeout: float,
                       attempts: int | None) -> bool:
        sequence = self._next_sequence()
        attempt = 0
        while attempts is None or attempt < attempts:
            attempt += 1
            frame = build_message(fmt, sequence, self.account, data, prefix=self.prefix, receiver=self.receiver,
                                  x_data=x_data, timestamp=self._clock() + self.clock_offset, key=self.key)
            wire = self._wire_noise(frame, attempt) if self._wire_noise else frame
            try:
                await self._connect()
                assert self._writer is not None
                self._writer.write(wire)
                await self._writer.drain()
                self.stats["sent"] += 1
                reply = await self._await_reply(sequence, reply_timeout)
            except (ConnectionError, OSError) as exc:
                self.stats["reconnect"] += 1
                self._log.info("dialler: %r not delivered (%s), attempt %d", frame, exc, attempt)
                await self.close()
                await asyncio.sleep(min(0.05 * 2 ** min(attempt, 6), RECONNECT_DELAY_MAX))
                continue
            if reply is None:
                self.stats["timeout"] += 1
                self._log.info("dialler: no reply to %r within %.1f s, attempt %d", frame, reply_timeout, attempt)
                continue
            if reply.token == "ACK":
                self.stats["ack"] += 1
                self._log.info("dialler: %r acknowledged (attempt %d)", frame, attempt)
                return True
            if reply.token == "DUH":
                self.stats["duh"] += 1
                self._log.warning("dialler: receiver cannot process %r (DUH); giving up", frame)
                return False
            self.stats["nak"] += 1
            if reply.timestamp is not None:
                self.clock_offset = reply.timestamp - self._clock()
            self._log.info("dialler: %r refused (NAK), clock offset now %s, attempt %d", frame, self.clock_offset,
                           attempt)
        return False

    async def _await_reply(self, sequence: int, reply_timeout: float) -> Dc09Reply | None:
        """The receiver's reply to `sequence` (an ACK or DUH with that number, or any NAK); None on timeout."""
        assert self._reader is not None
        expected = f"{sequence:04d}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + reply_timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                async with asyncio.timeout(remaining):
                    chunk = await self._reader.read(1024)
            except TimeoutError:
                return None
            if not chunk:
                raise ConnectionResetError("receiver closed the connection")
            for item in self._framer.feed(chunk):
                if isinstance(item, FrameError):
                    self.stats["bad_reply"] += 1
                    continue
                try:
                    reply = parse_reply(item, key=self.key)
                except FrameError as exc:
                    self.stats["bad_reply"] += 1
                    self._log.warning("dialler: bad reply %r: %s", item, exc)
                    continue
                if reply.token == "NAK" or reply.sequence == expected:
                    return reply
                self.stats["stale_reply"] += 1  # the ACK of an earlier attempt of an earlier message


def demo_script(account: str = "1234") -> list[Dc09Event]:
    """A shop's evening: closing by user 7, an intrusion on zone 3 and its restore, a Contact ID panic, opening."""
    return [
        sia_event("CL", 7, account=account),
        sia_event("BA", 3, account=account),
        sia_event("BR", 3, account=account),
        cid_event(120, "new", 1, 5, account=account),
        sia_event("OP", 7, account=account),
    ]


def parse_host_port(connect: str) -> tuple[str, int]:
    host, sep, port = connect.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--connect {connect!r} must be HOST:PORT")
    return host.strip("[]"), int(port)


async def run_panel(connect: str, script: Iterable[Dc09Event] | None = None, *, account: str = "1234",
                    key: str | None = None, receiver: str | None = None, prefix: str = "0",
                    timeout: float = 2.0,  # noqa: ASYNC109 (per attempt, as in Dc09Dialler.send)
                    attempts: int | None = None, interval: float = 0.0, poll_every: float | None = None,
                    log: logging.Logger | None = None) -> list[bool]:
    """What `shaobing sim panel --protocol dc09 --connect HOST:PORT` runs: send `script` (default `demo_script`)
    in order, each until acknowledged (or `attempts` run out), `interval` seconds apart; one result per event.

    `key` is the account's AES key in hex (32, 48 or 64 digits) for encrypted messages. With `poll_every`, after the
    script the dialler keeps the link supervised with a NULL message every `poll_every` seconds until cancelled.
    """
    host, port = parse_host_port(connect)
    events = list(script) if script is not None else demo_script(account)
    async with Dc09Dialler(host, port, account, receiver=receiver, prefix=prefix,
                           key=parse_key(key) if key else None, log=log) as dialler:
        results: list[bool] = []
        for index, event in enumerate(events):
            if index and interval > 0:
                await asyncio.sleep(interval)
            results.append(await dialler.send(event, timeout=timeout, attempts=attempts))
        while poll_every is not None:
            await asyncio.sleep(poll_every)
            await dialler.poll(timeout=timeout, attempts=attempts)
        return results
