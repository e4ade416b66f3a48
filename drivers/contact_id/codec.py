"""Ademco Contact ID (SIA DC-05) messages: parse and build the 16-digit form, no I/O.

    ACCT(4) MT(2) Q(1) XYZ(3) GG(2) CCC(3) S(1)      e.g. 1234 18 1 131 01 007 C

The account may use the hex digits B-F; every other field is decimal. The check digit S makes the sum of all sixteen
digit values a multiple of 15, where 0 counts as 10 and B-F as 11-15 (a check value of 10 is sent as 0, 15 as F).
Refusal reasons read `what: detail` (e.g. `checksum: computed C, got 0`), so they are counted by what went wrong;
positions in them count from 1, as a technician reads the frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from drivers.contact_id.events import contact_id_reading
from shaobing.errors import FrameError

FRAME_LENGTH: Final = 16
MESSAGE_TYPES: Final = (18, 98)

Qualifier = Literal["new", "restore", "repeat"]
QUALIFIER_BY_DIGIT: Final[dict[str, Qualifier]] = {"1": "new", "3": "restore", "6": "repeat"}
DIGIT_BY_QUALIFIER: Final[dict[str, str]] = {name: digit for digit, name in QUALIFIER_BY_DIGIT.items()}

DECIMAL: Final = frozenset("0123456789")
ACCOUNT_DIGITS: Final = frozenset("0123456789BCDEF")
# 'A' would stand for 10, which Contact ID always sends as 0, so it is refused rather than guessed at.
CHECK_DIGITS: Final = ACCOUNT_DIGITS
ACCOUNT_LENGTH: Final = 4


@dataclass(frozen=True, slots=True)
class ContactIdMessage:
    account: str
    message_type: int
    qualifier: str
    event_code: int
    partition: int
    zone_or_user: int


def digit_value(char: str) -> int:
    """The checksum value of one digit: 0 counts as 10, B-F as 11-15."""
    value = int(char, 16)
    return 10 if value == 0 else value


def checksum_digit(body: str) -> str:
    """The check digit that completes the fifteen digits of `body` (no check digit yet) into a valid frame."""
    if len(body) != FRAME_LENGTH - 1:
        raise ValueError(f"checksum_digit needs {FRAME_LENGTH - 1} digits, got {len(body)}")
    remainder = sum(digit_value(char) for char in body.upper()) % 15
    check = 15 - remainder  # 1..15; a check value of 10 is sent as 0, 15 as F
    return "0" if check == 10 else format(check, "X")


def encode(message: ContactIdMessage) -> str:
    """The 16-digit frame (check digit included) for `message`; ValueError if a field cannot be sent."""
    account = message.account.upper()
    if len(account) != ACCOUNT_LENGTH or not set(account) <= ACCOUNT_DIGITS:
        raise ValueError(f"account {message.account!r}: 4 digits 0-9 or B-F")
    if message.message_type not in MESSAGE_TYPES:
        raise ValueError(f"message type {message.message_type} (expected 18 or 98)")
    if message.qualifier not in DIGIT_BY_QUALIFIER:
        raise ValueError(f"qualifier {message.qualifier!r} (expected new, restore or repeat)")
    for name, value, top in (("event_code", message.event_code, 999), ("partition", message.partition, 99),
                             ("zone_or_user", message.zone_or_user, 999)):
        if not 0 <= value <= top:
            raise ValueError(f"{name} {value} out of range 0..{top}")
    body = (f"{account}{message.message_type:02d}{DIGIT_BY_QUALIFIER[message.qualifier]}"
            f"{message.event_code:03d}{message.partition:02d}{message.zone_or_user:03d}")
    return body + checksum_digit(body)


def _as_text(frame: bytes | str) -> str:
    # latin-1 maps every byte to one character, so positions in reasons match positions in the bytes
    return frame.decode("latin-1") if isinstance(frame, bytes | bytearray) else frame


def parse(frame: bytes | str) -> ContactIdMessage:
    """Parse exactly sixteen digits (no terminator, no padding); anything else raises FrameError with the reason."""
    text = _as_text(frame)
    if len(text) != FRAME_LENGTH:
        raise FrameError(f"length: {len(text)}, expected {FRAME_LENGTH}", frame)
    for index, char in enumerate(text):
        allowed = ACCOUNT_DIGITS if index < ACCOUNT_LENGTH else CHECK_DIGITS if index == FRAME_LENGTH - 1 else DECIMAL
        # upper-casing one character at a time: some characters grow when upper-cased ('ß' -> 'SS')
        if char.upper() not in allowed:
            raise FrameError(f"bad digit: {char!r} at {index + 1}", frame)
    digits = text.upper()
    expected = checksum_digit(digits[:-1])
    if digits[-1] != expected:
        raise FrameError(f"checksum: computed {expected}, got {digits[-1]}", frame)
    message_type = int(digits[4:6])
    if message_type not in MESSAGE_TYPES:
        raise FrameError(f"message type: {message_type}, expected 18 or 98", frame)
    qualifier = QUALIFIER_BY_DIGIT.get(digits[6])
    if qualifier is None:
        raise FrameError(f"qualifier: {digits[6]}, expected 1, 3 or 6", frame)
    return ContactIdMessage(
        account=digits[:4],
        message_type=message_type,
        qualifier=qualifier,
        event_code=int(digits[7:10]),
        partition=int(digits[10:12]),
        zone_or_user=int(digits[12:15]),
    )


def decode_for_cli(line: str) -> dict[str, Any]:
    """One captured line for `shaobing decode contact-id`: the message, its reading kind and data.

    Whitespace, CR/LF and NULs around the digits are ignored; a refused frame raises FrameError."""
    message = parse(line.strip(" \t\r\n\0"))
    kind, data = contact_id_reading(
        qualifier=message.qualifier,
        event_code=message.event_code,
        partition=message.partition,
        zone_or_user=message.zone_or_user,
        source="contact_id",
        account=message.account,
    )
    return {
        "format": "contact-id",
        "account": message.account,
        "message_type": message.message_type,
        "qualifier": message.qualifier,
        "event_code": message.event_code,
        "partition": message.partition,
        "zone_or_user": message.zone_or_user,
        "kind": kind.value,
        "data": data,
    }
