"""Arming state per partition, as the edge knows it, kept in the outbox database.

It is updated from every `arming` reading that passes through the agent's sink (a panel's open/close reports) and
from central's arm/disarm commands (which pass through the sink as arming readings too). Each alarm is annotated with
`site_armed` (True, False, or None when unknown) before it is committed: central then judges the alarm by the state at
the moment it happened, even when the alarm overtakes the arming reading on the way (alarms drain first).

Partitions: an arming reading without a partition applies to partition 0, the whole site. An alarm in partition p
takes p's state, else the whole site's; an alarm without a partition takes the whole site's state, else the state all
known partitions agree on, else None.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge.outbox import Outbox, Statement
from shaobing.clock import format_ts, parse_ts
from shaobing.envelope import Kind, Reading

WHOLE_SITE = 0
STATES = ("armed", "disarmed")

SCHEMA = """CREATE TABLE IF NOT EXISTS arming (
    partition INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    user TEXT,
    source TEXT,
    since TEXT NOT NULL
)"""


@dataclass(frozen=True)
class PartitionState:
    state: str
    user: str | None
    source: str | None
    since: datetime

    @property
    def armed(self) -> bool:
        return self.state == "armed"


def _partition_of(data: dict[str, Any]) -> int | None:
    value = data.get("partition")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


class ArmingBook:
    def __init__(self, outbox: Outbox, *, log: logging.Logger) -> None:
        self._outbox = outbox
        self._log = log
        self._partitions: dict[int, PartitionState] = {}

    async def load(self) -> None:
        await self._outbox.write([(SCHEMA, ())])
        rows = await self._outbox.query("SELECT partition, state, user, source, since FROM arming")
        self._partitions = {
            int(partition): PartitionState(str(state), user, source, parse_ts(str(since)))
            for partition, state, user, source, since in rows
        }

    def snapshot(self) -> dict[int, PartitionState]:
        return dict(self._partitions)

    def observe(self, reading: Reading) -> list[Statement]:
        """Take the state from an arming reading; returns the SQL that persists it (for the same commit)."""
        if reading.kind != Kind.ARMING:
            return []
        state = reading.data.get("state")
        if state not in STATES:
            self._log.warning("arming reading with no usable state (kept, state unchanged): %r", reading)
            return []
        partition = _partition_of(reading.data)
        if partition is None:
            partition = WHOLE_SITE
        user = reading.data.get("user")
        source = reading.data.get("source")
        entry = PartitionState(str(state), None if user is None else str(user),
                               None if source is None else str(source), reading.ts)
        self._partitions[partition] = entry
        return [(
            "INSERT INTO arming (partition, state, user, source, since) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (partition) DO UPDATE SET state = excluded.state, user = excluded.user, "
            "source = excluded.source, since = excluded.since",
            (partition, entry.state, entry.user, entry.source, format_ts(entry.since)),
        )]

    def armed(self, partition: int | None) -> bool | None:
        known = self._partitions
        if partition is not None and partition in known:
            return known[partition].armed
        if WHOLE_SITE in known:
            return known[WHOLE_SITE].armed
        if partition is None and known:
            states = {entry.armed for entry in known.values()}
            if len(states) == 1:
                return states.pop()
        return None

    def annotate(self, reading: Reading) -> Reading:
        """An alarm with `site_armed` added to its data (other readings unchanged)."""
        if reading.kind != Kind.ALARM:
            return reading
        data = dict(reading.data)
        data["site_armed"] = self.armed(_partition_of(reading.data))
        return dataclasses.replace(reading, data=data)
