"""The v1 wire contract: reading kinds, their priorities, and the envelope every reading travels in.

A driver makes a `Reading`; the edge gives it the site and the next per-site sequence number, which makes it an
`Envelope`; central parses the envelope back. Lower priority numbers are more urgent and always go first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from shaobing.clock import format_ts, parse_ts, utc_now

CONTRACT_VERSION = 1


class Kind(StrEnum):
    ALARM = "alarm"
    TROUBLE = "trouble"
    ARMING = "arming"
    TEST = "test"
    ID_READ = "id_read"
    CARD_SWIPE = "card_swipe"
    DOOR = "door"
    POSITION = "position"
    STATUS = "status"
    MOTION = "motion"


class Priority(IntEnum):
    """Queue order at every hop: alarms overtake everything, positions and telemetry go last (and age out first)."""

    ALARM = 1
    TROUBLE = 2
    EVENT = 3
    SUPERVISION = 4
    TELEMETRY = 5


DEFAULT_PRIORITY: dict[Kind, Priority] = {
    Kind.ALARM: Priority.ALARM,
    Kind.TROUBLE: Priority.TROUBLE,
    Kind.ARMING: Priority.EVENT,
    Kind.ID_READ: Priority.EVENT,
    Kind.CARD_SWIPE: Priority.EVENT,
    Kind.DOOR: Priority.EVENT,
    Kind.TEST: Priority.SUPERVISION,
    Kind.STATUS: Priority.SUPERVISION,
    Kind.MOTION: Priority.TELEMETRY,
    Kind.POSITION: Priority.TELEMETRY,
}


@dataclass(frozen=True, slots=True)
class Reading:
    """What a driver hands the edge: one event from one device, not yet numbered."""

    device: str
    kind: Kind
    data: dict[str, Any]
    ts: datetime = field(default_factory=utc_now)
    rx: datetime = field(default_factory=utc_now)
    priority: int | None = None

    @property
    def effective_priority(self) -> int:
        return int(self.priority if self.priority is not None else DEFAULT_PRIORITY[self.kind])


class EnvelopeError(ValueError):
    """An MQTT payload that is not a valid v1 envelope."""


@dataclass(frozen=True, slots=True)
class Envelope:
    site: str
    seq: int
    device: str
    kind: Kind
    ts: datetime
    rx: datetime
    priority: int
    data: dict[str, Any]

    @classmethod
    def of(cls, site: str, seq: int, reading: Reading) -> Envelope:
        return cls(
            site=site,
            seq=seq,
            device=reading.device,
            kind=reading.kind,
            ts=reading.ts,
            rx=reading.rx,
            priority=reading.effective_priority,
            data=reading.data,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": CONTRACT_VERSION,
            "site": self.site,
            "seq": self.seq,
            "device": self.device,
            "kind": self.kind.value,
            "ts": format_ts(self.ts),
            "rx": format_ts(self.rx),
            "priority": self.priority,
            "data": self.data,
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, payload: bytes | str) -> Envelope:
        """Parse and check an envelope; anything malformed raises `EnvelopeError` with the reason."""
        try:
            raw = json.loads(payload)
        except RecursionError:
            raise EnvelopeError("JSON nested too deeply") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise EnvelopeError(f"not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise EnvelopeError("envelope is not a JSON object")
        if raw.get("v") != CONTRACT_VERSION:
            raise EnvelopeError(f"unsupported contract version {raw.get('v')!r}")
        try:
            site = raw["site"]
            seq = raw["seq"]
            device = raw["device"]
            kind = Kind(raw["kind"])
            priority = raw.get("priority", DEFAULT_PRIORITY[kind])
            data = raw.get("data", {})
            ts = parse_ts(raw["ts"])
            rx = parse_ts(raw["rx"]) if "rx" in raw else ts
        except KeyError as exc:
            raise EnvelopeError(f"missing field {exc.args[0]!r}") from None
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise EnvelopeError(f"bad field: {exc}") from None
        if not isinstance(site, str) or not site:
            raise EnvelopeError("site must be a non-empty string")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or seq >= 2**63:
            raise EnvelopeError("seq must be a positive integer")
        if not isinstance(device, str):
            raise EnvelopeError("device must be a string")
        if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 9:
            raise EnvelopeError("priority must be an integer 0..9")
        if not isinstance(data, dict):
            raise EnvelopeError("data must be a JSON object")
        return cls(site=site, seq=seq, device=device, kind=kind, ts=ts, rx=rx, priority=priority, data=data)
