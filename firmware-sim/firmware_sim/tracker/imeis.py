"""IMEIs for simulated trackers: 14 digits of body and a Luhn check digit, as real devices carry.

A fleet numbers its trackers from a base: tracker i gets body (base's first 14 digits + i) and the check digit of
that body, so every simulated IMEI would pass a server's Luhn check. A base of 15 digits has its last digit replaced
by the right check digit.
"""

from __future__ import annotations

DEFAULT_BASE = "86471700366440"  # a Concox-style TAC (8647170) and a serial


def luhn_digit(body: str) -> str:
    """The check digit that makes `body` + digit pass the Luhn test."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # doubled: the rightmost body digit sits next to the check digit
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(imei: str) -> bool:
    return len(imei) == 15 and imei.isdigit() and luhn_digit(imei[:14]) == imei[14]


def imei_at(base: str, index: int) -> str:
    """The IMEI of the `index`th tracker (0-based) of a fleet numbered from `base` (14 or 15 digits)."""
    if not base.isdigit() or len(base) not in (14, 15):
        raise ValueError(f"IMEI base {base!r} must be 14 or 15 digits")
    number = int(base[:14]) + index
    if number >= 10**14:
        raise ValueError(f"IMEI base {base!r} + {index} runs past 14 digits")
    body = f"{number:014d}"
    return body + luhn_digit(body)
