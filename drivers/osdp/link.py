"""The control panel's side of one reader: libosdp's CP state machine over a pyserial port, run in a thread of its own.

libosdp must be refreshed every few tens of milliseconds and calls back into Python for every byte it reads or writes,
so it lives in a thread that waits on the port's descriptor (and a wake-up pipe) between refreshes: a reply is handled
as soon as its bytes arrive, and a command queued from the event loop goes out at once instead of at the next tick.
The event loop is never blocked; it only sees `LinkEvent`s. It drives libosdp's `osdp_sys` context directly: the
`osdp.ControlPanel` wrapper refreshes on a fixed 20 ms sleep that nothing can cut short, and holds a lock its own
callbacks cannot take.

A session is one libosdp context on one open port. It ends, and a new one starts after `reconnect_delay`, when the port
fails, the reader does not prove the secure channel key, or it stops answering for `offline_after` seconds (libosdp
itself would wait minutes before trying again).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import queue
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import osdp_sys
import serial

from drivers.osdp.options import OsdpOptions
from drivers.osdp.signals import Command

# libosdp wants a refresh at least every 50 ms, and after a reply it lets a little time pass before it sends the next
# command: refreshing every millisecond for a moment after a command is queued gets the unlock out soonest.
REFRESH_WAIT = 0.005
BUSY_WAIT = 0.001
BUSY_FOR = 0.1
READ_SIZE = 512


@dataclass(frozen=True, slots=True)
class CardEvent:
    data: bytes
    bits: int | None  # None for a read in ASCII
    format: int  # libosdp's CARD_FMT_*
    reader_no: int


@dataclass(frozen=True, slots=True)
class InputsEvent:
    states: bytes  # one byte a input, non-zero when active


@dataclass(frozen=True, slots=True)
class LinkUp:
    secure: bool


@dataclass(frozen=True, slots=True)
class LinkDown:
    cause: str  # "offline", "secure_channel" or "port"
    detail: str


LinkEvent = CardEvent | InputsEvent | LinkUp | LinkDown


class SerialChannel:
    """libosdp's channel over a pyserial port that never blocks: reads what is there, writes what fits. A port error is
    kept for the session to see, never raised into libosdp."""

    def __init__(self, port: serial.Serial) -> None:
        self.port = port
        self.error: str | None = None
        self.last_rx = time.monotonic()
        self.id = 0

    def read(self, max_bytes: int) -> bytes:
        if self.error is not None:
            return b""
        try:
            data: bytes = self.port.read(min(max_bytes, READ_SIZE))
        except (serial.SerialException, OSError) as exc:
            self.error = str(exc) or type(exc).__name__
            return b""
        if data:
            self.last_rx = time.monotonic()
        return data

    def write(self, buf: bytes) -> int:
        if self.error is not None:
            return 0
        try:
            written: int | None = self.port.write(buf)
        except (serial.SerialException, OSError) as exc:
            self.error = str(exc) or type(exc).__name__
            return 0
        return written or 0

    def flush(self) -> None:
        pass


class OsdpLink:
    def __init__(self, options: OsdpOptions, on_event: Callable[[LinkEvent], None], log: logging.Logger) -> None:
        self.options = options
        self._on_event = on_event
        self._log = log
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._run, name=f"osdp-{options.name}", daemon=True)
        self._sc_failed = False
        self.sessions = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end; `join` waits for it."""
        self._stop.set()
        self._wake()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
        if not self._thread.is_alive():
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def submit(self, commands: list[Command]) -> None:
        """Queue commands for the reader (from any thread); they go out in order with the next packets."""
        for command in commands:
            self._commands.put(command)
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"\0")

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._one_session()
                self._stop.wait(self.options.reconnect_delay)
        except Exception:  # a bug here must show, and must not leave the door silently unserved
            self._log.exception("osdp %s: link thread failed", self.options.name)
            self._on_event(LinkDown("port", "link thread failed; see the log"))

    def _one_session(self) -> None:
        options = self.options
        try:
            port = serial.serial_for_url(options.port, baudrate=options.baudrate, timeout=0, write_timeout=0)
        except (serial.SerialException, OSError, ValueError) as exc:
            self._on_event(LinkDown("port", f"cannot open {options.port}: {exc}"))
            return
        try:
            self.sessions += 1
            self._serve(port)
        finally:
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()

    def _serve(self, port: serial.Serial) -> None:
        options = self.options
        channel = SerialChannel(port)
        flags = osdp_sys.FLAG_ENABLE_NOTIFICATION | (osdp_sys.FLAG_ENFORCE_SECURE if options.secure else 0)
        info: dict[str, Any] = {"name": options.name, "address": options.address, "flags": flags,
                                "scbk": options.key, "channel": channel, "version": 0, "model": 0,
                                "vendor_code": 0, "serial_number": 0, "firmware_version": 0}
        cp = osdp_sys.ControlPanel([info])
        cp.set_event_callback(self._event)
        watch = [self._wake_r]
        with contextlib.suppress(io.UnsupportedOperation, AttributeError, ValueError):
            watch.append(port.fileno())
        while not self._commands.empty():  # commands meant for an earlier session are stale
            self._commands.get_nowait()
        self._sc_failed = False
        started = time.monotonic()
        busy_until = 0.0
        online = False
        while not self._stop.is_set():
            while not self._commands.empty():
                busy_until = time.monotonic() + BUSY_FOR
                if not cp.submit_command(0, self._commands.get_nowait()):
                    self._log.warning("osdp %s: libosdp refused a command (queue full or reader offline)",
                                      options.name)
            cp.refresh()
            now = time.monotonic()
            down = self._why_down(cp, channel, online, started, now)
            if down is not None:
                self._on_event(down)
                return
            if not online and cp.status() & 1 and (not options.secure or cp.sc_status() & 1):
                online = True
                self._on_event(LinkUp(secure=bool(cp.sc_status() & 1)))
            readable, _, _ = select.select(watch, [], [], BUSY_WAIT if now < busy_until else REFRESH_WAIT)
            if self._wake_r in readable:
                with contextlib.suppress(BlockingIOError, OSError):
                    os.read(self._wake_r, 64)

    def _why_down(self, cp: Any, channel: SerialChannel, online: bool, started: float, now: float) -> LinkDown | None:
        after = self.options.offline_after
        if channel.error is not None:
            return LinkDown("port", f"port {self.options.port} failed: {channel.error}")
        if self._sc_failed and not online:
            return LinkDown("secure_channel", "the reader did not prove the secure channel key (wrong scbk, or the "
                                              "reader was replaced or reset)")
        if online and not cp.status() & 1:
            return LinkDown("offline", "the reader stopped answering")
        if online and now - channel.last_rx > after:
            return LinkDown("offline", f"no answer from the reader for {after:g}s")
        if not online and now - started > after:
            return LinkDown("offline", f"no reader came online at address {self.options.address} in {after:g}s")
        return None

    def _event(self, _pd: int, event: dict[str, Any]) -> int:
        """libosdp's callback, inside `refresh` on this thread."""
        kind = event.get("event")
        if kind == osdp_sys.EVENT_CARDREAD:
            self._on_event(CardEvent(data=bytes(event.get("data", b"")), bits=event.get("length"),
                                     format=int(event.get("format", 0)), reader_no=int(event.get("reader_no", 0))))
        elif kind == osdp_sys.EVENT_STATUS and event.get("type") == osdp_sys.STATUS_REPORT_INPUT:
            self._on_event(InputsEvent(bytes(event.get("report", b""))))
        elif (kind == osdp_sys.EVENT_NOTIFICATION and event.get("type") == osdp_sys.EVENT_NOTIFICATION_SC_STATUS
              and not event.get("arg0")):
            self._sc_failed = True
        return 0
