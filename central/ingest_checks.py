"""What central accepts from MQTT: topics of the contract and envelopes it can store on either database.

`Envelope.from_json` checks the contract; on top of it central refuses what would break a column or a JSONB value
(NUL characters, lone surrogates, NaN, absurd nesting, oversize fields) and a site speaking for another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from shaobing import topics
from shaobing.envelope import Envelope

MAX_DEVICE_CHARS = 128
MAX_DATA_DEPTH = 16


class Rejected(ValueError):
    """A message central will not store; the reason is short, stable and safe to log."""


class TopicKind(Enum):
    EVENT = "event"
    STATE = "state"
    CMD_RESULT = "cmd_result"


@dataclass(frozen=True, slots=True)
class TopicInfo:
    kind: TopicKind
    site: str
    event_kind: str | None = None


def classify_topic(topic: str) -> TopicInfo:
    site = topics.site_of(topic)
    if site is None:
        raise Rejected("topic outside the contract")
    if not topics.is_valid_site_id(site):
        raise Rejected(f"invalid site id in topic: {site[:80]!r}")
    rest = topic.split("/")[3:]
    if len(rest) == 2 and rest[0] == "event":
        return TopicInfo(TopicKind.EVENT, site, rest[1])
    if rest == ["state"]:
        return TopicInfo(TopicKind.STATE, site)
    if rest == ["cmd", "result"]:
        return TopicInfo(TopicKind.CMD_RESULT, site)
    raise Rejected("topic outside the contract")


def _check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise Rejected(f"NUL character in {where}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Rejected(f"lone surrogate in {where}") from None


def check_document(value: Any, where: str = "data") -> None:
    """Refuse what SQLite JSON and PostgreSQL JSONB would not both store as given (iterative: no recursion)."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_DATA_DEPTH:
            raise Rejected(f"{where} nested deeper than {MAX_DATA_DEPTH}")
        if isinstance(item, str):
            _check_text(item, where)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise Rejected(f"non-finite number in {where}")
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, where)
                pending.append((child, depth + 1))
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)


def parse_event(info: TopicInfo, payload: bytes, *, max_payload_bytes: int) -> Envelope:
    if len(payload) > max_payload_bytes:
        raise Rejected(f"payload of {len(payload)} bytes exceeds {max_payload_bytes}")
    try:
        envelope = Envelope.from_json(payload)
    except RecursionError:
        raise Rejected("not an envelope: JSON nested too deeply") from None
    except (ValueError, OverflowError, TypeError, AttributeError) as exc:
        raise Rejected(f"not an envelope: {str(exc)[:200]}") from None
    if envelope.site != info.site:
        raise Rejected(f"envelope of site {envelope.site[:80]!r} published on the topic of site {info.site!r}")
    if envelope.kind.value != info.event_kind:
        raise Rejected(f"envelope kind {envelope.kind.value!r} on topic kind {str(info.event_kind)[:40]!r}")
    if len(envelope.device) > MAX_DEVICE_CHARS:
        raise Rejected(f"device longer than {MAX_DEVICE_CHARS} characters")
    _check_text(envelope.device, "device")
    check_document(envelope.data)
    return envelope
