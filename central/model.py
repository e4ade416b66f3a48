"""What flows inside central between ingest and the rules: a reading as stored, with its database id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shaobing.envelope import Envelope


@dataclass(frozen=True, slots=True)
class StoredReading:
    """A reading committed for the first time (re-sent duplicates never become one)."""

    id: int
    envelope: Envelope
    stored_at: datetime
