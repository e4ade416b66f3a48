"""The ID card reader's configuration table (closed: unknown keys are errors).

    [[drivers]]
    type = "idcard"
    port = "/dev/ttyUSB0"          # a device path or a pyserial URL
    baudrate = 115200
    reader = "front-desk"          # the reader's name in readings (default: the driver's name)
    service_point = "building-7"   # where tenants register
    poll_interval = 0.5
    photo = "base64"               # or "hash": readings carry only the photo's length and SHA-256
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shaobing.config import Closed


class IdCardOptions(Closed):
    name: str = Field(default="idcard", min_length=1)
    port: str = Field(min_length=1)
    baudrate: int = Field(default=115200, gt=0)
    reader: str | None = Field(default=None, min_length=1)
    service_point: str | None = Field(default=None, min_length=1)
    poll_interval: float = Field(default=0.5, gt=0)
    """Seconds between looks for a card."""
    answer_timeout: float = Field(default=3.0, gt=0)
    """Seconds the module has to answer one command (a read takes up to about a second on real modules)."""
    fingerprint: bool = False
    """Read with fingerprints (30 10): readings then say how many fingerprint bytes the card holds (never the bytes)."""
    photo: Literal["base64", "hash"] = "base64"
    lift_polls: int = Field(default=2, ge=1)
    """A card is taken as lifted after this many looks in a row find none; until then it is not reported again."""
    max_failures: int = Field(default=3, ge=1)
    """Commands in a row without a good answer before the port is closed and opened again."""
    reopen_delay: float = Field(default=1.0, gt=0)
    reopen_max: float = Field(default=30.0, gt=0)
    """The delay between attempts to open the port doubles from `reopen_delay` up to this."""
