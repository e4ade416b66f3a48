"""The GT06 gateway's configuration table (closed: unknown keys are errors).

    [[drivers]]
    type = "gt06"
    listen = "0.0.0.0:5023"
    crc = "refuse"                     # or "lenient": accept frames whose CRC does not match (counted)
    accept_unknown_devices = true      # false: only the IMEIs under [drivers.devices] may log in
    [drivers.commands]
    engine_stop = "Relay,1#"           # the defaults; arm / disarm only where the model supports them
    [drivers.devices."864717003664467"]
    crc = "lenient"                    # a clone that computes its CRC wrongly
    device_time = "login_timezone"     # firmware that reports local time
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from drivers.gt06.replies import MAX_COMMAND_TEXT
from shaobing.config import Closed
from shaobing.net import listen_address

CrcPolicy = Literal["refuse", "lenient"]
DeviceTime = Literal["utc", "login_timezone"]
DEFAULT_COMMANDS = {"engine_stop": "Relay,1#", "engine_resume": "Relay,0#"}

_IMEI = re.compile(r"\d{15}")
_COMMAND_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


class DeviceOptions(Closed):
    allowed: bool = True
    """false: this IMEI may not log in (a stolen or retired tracker)."""
    crc: CrcPolicy | None = None
    """Overrides the gateway's `crc` policy for this device."""
    device_time: DeviceTime | None = None
    """Overrides the gateway's `device_time` for this device."""


class Gt06Options(Closed):
    name: str = Field(default="gt06", min_length=1)
    listen: str = "0.0.0.0:5023"
    idle_timeout: float = Field(default=300.0, gt=0)
    """Seconds without a byte before a connection is closed (trackers send a heartbeat every 3 to 5 minutes)."""
    login_timeout: float = Field(default=30.0, gt=0)
    """Seconds a new connection has to log in."""
    frame_timeout: float = Field(default=30.0, gt=0)
    """Seconds a frame may take from its first byte to its last: a connection trickling bytes is closed."""
    command_timeout: float = Field(default=25.0, gt=0)
    """Seconds to wait for a tracker's answer to a command (under the edge's 30 s, so this gateway's reason is the one
    reported)."""
    max_connections: int = Field(default=20_000, gt=0)
    max_frame: int = Field(default=1024, ge=64, le=65_536)
    crc: CrcPolicy = "refuse"
    device_time: DeviceTime = "utc"
    """How GPS date-times are read: "utc" (Concox's documents), or "login_timezone" (Traccar's reading: the time zone
    a device announces in its login is applied to its date-times, for firmware that reports local time)."""
    accept_unknown_devices: bool = True
    devices: dict[str, DeviceOptions] = Field(default_factory=dict)
    commands: dict[str, str] = Field(default_factory=dict)
    """Command name -> the text sent in a 0x80 command; merged over engine_stop / engine_resume."""

    @field_validator("devices")
    @classmethod
    def _imeis(cls, value: dict[str, DeviceOptions]) -> dict[str, DeviceOptions]:
        for imei in value:
            if not _IMEI.fullmatch(imei):
                raise ValueError(f"device {imei!r} must be a 15-digit IMEI")
        return value

    @field_validator("commands")
    @classmethod
    def _command_texts(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _COMMAND_NAME.fullmatch(name):
                raise ValueError(f"command name {name!r} must be lower case letters, digits and _")
            if not text or not text.isascii() or not text.isprintable() or len(text) > MAX_COMMAND_TEXT:
                raise ValueError(f"command {name!r}: the text must be 1..{MAX_COMMAND_TEXT} printable ASCII "
                                 "characters")
        return value

    @model_validator(mode="after")
    def _listen_is_host_port(self) -> Gt06Options:
        self.host_port()
        if not self.accept_unknown_devices and not any(device.allowed for device in self.devices.values()):
            raise ValueError("accept_unknown_devices = false and no allowed [devices]: no tracker could log in")
        return self

    def host_port(self) -> tuple[str, int]:
        return listen_address(self.listen)

    @property
    def command_texts(self) -> dict[str, str]:
        return {**DEFAULT_COMMANDS, **self.commands}

    def may_log_in(self, imei: str) -> bool:
        device = self.devices.get(imei)
        return device.allowed if device is not None else self.accept_unknown_devices

    def lenient_crc(self, imei: str | None) -> bool:
        device = self.devices.get(imei) if imei is not None else None
        return (device.crc if device is not None and device.crc is not None else self.crc) == "lenient"

    def uses_login_timezone(self, imei: str) -> bool:
        device = self.devices.get(imei)
        chosen = device.device_time if device is not None and device.device_time is not None else self.device_time
        return chosen == "login_timezone"
