"""The one statement whose SQL differs between SQLite and PostgreSQL here: INSERT ... ON CONFLICT DO NOTHING."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignoring_conflicts(dialect: str, table: Table, index_elements: Sequence[str]) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(index_elements))
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(index_elements))
    raise ValueError(f"unsupported database dialect {dialect!r}")
