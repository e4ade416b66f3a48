"""A card's canonical name, as `drivers.base.AccessDecider` defines it, so one list serves every kind of reader.

A contactless UID is upper-case hex of whole bytes without separators ("04A1B2C3"); a Wiegand read is
"W26:{facility}:{number}" or "W34:{facility}:{number}" in decimal. Lower-case hex, a lower-case "w" and leading zeros
are accepted and normalised; anything else is not a card name.
"""

from __future__ import annotations

import re

_HEX_DIGITS = frozenset("0123456789ABCDEFabcdef")  # 1..32 bytes of them: every UID length in use (4, 7, 10)
_WIEGAND = re.compile(r"[Ww](26|34):(\d{1,10}):(\d{1,10})")


def canonical_card(text: str) -> str | None:
    """The canonical form of `text`, or None when it names no card."""
    if _HEX_DIGITS.issuperset(text):  # the common case, without a regular expression: a list holds a million
        return text.upper() if 2 <= len(text) <= 64 and len(text) % 2 == 0 else None
    match = _WIEGAND.fullmatch(text)
    if match is None:
        return None
    bits, facility, number = match.groups()
    return f"W{bits}:{int(facility)}:{int(number)}"
