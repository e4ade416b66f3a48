"""A report's period and time zone, checked: [since, until) in UTC, at most MAX_PERIOD long, and an IANA zone that
exists. A time given without an offset is a wall-clock time in the report's zone ("2026-11-01" is local midnight)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

DEFAULT_ZONE = "Asia/Shanghai"
# A quarter and a bit: a month is the usual report, three months the longest a supervisor compares.
MAX_PERIOD = timedelta(days=93)
DEFAULT_PERIOD = timedelta(days=7)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$")


class PeriodError(ValueError):
    """A period or zone a report cannot use; the message says why, in words the caller can act on."""


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or PeriodError: only names of the zone database, never a path."""
    if not _ZONE_NAME.match(name) or name not in _zone_names():
        raise PeriodError("tz must be an IANA time zone name such as Asia/Shanghai")
    return ZoneInfo(name)


@dataclass(frozen=True, slots=True)
class Period:
    since: datetime  # UTC, inclusive
    until: datetime  # UTC, exclusive
    zone: ZoneInfo

    @property
    def zone_name(self) -> str:
        return self.zone.key

    def local_days(self) -> list[date]:
        """Every local day the period touches, in order."""
        first = self.since.astimezone(self.zone).date()
        last = (self.until - timedelta(microseconds=1)).astimezone(self.zone).date()
        return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def _aware(moment: datetime, where: ZoneInfo) -> datetime:
    return moment.replace(tzinfo=where) if moment.tzinfo is None else moment


def period(since: datetime | None, until: datetime | None, *, zone_name: str, now: datetime) -> Period:
    """Check and complete a period: until defaults to now, since to DEFAULT_PERIOD before until."""
    where = zone(zone_name)
    try:
        end = _aware(until, where).astimezone(UTC) if until is not None else now.astimezone(UTC)
        start = _aware(since, where).astimezone(UTC) if since is not None else end - DEFAULT_PERIOD
    except (OverflowError, ValueError) as exc:  # year 1 or 9999 moved across a zone's offset
        raise PeriodError("since and until must be dates between the years 2000 and 2100") from exc
    if not (start >= EARLIEST and end <= LATEST):
        raise PeriodError("since and until must be dates between the years 2000 and 2100")
    if start >= end:
        raise PeriodError("since must be before until")
    if end - start > MAX_PERIOD:
        raise PeriodError(f"the period is longer than {MAX_PERIOD.days} days: ask for a shorter one")
    return Period(start, end, where)
