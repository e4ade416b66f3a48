"""Local day and hour of a stored UTC time, computed in the database, the same way on SQLite and PostgreSQL.

SQLite knows no time zones, so the zone's offsets over the period are worked out here (zoneinfo) and handed to the
query as a CASE over the UTC instants where the offset changes (none for Asia/Shanghai, two a year where clocks
change). The UTC time becomes integer seconds since 1970, plus the offset: local seconds, whose day number and hour
are integer divisions. PostgreSQL could convert with AT TIME ZONE, but one expression for both keeps both stores
giving the same answer from the same zone data.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Float, case, cast, func, literal
from sqlalchemy.sql.elements import ColumnElement

from central.reports.period import Period

EPOCH_DAY = date(1970, 1, 1)
_SAMPLE = timedelta(hours=1)


def _offset(where: ZoneInfo, moment: datetime) -> int:
    offset = moment.astimezone(where).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


def offset_changes(where: ZoneInfo, since: datetime, until: datetime) -> tuple[int, list[tuple[datetime, int]]]:
    """The offset (seconds) at `since`, and each (instant, new offset) where it changes before `until`."""
    first = _offset(where, since)
    changes: list[tuple[datetime, int]] = []
    current, moment = first, since
    while moment < until:
        step = min(moment + _SAMPLE, until)
        if _offset(where, step) != current:
            low, high = moment, step  # the change lies in (low, high]: narrow it to the second
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (low, middle) if _offset(where, middle) != current else (middle, high)
            current = _offset(where, high)
            changes.append((high, current))
        moment = step
    return first, changes


def epoch_seconds(column: Any, dialect: str) -> ColumnElement[Any]:
    """Seconds since 1970 of a UtcDateTime column, with fractions."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", column), Float)
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" in UTC; julianday counts days from noon, 4714 BC.
    return (func.julianday(column) - 2440587.5) * 86400.0


def _whole_seconds(column: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), BigInteger)


def local_seconds(column: Any, report: Period, dialect: str) -> ColumnElement[Any]:
    """Integer seconds since 1970 on the wall clock of the report's zone."""
    first, changes = offset_changes(report.zone, report.since, report.until)
    offset: ColumnElement[Any] = literal(first, BigInteger)
    if changes:
        # The last change that happened at or before the time wins: test the latest first.
        whens = [(column >= instant, literal(value, BigInteger)) for instant, value in reversed(changes)]
        offset = case(*whens, else_=literal(first, BigInteger))
    return _whole_seconds(column, dialect) + offset


def local_day_number(column: Any, report: Period, dialect: str) -> ColumnElement[Any]:
    """Days since 1970-01-01 on the local calendar."""
    return local_seconds(column, report, dialect) // 86400


def local_hour(column: Any, report: Period, dialect: str) -> ColumnElement[Any]:
    """Hour of the local day, 0-23."""
    return (local_seconds(column, report, dialect) % 86400) // 3600


def day_from_number(number: int) -> date:
    return EPOCH_DAY + timedelta(days=int(number))


