"""The PC/SC card reader's configuration table (closed: unknown keys are errors).

    [[drivers]]
    type = "pcsc"
    name = "pithead-in-reader"     # the device name in readings
    reader = "ACS ACR122U"         # a PC/SC reader name, or its start ("Virtual PCD 00 00" for vpcd)
    door = "pithead-in"            # the door (or reader point) the allow-list is asked about
    poll_interval = 0.5            # seconds per status wait; also how often a missing reader is looked for
    read_timeout = 3.0             # seconds a card may take to answer before the swipe is reported unreadable
    retry_min = 1.0                # while pcscd is not running: first retry after this, doubling up to retry_max
    retry_max = 30.0
    offline_after = 60.0           # seconds without the reader before a device_offline trouble; 0: never
"""

from __future__ import annotations

from pydantic import Field, model_validator

from shaobing.config import Closed


class PcscOptions(Closed):
    name: str = Field(default="pcsc", min_length=1)
    reader: str = Field(min_length=1)
    door: str = Field(min_length=1)
    poll_interval: float = Field(default=0.5, gt=0, le=60)
    read_timeout: float = Field(default=3.0, gt=0, le=60)
    retry_min: float = Field(default=1.0, gt=0)
    retry_max: float = Field(default=30.0, gt=0)
    offline_after: float = Field(default=60.0, ge=0)

    @model_validator(mode="after")
    def _retry_range(self) -> PcscOptions:
        if self.retry_max < self.retry_min:
            raise ValueError(f"retry_max ({self.retry_max:g}) is less than retry_min ({self.retry_min:g})")
        return self
