"""A simulated OSDP reader: a libosdp peripheral device (PD) on a file descriptor (the master end of a `PtyPair`, or
an opened serial port). It presents cards, reports its door contact and exit button as input status, and records every
LED, buzzer and output command it receives, so a test can see what a person at the door would have seen.

Inputs: 0 is the door contact (1 = open), 1 the exit button (1 = pressed), as the driver's defaults expect.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import osdp_sys

from drivers.osdp.wiegand import encode_wiegand

INPUTS = 4
COLORS = {osdp_sys.LED_COLOR_NONE: "off", osdp_sys.LED_COLOR_RED: "red", osdp_sys.LED_COLOR_GREEN: "green",
          osdp_sys.LED_COLOR_AMBER: "amber", osdp_sys.LED_COLOR_BLUE: "blue"}


class FdChannel:
    """libosdp's channel over a non-blocking descriptor; a hung-up line reads as silence."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.id = 0

    def read(self, max_bytes: int) -> bytes:
        try:
            return os.read(self.fd, max_bytes)
        except (BlockingIOError, OSError):
            return b""

    def write(self, buf: bytes) -> int:
        try:
            return os.write(self.fd, buf)
        except (BlockingIOError, OSError):
            return 0

    def flush(self) -> None:
        pass


@dataclass
class Received:
    """What the reader was told to do, in order."""

    commands: list[dict[str, Any]] = field(default_factory=list)
    at: list[float] = field(default_factory=list)  # time.monotonic() of each command's arrival, for latency benchmarks

    @property
    def leds(self) -> list[str]:
        return [COLORS.get(c["on_color"], str(c["on_color"])) for c in self.commands
                if c["command"] == osdp_sys.CMD_LED]

    @property
    def beeps(self) -> list[float]:
        """Each buzzer command's tone length in seconds."""
        return [c["on_count"] / 10 for c in self.commands if c["command"] == osdp_sys.CMD_BUZZER]

    @property
    def pulses(self) -> list[tuple[int, float]]:
        """(output, seconds) of each output command."""
        return [(c["output_no"], c["timer_count"] / 10) for c in self.commands if c["command"] == osdp_sys.CMD_OUTPUT]


def card_bytes(card: str) -> tuple[bytes, int]:
    """The read a reader sends for a canonical card name: "W26:90:324", "W34:F:N", or a UID in hex ("04A1B2C3")."""
    if card.startswith(("W26:", "W34:")):
        bits = int(card[1:3])
        parts = card.split(":")
        if len(parts) != 3:
            raise ValueError(f"card {card!r}: write W26:FACILITY:NUMBER")
        return encode_wiegand(int(parts[1]), int(parts[2]), bits), bits
    try:
        data = bytes.fromhex(card)
    except ValueError:
        raise ValueError(f"card {card!r}: W26:F:N, W34:F:N or a UID in hex") from None
    if not data:
        raise ValueError("card: empty UID")
    return data, len(data) * 8


class SimulatedReader:
    """Run with `start()` / `stop()` (or as a context manager); `pause()` makes it fall silent as a dead reader."""

    def __init__(self, fd: int, *, address: int = 0, scbk: bytes | None = None) -> None:
        osdp_sys.set_loglevel(osdp_sys.LOG_ERROR)
        self.received = Received()
        self.address = address
        self._inputs = bytearray(INPUTS)
        self._channel = FdChannel(fd)
        info: dict[str, Any] = {"name": "sim-reader", "address": address, "flags": 0, "scbk": scbk,
                                "channel": self._channel, "version": 1, "model": 1, "vendor_code": 0x5342,
                                "serial_number": 0x1001, "firmware_version": 0x0100}
        capabilities = [
            {"function_code": osdp_sys.CAP_CONTACT_STATUS_MONITORING, "compliance_level": 1, "num_items": INPUTS},
            {"function_code": osdp_sys.CAP_OUTPUT_CONTROL, "compliance_level": 1, "num_items": 1},
            {"function_code": osdp_sys.CAP_READER_LED_CONTROL, "compliance_level": 1, "num_items": 1},
            {"function_code": osdp_sys.CAP_READER_AUDIBLE_OUTPUT, "compliance_level": 1, "num_items": 1},
            {"function_code": osdp_sys.CAP_CARD_DATA_FORMAT, "compliance_level": 1, "num_items": 1},
            {"function_code": osdp_sys.CAP_COMMUNICATION_SECURITY, "compliance_level": 1, "num_items": 1},
        ]
        self._pd = osdp_sys.PeripheralDevice(info, capabilities=capabilities)
        self._pd.set_command_callback(self._command)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-osdp-reader", daemon=True)
        self.commands_seen = threading.Condition()

    def _command(self, command: dict[str, Any]) -> tuple[int, None]:
        with self.commands_seen:
            self.received.at.append(time.monotonic())
            self.received.commands.append(dict(command))
            self.commands_seen.notify_all()
        return 0, None

    def _run(self) -> None:
        was_online = False
        while not self._stop.is_set():
            if not self._paused.is_set():
                with self._lock:
                    self._pd.refresh()
                    online = bool(self._pd.is_online())
                if online and not was_online:
                    self._report_inputs()  # as a reader answers the panel's first input status request
                was_online = online
            self._stop.wait(0.005)

    @property
    def online(self) -> bool:
        return bool(self._pd.is_online())

    @property
    def secure(self) -> bool:
        return bool(self._pd.is_sc_active())

    def present(self, card: str) -> float:
        """Present a card by its canonical name (see `card_bytes`); the time.monotonic() it was queued."""
        data, bits = card_bytes(card)
        return self.present_raw(data, bits)

    def present_raw(self, data: bytes, bits: int, *, wiegand: bool = True) -> float:
        fmt = osdp_sys.CARD_FMT_RAW_WIEGAND if wiegand else osdp_sys.CARD_FMT_RAW_UNSPECIFIED
        self._submit({"event": osdp_sys.EVENT_CARDREAD, "reader_no": 0, "format": fmt, "direction": 0,
                      "length": bits, "data": data})
        return time.monotonic()

    def set_input(self, index: int, active: bool) -> None:
        self._inputs[index] = 1 if active else 0
        self._report_inputs()

    def _report_inputs(self) -> None:
        self._submit({"event": osdp_sys.EVENT_STATUS, "type": osdp_sys.STATUS_REPORT_INPUT, "nr_entries": INPUTS,
                      "report": bytes(self._inputs)})

    def door(self, is_open: bool) -> None:
        self.set_input(0, is_open)

    def press_exit(self) -> None:
        self.set_input(1, True)
        self.set_input(1, False)

    def _submit(self, event: dict[str, Any]) -> None:
        with self._lock:
            if self._pd.submit_event(event) is False:
                raise RuntimeError("the simulated reader's event queue refused the event")

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def start(self) -> SimulatedReader:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(RuntimeError):
            self._thread.join(2)

    def __enter__(self) -> SimulatedReader:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
