"""A simulated alarm panel that reports Contact ID messages over a serial line and waits for the kiss-off.

Like a real panel it keeps each event until the receiver acknowledges it: a NAK or silence means the message is sent
again (other bytes on the line are skipped). It works on a file descriptor: the master end of a `PtyPair`, or a
serial device it opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import termios
import tty
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from drivers.contact_id.codec import ContactIdMessage, encode
from drivers.contact_id.framing import ACK, NAK
from firmware_sim.pty_pair import PtyPair

REPLIES = frozenset(ACK + NAK)


class ContactIdPanel:
    """The panel side of a Contact ID serial line, on a non-blocking descriptor it does not own."""

    def __init__(self, fd: int, *, log: logging.Logger | None = None, line_ending: bytes = b"\r",
                 line_noise: Callable[[bytes, int], bytes] | None = None) -> None:
        """`line_noise(frame, attempt)` returns what actually goes down the line on that attempt (1-based), to
        simulate a noisy line; by default the frame goes out as is."""
        os.set_blocking(fd, False)
        self._fd = fd
        self._log = log or logging.getLogger("firmware_sim.contact_id_panel")
        self._line_ending = line_ending
        self._line_noise = line_noise
        self._received = bytearray()
        self.stats: Counter[str] = Counter()  # sent, ack, nak, timeout

    @staticmethod
    def event(account: str, code: int, qualifier: str = "new", partition: int = 1, zone_or_user: int = 1,
              message_type: int = 18) -> ContactIdMessage:
        """A message for event `code` (e.g. 130 burglary) from `account`; `encode` checks the fields when sent."""
        return ContactIdMessage(account=account, message_type=message_type, qualifier=qualifier, event_code=code,
                                partition=partition, zone_or_user=zone_or_user)

    async def send(self, message: ContactIdMessage, *, timeout: float = 2.0,  # noqa: ASYNC109 (per attempt)
                   attempts: int | None = None) -> bool:
        """Send until acknowledged; True on ACK, False once `attempts` sends got none (None: never give up).

        `timeout` is how long each attempt waits for the kiss-off, as a panel is programmed to, not a total."""
        frame = encode(message).encode("ascii")
        attempt = 0
        while attempts is None or attempt < attempts:
            attempt += 1
            wire = self._line_noise(frame, attempt) if self._line_noise else frame
            reply = await self.exchange(wire + self._line_ending, within=timeout)
            if reply == ACK:
                self._log.info("panel: %r acknowledged (attempt %d)", frame.decode(), attempt)
                return True
            self._log.info("panel: %r %s (attempt %d)", frame.decode(), "NAK" if reply == NAK else "no kiss-off",
                           attempt)
        self._log.warning("panel: %r not acknowledged after %d attempts; giving up", frame.decode(), attempt)
        return False

    async def exchange(self, data: bytes, *, within: float = 2.0) -> bytes | None:
        """Write raw bytes and wait for one reply byte: ACK, NAK, or None if neither came `within` seconds."""
        self.discard_input()  # a late kiss-off for an earlier attempt must not count for this one
        await self.write(data)
        self.stats["sent"] += 1
        reply = await self.wait_reply(within)
        self.stats["ack" if reply == ACK else "nak" if reply == NAK else "timeout"] += 1
        return reply

    async def write(self, data: bytes) -> None:
        """Write all of `data`, waiting while the line's buffer is full."""
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                await self._ready(writable=True, within=None)
                continue
            view = view[written:]

    async def wait_reply(self, within: float) -> bytes | None:
        """The next ACK or NAK byte received, or None after `within` seconds; other bytes are skipped."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            line_up = self._read_available()
            reply = self._take_reply()
            if reply is not None:
                return reply
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            if not line_up:
                # a hung-up line reads as always ready: poll it gently instead of spinning
                await asyncio.sleep(min(remaining, 0.05))
            elif not await self._ready(writable=False, within=remaining):
                self._read_available()
                return self._take_reply()

    def discard_input(self) -> None:
        self._read_available()
        self._received.clear()

    def _take_reply(self) -> bytes | None:
        for index, byte in enumerate(self._received):
            if byte in REPLIES:
                del self._received[: index + 1]
                return bytes([byte])
        self._received.clear()
        return None

    def _read_available(self) -> bool:
        """Move whatever has arrived into the buffer; False if the line is hung up (nobody at the other end)."""
        while True:
            try:
                chunk = os.read(self._fd, 4096)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False  # EIO on a pty master: no one holds the slave end open
            if not chunk:
                return False
            self._received += chunk

    async def _ready(self, *, writable: bool, within: float | None) -> bool:
        """Wait until the descriptor is readable (or writable); False on timeout."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        if writable:
            loop.add_writer(self._fd, wake)
        else:
            loop.add_reader(self._fd, wake)
        try:
            await asyncio.wait_for(ready, within)
        except TimeoutError:
            return False
        finally:
            if writable:
                loop.remove_writer(self._fd)
            else:
                loop.remove_reader(self._fd)
        return True


