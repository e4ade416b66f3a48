"""SAM status words. SW1 and SW2 are 00 00 in every answer the module gives; SW3 says what happened.

Names and meanings from GA/T 467 as the public drivers quote it. Anything not listed here is refused as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Status:
    sw3: int
    name: str
    meaning: str

    @property
    def ok(self) -> bool:
        return self.sw3 in (OK, FIND_OK)


OK: Final = 0x90
FIND_OK: Final = 0x9F
FIND_FAILED: Final = 0x80
SELECT_FAILED: Final = 0x81
READ_FAILED: Final = 0x41

STATUSES: Final[dict[int, Status]] = {s.sw3: s for s in (
    Status(0x90, "ok", "operation succeeded"),
    Status(0x91, "no_content", "the card holds nothing for this item"),
    Status(0x9F, "find_ok", "card found"),
    Status(0x10, "checksum_error", "the module received a frame with a bad checksum"),
    Status(0x11, "length_error", "the module received a frame with a bad length"),
    Status(0x21, "command_error", "the module does not know the command or its parameters"),
    Status(0x23, "not_permitted", "operation not permitted"),
    Status(0x24, "unrecognised_error", "the module met an error it cannot name"),
    Status(0x31, "card_auth_failed", "the card did not authenticate the reader"),
    Status(0x32, "reader_auth_failed", "the reader did not authenticate the card"),
    Status(0x33, "verify_failed", "the card's information did not verify"),
    Status(0x40, "unknown_card_type", "the card is of a type the module does not know"),
    Status(0x41, "read_failed", "reading the card failed"),
    Status(0x47, "random_failed", "getting a random number failed"),
    Status(0x60, "sam_self_test_failed", "the SAM failed its self-test and takes no commands"),
    Status(0x66, "sam_not_authorised", "the SAM is not authorised for use"),
    Status(0x80, "find_failed", "no card found"),
    Status(0x81, "select_failed", "selecting the card failed"),
)}
