"""The OSDP reader's configuration table (closed: unknown keys are errors).

    [[drivers]]
    type = "osdp"
    name = "gate-reader"
    port = "/dev/ttyUSB0"              # the RS-485 adapter (a device path or a pyserial URL with a descriptor)
    baudrate = 9600                    # or 115200
    address = 0                        # the reader's (PD's) OSDP address, 0..126
    scbk = "..."                       # secure channel base key, 16 bytes in hex, given the reader at installation
    door = "gate"
    unlock_output = 0                  # the reader's output wired to the lock
    unlock_seconds = 5
    door_contact_input = 0             # the reader's input wired to the door contact (active = open)
    exit_request_input = 1             # the exit button (active = pressed)
    held_open_after = 30

The secure channel is required: without it anyone on the RS-485 pair can read card numbers and replay an unlock. A key
is refused when it is the default key SCBK-D that OSDP uses in install mode (it is printed in the standard, so a channel
keyed with it protects nothing); the edge never runs install mode. `secure = false` (and no scbk) is for a reader
that cannot do the secure channel at all, and must be written out.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from shaobing.config import Closed

SCBK_D = bytes(range(0x30, 0x40))  # the install-mode default key of the standard
MAX_TIMER_SECONDS = 25.5  # OUT and LED timers travel as a count of 100 ms in one byte


class OsdpOptions(Closed):
    name: str = Field(default="osdp", min_length=1)
    port: str = Field(min_length=1)
    baudrate: Literal[9600, 115200] = 9600
    address: int = Field(default=0, ge=0, le=126)
    secure: bool = True
    scbk: str | None = None
    door: str = Field(default="door", min_length=1)
    unlock_output: int = Field(default=0, ge=0, le=255)
    unlock_seconds: float = Field(default=5.0, gt=0, le=MAX_TIMER_SECONDS)
    door_contact_input: int | None = Field(default=0, ge=0, le=255)
    """None: the door has no contact wired to the reader (no door readings, no forced or held alarms)."""
    exit_request_input: int | None = Field(default=1, ge=0, le=255)
    unlock_on_exit_request: bool = True
    """The exit button also pulses the lock (false where egress is mechanical and the button only excuses the
    opening)."""
    held_open_after: float = Field(default=30.0, gt=0)
    offline_after: float = Field(default=8.0, gt=0)
    """Seconds without an answer from the reader before it is taken as offline (and the link is started anew)."""
    reconnect_delay: float = Field(default=2.0, gt=0)
    """Seconds between attempts to bring the link up again (after an outage, a port error or a key refused)."""

    @model_validator(mode="after")
    def _key(self) -> OsdpOptions:
        if self.secure:
            if self.scbk is None:
                raise ValueError("scbk is required (the reader's secure channel key, 16 bytes in hex); "
                                 "set secure = false only for a reader that cannot do the secure channel")
            try:
                key = bytes.fromhex(self.scbk)
            except ValueError:
                raise ValueError("scbk must be written in hex") from None
            if len(key) != 16:
                raise ValueError(f"scbk must be 16 bytes (32 hex digits), got {len(key)}")
            if key == SCBK_D:
                raise ValueError("scbk is the published install-mode key SCBK-D; give the reader a key of its own")
        elif self.scbk is not None:
            raise ValueError("scbk is given but secure = false; remove one of them")
        if self.door_contact_input is not None and self.door_contact_input == self.exit_request_input:
            raise ValueError("door_contact_input and exit_request_input must be different inputs")
        return self

    @property
    def key(self) -> bytes | None:
        return bytes.fromhex(self.scbk) if self.scbk is not None else None