def demo_script(account: str = "1234") -> list[ContactIdMessage]:
    """A shop's evening: closing, an intrusion on zone 3 and its restore, an opening, a periodic test."""
    event = ContactIdPanel.event
    return [
        event(account, 401, "restore", 1, 7),  # closed (armed) by user 7
        event(account, 130, "new", 1, 3),  # burglary, zone 3
        event(account, 130, "restore", 1, 3),
        event(account, 401, "new", 1, 7),  # opened (disarmed) by user 7
        event(account, 602, "new", 0, 0),  # periodic test
    ]


def _open_device(path: str, baudrate: int) -> int:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        tty.setraw(fd)
        speed = getattr(termios, f"B{baudrate}", None)
        if speed is None:
            raise ValueError(f"unsupported baud rate {baudrate}")
        attrs = termios.tcgetattr(fd)
        attrs[4] = attrs[5] = speed
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _point_link(link: str, target: str) -> None:
    path = Path(link)
    if path.is_symlink():
        path.unlink()
    path.symlink_to(target)


async def run_panel(port_or_master: int | str | None, script: Iterable[ContactIdMessage], *,
                    timeout: float = 2.0,  # noqa: ASYNC109 (per attempt, as in ContactIdPanel.send)
                    attempts: int | None = None, interval: float = 0.0, baudrate: int = 9600,
                    link: str | None = None, on_ready: Callable[[str], None] | None = None,
                    log: logging.Logger | None = None) -> list[bool]:
    """Send `script` in order, each until acknowledged (or `attempts` run out); one result per message.

    `port_or_master`: an int is the master descriptor of a pty pair (left open); a str is a serial device the panel
    opens (e.g. one end of a null-modem cable); None makes a new pty pair whose slave path is given to `on_ready`
    (and, if `link` is set, pointed to by a symlink at `link`) for the receiver to open; it is hung up at the end.
    """
    log = log or logging.getLogger("firmware_sim.contact_id_panel")
    with contextlib.ExitStack() as stack:
        if port_or_master is None:
            pair = stack.enter_context(PtyPair())
            fd = pair.master_fd
            if link is not None:
                _point_link(link, pair.slave_path)
            if on_ready is not None:
                on_ready(link or pair.slave_path)
        elif isinstance(port_or_master, str):
            fd = _open_device(port_or_master, baudrate)
            stack.callback(os.close, fd)
            if on_ready is not None:
                on_ready(port_or_master)
        else:
            fd = port_or_master
        panel = ContactIdPanel(fd, log=log)
        results: list[bool] = []
        for index, message in enumerate(script):
            if index and interval > 0:
                await asyncio.sleep(interval)
            results.append(await panel.send(message, timeout=timeout, attempts=attempts))
        return results
