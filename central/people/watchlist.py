"""The watch-list in the database: imported in batches, looked up by the keyed hash of an ID number.

The key (HMAC-SHA256 under [people] watchlist_key) turns a look-up into one primary-key probe per batch of readings,
and keeps the numbers themselves out of the database: the police keep the list they imported.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from central.people.watchlist_csv import Entry
from central.store.schema import watchlist

BATCH = 5000  # rows per INSERT: large enough to amortise the round trip, small enough for SQLite's variable limit
LOOKUP_BATCH = 1000


@dataclass(frozen=True, slots=True)
class WatchEntry:
    id_hash: bytes
    name: str
    reason: str
    case_ref: str


class WatchKey:
    """Hashes ID numbers (normalized: upper case, no spaces) under the configured key."""

    def __init__(self, key: str) -> None:
        self._key = key.encode()

    def hash(self, id_number: str) -> bytes:
        return hmac.digest(self._key, id_number.encode(), "sha256")


def _upsert(dialect: str) -> Any:
    statement: Any = postgresql.insert(watchlist) if dialect == "postgresql" else sqlite.insert(watchlist)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["id_hash"],
        set_={"name": excluded.name, "reason": excluded.reason, "case_ref": excluded.case_ref,
              "imported_at": excluded.imported_at, "imported_by": excluded.imported_by},
    )


def hashed_rows(entries: Iterable[Entry], *, key: WatchKey, by: str, at: datetime) -> list[dict[str, Any]]:
    """The table's rows for `entries` (CPU only: the API runs it in a worker thread)."""
    return [{"id_hash": key.hash(entry.id_number), "name": entry.name, "reason": entry.reason,
             "case_ref": entry.case_ref, "imported_at": at, "imported_by": by} for entry in entries]


async def write_rows(connection: AsyncConnection, rows: Sequence[dict[str, Any]], *, replace: bool = False) -> int:
    """Add (or update) the rows in the caller's transaction, `BATCH` at a time; `replace` first drops every entry.
    Returns the number of rows written."""
    if replace:
        await connection.execute(delete(watchlist))
    statement = _upsert(connection.dialect.name)
    for start in range(0, len(rows), BATCH):
        await connection.execute(statement, list(rows[start:start + BATCH]))
    return len(rows)


async def find(connection: AsyncConnection, hashes: Sequence[bytes]) -> dict[bytes, WatchEntry]:
    """The watched among `hashes`, by hash."""
    found: dict[bytes, WatchEntry] = {}
    unique = list(dict.fromkeys(hashes))
    for start in range(0, len(unique), LOOKUP_BATCH):
        rows = await connection.execute(
            select(watchlist.c.id_hash, watchlist.c.name, watchlist.c.reason, watchlist.c.case_ref)
            .where(watchlist.c.id_hash.in_(unique[start:start + LOOKUP_BATCH]))
        )
        for row in rows:
            found[bytes(row.id_hash)] = WatchEntry(bytes(row.id_hash), row.name, row.reason, row.case_ref)
    return found


async def count(connection: AsyncConnection) -> int:
    return int((await connection.execute(select(func.count()).select_from(watchlist))).scalar_one())
