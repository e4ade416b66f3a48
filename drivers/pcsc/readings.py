"""The readings a PC/SC reader produces: one `card_swipe` per card put on it, `trouble` while the reader is gone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drivers.base import AccessDecision
from shaobing.envelope import Kind, Reading

SOURCE = "pcsc"
UNREADABLE = "unreadable_card"  # the reason of a swipe whose card could not be read: nobody is let in


def swipe(device: str, *, card: str, reader: str, door: str, decision: AccessDecision, atr: bytes,
          at: datetime) -> Reading:
    data: dict[str, Any] = {
        "card": card, "reader": reader, "door": door, "decision": "granted" if decision.granted else "denied",
        "reason": decision.reason, "atr": atr.hex().upper(), "source": SOURCE,
    }
    if decision.person is not None:
        data["person"] = decision.person
    return Reading(device=device, kind=Kind.CARD_SWIPE, data=data, ts=at, rx=at)


def unreadable_swipe(device: str, *, reader: str, door: str, error: str, atr: bytes, at: datetime) -> Reading:
    """A card was put on the reader but gave no usable UID: denied, with what went wrong."""
    data: dict[str, Any] = {
        "card": None, "reader": reader, "door": door, "decision": "denied", "reason": UNREADABLE, "error": error,
        "atr": atr.hex().upper(), "source": SOURCE,
    }
    return Reading(device=device, kind=Kind.CARD_SWIPE, data=data, ts=at, rx=at)


def reader_offline(device: str, *, reader: str, door: str, restore: bool, detail: str, at: datetime) -> Reading:
    """`device_offline` trouble (qualifier new) when the reader has been gone too long; restore when it is back."""
    data: dict[str, Any] = {
        "class": "device_offline", "source": SOURCE, "zone": door, "qualifier": "restore" if restore else "new",
        "reader": reader, "door": door, "detail": detail,
    }
    return Reading(device=device, kind=Kind.TROUBLE, data=data, ts=at, rx=at)
