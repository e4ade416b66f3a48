"""Sequence gaps per site: seqs missing below the highest stored one, shown until they arrive.

Readings arrive out of order (alarms overtake positions at the edge), so a gap is not loss yet: it opens when a seq
beyond the highest stored arrives, shrinks or splits as missing seqs come in, and closes when the last one does. A gap
that stays open is loss, and its age says for how long.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.schema import seq_gaps


@dataclass(frozen=True, slots=True)
class SeqGap:
    site: str
    first_seq: int
    last_seq: int
    detected_at: datetime

    @property
    def size(self) -> int:
        return self.last_seq - self.first_seq + 1

    def age(self, now: datetime) -> timedelta:
        return now - self.detected_at


def ranges_missing(above: int, seqs: Iterable[int]) -> list[tuple[int, int]]:
    """The ranges (first, last) not covered by `seqs` between `above` (exclusive) and the highest of `seqs`."""
    missing: list[tuple[int, int]] = []
    expected = above + 1
    for seq in sorted({seq for seq in seqs if seq > above}):
        if seq > expected:
            missing.append((expected, seq - 1))
        expected = seq + 1
    return missing


def subtract(first: int, last: int, sorted_seqs: Sequence[int]) -> list[tuple[int, int]]:
    """What is left of the range first..last once `sorted_seqs` (ascending, distinct) have arrived."""
    left: list[tuple[int, int]] = []
    start = first
    for index in range(bisect.bisect_left(sorted_seqs, first), len(sorted_seqs)):
        seq = sorted_seqs[index]
        if seq > last:
            break
        if seq > start:
            left.append((start, seq - 1))
        start = seq + 1
    if start <= last:
        left.append((start, last))
    return left


async def record_arrivals(
    connection: AsyncConnection, site: str, previous_last_seq: int, seqs: Iterable[int], *, now: datetime
) -> None:
    """Update a site's gaps for newly stored `seqs`, given the highest seq stored before them.

    For a site never seen before `previous_last_seq` is 0, so a first reading with seq 5 opens the gap 1..4.
    """
    arrived = sorted(set(seqs))
    if not arrived:
        return
    late = arrived[: bisect.bisect_right(arrived, previous_last_seq)]
    if late:
        await _fill(connection, site, late)
    opened = ranges_missing(previous_last_seq, arrived)
    if opened:
        await connection.execute(
            insert(seq_gaps),
            [{"site": site, "first_seq": a, "last_seq": b, "detected_at": now} for a, b in opened],
        )


async def _fill(connection: AsyncConnection, site: str, late: list[int]) -> None:
    overlapping = await connection.execute(
        select(seq_gaps.c.id, seq_gaps.c.first_seq, seq_gaps.c.last_seq, seq_gaps.c.detected_at).where(
            and_(seq_gaps.c.site == site, seq_gaps.c.first_seq <= late[-1], seq_gaps.c.last_seq >= late[0])
        )
    )
    changed = [
        row for row in overlapping if subtract(row.first_seq, row.last_seq, late) != [(row.first_seq, row.last_seq)]
    ]
    if not changed:
        return
    await connection.execute(delete(seq_gaps).where(seq_gaps.c.id.in_([row.id for row in changed])))
    pieces = [
        {"site": site, "first_seq": a, "last_seq": b, "detected_at": row.detected_at}
        for row in changed
        for a, b in subtract(row.first_seq, row.last_seq, late)
    ]
    if pieces:
        await connection.execute(insert(seq_gaps), pieces)


async def open_gaps(connection: AsyncConnection, site: str | None = None) -> list[SeqGap]:
    """Open gaps, oldest seqs first; of one site, or of every site."""
    query = select(seq_gaps.c.site, seq_gaps.c.first_seq, seq_gaps.c.last_seq, seq_gaps.c.detected_at)
    if site is not None:
        query = query.where(seq_gaps.c.site == site)
    rows = await connection.execute(query.order_by(seq_gaps.c.site, seq_gaps.c.first_seq))
    return [SeqGap(row.site, row.first_seq, row.last_seq, row.detected_at) for row in rows]
