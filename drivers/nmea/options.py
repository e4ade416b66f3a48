"""The NMEA driver's configuration table (closed: unknown keys are errors).

`mode = "serial"` reads one receiver on a serial port (`port`, `baudrate`, `reopen_delay`); `mode = "tcp"` listens for
trackers that send NMEA over TCP, one tracker per connection (`listen`, `idle_timeout`, `max_connections`,
`max_line`). A key of the other mode is refused rather than silently ignored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from shaobing.config import Closed
from shaobing.net import listen_address

SERIAL_KEYS = frozenset({"port", "baudrate", "reopen_delay"})
TCP_KEYS = frozenset({"listen", "idle_timeout", "max_connections", "max_line"})


class NmeaOptions(Closed):
    name: str = Field(default="gps", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    mode: Literal["serial", "tcp"]
    # serial
    port: str | None = Field(default=None, min_length=1)
    baudrate: int = Field(default=4800, gt=0)  # NMEA 0183's own rate; many receivers run at 9600
    reopen_delay: float = Field(default=2.0, gt=0)
    # tcp
    listen: str = "0.0.0.0:10110"  # 10110: the port IANA lists for NMEA 0183 over TCP
    idle_timeout: float = Field(default=120.0, gt=0)
    max_connections: int = Field(default=1024, gt=0)
    max_line: int = Field(default=256, ge=82, le=4096)  # 82: NMEA's own maximum sentence length
    # both
    min_interval_s: float = Field(default=5.0, ge=0, le=86_400)
    min_distance_m: float = Field(default=50.0, ge=0)
    require_checksum: bool = True

    @model_validator(mode="after")
    def _mode_keys(self) -> NmeaOptions:
        given = self.model_fields_set
        if self.mode == "serial":
            if self.port is None:
                raise ValueError('mode "serial" needs port (a device path or a pyserial URL)')
            stray = sorted(given & TCP_KEYS)
        else:
            self.host_port()
            stray = sorted(given & SERIAL_KEYS)
        if stray:
            raise ValueError(f'{", ".join(stray)} cannot be used with mode "{self.mode}"')
        return self

    def host_port(self) -> tuple[str, int]:
        return listen_address(self.listen)
