"""The commands a host sends the SAM module: (CMD, PARA) pairs."""

from __future__ import annotations

from enum import Enum


class Command(Enum):
    RESET = (0x10, 0xFF)
    SAM_STATUS = (0x11, 0xFF)
    SAM_ID = (0x12, 0xFF)
    FIND_CARD = (0x20, 0x01)
    SELECT_CARD = (0x20, 0x02)
    READ = (0x30, 0x01)  # text and photo
    READ_FINGERPRINT = (0x30, 0x10)  # text, photo and fingerprints

    @property
    def cmd(self) -> int:
        return self.value[0]

    @property
    def para(self) -> int:
        return self.value[1]

    @property
    def label(self) -> str:
        return self.name.lower()


COMMANDS = {command.value: command for command in Command}
