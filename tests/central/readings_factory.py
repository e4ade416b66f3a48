"""Envelopes and MQTT-like messages for central's tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shaobing import topics
from shaobing.envelope import DEFAULT_PRIORITY, Envelope, Kind

BASE_TIME = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)


def envelope(site: str, seq: int, kind: Kind = Kind.POSITION, data: dict[str, Any] | None = None) -> Envelope:
    moment = BASE_TIME + timedelta(seconds=seq % 86_400)
    return Envelope(
        site=site,
        seq=seq,
        device="dev-1",
        kind=kind,
        ts=moment,
        rx=moment,
        priority=int(DEFAULT_PRIORITY[kind]),
        data=data if data is not None else {"lat": 30.1, "lon": 120.2},
    )


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool = False


def event_message(env: Envelope) -> Message:
    return Message(topics.event(env.site, env.kind), env.to_json())
