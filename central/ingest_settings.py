"""Configuration of central's MQTT ingest (the `[ingest]` table of the central config)."""

from __future__ import annotations

from pydantic import Field

from shaobing.config import Closed


class IngestSettings(Closed):
    # The persistent session that keeps readings at the broker while central is down: same id at every start.
    client_id: str = Field(default="central-1", min_length=1, max_length=128)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=60)
    # One transaction per batch. The broker sends at most its in-flight window of unacknowledged messages (Mosquitto
    # defaults to 100 here), so a batch larger than that only fills by waiting.
    batch_size: int = Field(default=500, ge=1, le=10_000)
    batch_wait_ms: float = Field(default=5.0, ge=0, le=1000)
    max_payload_bytes: int = Field(default=65536, ge=1024, le=16 * 1024 * 1024)
    retry_min_s: float = Field(default=0.2, gt=0)
    retry_max_s: float = Field(default=10.0, gt=0)
    # After this many failed attempts a batch is retried one message at a time, to find a message the database refuses.
    split_after_failures: int = Field(default=3, ge=1)
