"""Arming state per partition, as the edge knows it, kept in the outbox database.

It is updated from every `arming` reading that passes through the agent's sink (a panel's open/close reports) and
from central's arm/disarm commands (which pass through the sink as arming readings too). Each alarm is annotated with
`site_armed` (True, False, or None when unknown) before it is committed: central then judges the alarm by the state at
the moment it happened, even when the alarm overtakes the arming reading on the way (alarms drain first).

A change takes effect (in memory and in the `arming` table) only when its arming reading is committed, in the same
transaction (`change_for` gives the SQL and the outbox runs it with the reading; `apply` follows the commit): a
reading the outbox refuses, or a commit that fails, changes nothing.

Partitions: an arming reading without a partition applies to partition 0, the whole site. A whole-site change
replaces every partition's own entry (a whole-site disarm disarms them all); a later change of one partition is kept
beside it. An alarm in partition p takes p's state, else the whole site's; an alarm without a partition takes the
whole site's state, else the state all known partitions agree on, else None.
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


@dataclass(frozen=True)
class ArmingChange:
    """What one arming reading would set, and the SQL that stores it (run in the reading's own transaction)."""

    partition: int
    entry: PartitionState
    statements: list[Statement]


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

    def change_for(self, reading: Reading) -> ArmingChange | None:
        """The change an arming reading makes, not yet applied; None when it makes none."""
        if reading.kind != Kind.ARMING:
            return None
        state = reading.data.get("state")
        if state not in STATES:
            self._log.warning("arming reading with no usable state (kept, state unchanged): %r", reading)
            return None
        partition = _partition_of(reading.data)
        if partition is None:
            partition = WHOLE_SITE
        user = reading.data.get("user")
        source = reading.data.get("source")
        entry = PartitionState(str(state), None if user is None else str(user),
                               None if source is None else str(source), reading.ts)
        statements: list[Statement] = []
        if partition == WHOLE_SITE:
            statements.append(("DELETE FROM arming WHERE partition <> ?", (WHOLE_SITE,)))
        statements.append((
            "INSERT INTO arming (partition, state, user, source, since) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (partition) DO UPDATE SET state = excluded.state, user = excluded.user, "
            "source = excluded.source, since = excluded.since",
            (partition, entry.state, entry.user, entry.source, format_ts(entry.since)),
        ))
        return ArmingChange(partition, entry, statements)

    def apply(self, change: ArmingChange) -> None:
        """Take the change into memory: call it once its reading (and so its SQL) is committed."""
        if change.partition == WHOLE_SITE:
            self._partitions.clear()
        self._partitions[change.partition] = change.entry

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
