"""The reports as CSV files a spreadsheet opens as they are: UTF-8 with a byte-order mark (Excel then reads Chinese
correctly), comma-separated, CRLF line ends, one header row of English column names. A cell that would start a
spreadsheet formula (site names and areas are typed by people) is prefixed with an apostrophe. Numbers are plain
(seconds with up to three decimals, rates as fractions); an empty cell is a value that does not exist (a mean over
no dispatches)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from central.dispatch.repository import STEPS
from central.reports.area_hours import HOURS, UNASSIGNED, AreaHourGrid
from central.reports.false_alarms import SiteFalseAlarms
from central.reports.period import Period
from central.reports.response_times import DayTimes

MEDIA_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff"


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _document(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return buffer.getvalue().encode("utf-8")


def response_times_csv(days: Sequence[DayTimes]) -> bytes:
    header = ["day", "dispatches"] + [f"{step}_{part}" for step in STEPS for part in ("count", "mean_s", "p90_s")]
    rows = (
        [day.day.isoformat(), day.dispatches]
        + [value for step in STEPS for value in (day.steps[step].count, day.steps[step].mean_s, day.steps[step].p90_s)]
        for day in days
    )
    return _document(header, rows)


def false_alarms_csv(entries: Sequence[SiteFalseAlarms]) -> bytes:
    header = ["site", "name", "area", "raised", "resolved", "false", "real", "cancelled_by_user", "test", "unknown",
              "false_rate"]
    rows = (
        [entry.site, entry.name, entry.area, entry.raised, entry.resolved, entry.false, entry.real,
         entry.cancelled_by_user, entry.test, entry.unknown, entry.rate]
        for entry in entries
    )
    return _document(header, rows)


def area_hours_csv(grid: AreaHourGrid) -> bytes:
    """Two columns per hour: the count and its level (red, orange, yellow, blue), so the level survives printing in
    black and white."""
    header = ["area", "total"] + [f"h{hour:02d}{part}" for hour in HOURS for part in ("", "_level")]
    rows = (
        [row.area or UNASSIGNED, row.total]
        + [value for count in row.counts for value in (count, grid.thresholds.level(count).value)]
        for row in grid.rows
    )
    return _document(header, rows)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%MZ")


def content_disposition(report: str, period: Period) -> str:
    """`attachment; filename="{report}-{since}-{until}.csv"`: the report's name and its period, nothing a person
    typed."""
    return f'attachment; filename="{report}-{_stamp(period.since)}-{_stamp(period.until)}.csv"'
