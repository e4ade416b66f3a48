"""Reports. Response times over a period (any staff role), and for supervisors and admins the monitoring centre's
reports (central.reports, docs/reports.md): response times by local day, false alarms by site, alarms by area and
hour of day; each as JSON and as a CSV download. Watch-list dispatches are never counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from central.api.auth import Principal, Reader, Role, require
from central.api.context import Context
from central.api.schemas import ResponseTimes
from central.dispatch.repository import response_times
from central.people.hits import STAFF_HIDDEN_CLASSES
from central.reports import csv_files
from central.reports.area_hours import (
    AreaHourGrid,
    ThresholdError,
    Thresholds,
    absolute_thresholds,
    alarms_by_area_hour,
)
from central.reports.false_alarms import SiteFalseAlarms, false_alarms_by_site
from central.reports.period import DEFAULT_ZONE, Period, PeriodError, period
from central.reports.response_times import DayTimes, response_times_by_day
from central.reports.schemas import AreaHours, DailyResponseTimes, FalseAlarms

router = APIRouter(tags=["reports"])

# Who reads the centre's reports: they plan patrols and review the operators' work.
REPORT_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
Supervisor = Annotated[Principal, Depends(require(REPORT_ROLES))]
MAX_LEVEL_COUNT = 1_000_000


@router.get("/reports/response-times", response_model=ResponseTimes)
async def response_times_report(
    _principal: Reader,
    context: Context,
    since: Annotated[datetime | None, Query(description="default: 24 hours before until")] = None,
    until: Annotated[datetime | None, Query(description="default: now")] = None,
) -> ResponseTimes:
    end = until or context.clock.now()
    end = end.replace(tzinfo=UTC) if end.tzinfo is None else end
    start = since or end - timedelta(days=1)
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start
    if start >= end:
        raise HTTPException(422, detail="since must be before until")
    async with context.engine.connect() as connection:
        summary = await response_times(connection, since=start, until=end, hidden_classes=STAFF_HIDDEN_CLASSES)
    return ResponseTimes.model_validate(summary)


async def report_period(
    context: Context,
    since: Annotated[
        datetime | None, Query(description="inclusive; without an offset a time in tz; default: 7 days before until")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="exclusive; without an offset a time in tz; default: now")
    ] = None,
    tz: Annotated[str, Query(max_length=64, description="IANA time zone of its days and hours")] = DEFAULT_ZONE,
) -> Period:
    try:
        return period(since, until, zone_name=tz, now=context.clock.now())
    except PeriodError as exc:
        raise HTTPException(422, detail=str(exc)) from exc


ReportPeriod = Annotated[Period, Depends(report_period)]


def _period_json(report: Period) -> dict[str, object]:
    return {"since": report.since, "until": report.until, "tz": report.zone_name}


def _csv(content: bytes, name: str, report: Period) -> Response:
    return Response(
        content,
        media_type=csv_files.MEDIA_TYPE,
        headers={"Content-Disposition": csv_files.content_disposition(name, report), "Cache-Control": "no-store"},
    )


async def _daily(context: Context, report: Period) -> list[DayTimes]:
    async with context.engine.connect() as connection:
        return await response_times_by_day(connection, report, hidden_classes=STAFF_HIDDEN_CLASSES)


@router.get("/reports/daily-response-times", response_model=DailyResponseTimes)
async def daily_response_times(_principal: Supervisor, context: Context, report: ReportPeriod) -> DailyResponseTimes:
    """Per local day: seconds from raised to each step (count, mean, p90) over the dispatches raised that day."""
    days = await _daily(context, report)
    return DailyResponseTimes.model_validate({**_period_json(report), "days": [day.to_json() for day in days]})


@router.get("/reports/daily-response-times.csv", response_class=Response)
async def daily_response_times_csv(_principal: Supervisor, context: Context, report: ReportPeriod) -> Response:
    return _csv(csv_files.response_times_csv(await _daily(context, report)), "response-times", report)


async def _false_alarms(context: Context, report: Period) -> list[SiteFalseAlarms]:
    async with context.engine.connect() as connection:
        return await false_alarms_by_site(connection, report, hidden_classes=STAFF_HIDDEN_CLASSES)


@router.get("/reports/false-alarms", response_model=FalseAlarms)
async def false_alarms(_principal: Supervisor, context: Context, report: ReportPeriod) -> FalseAlarms:
    """Per site, over the dispatches raised in the period: how many were resolved, and as which outcome."""
    entries = await _false_alarms(context, report)
    return FalseAlarms.model_validate({**_period_json(report), "sites": [entry.to_json() for entry in entries]})


@router.get("/reports/false-alarms.csv", response_class=Response)
async def false_alarms_csv(_principal: Supervisor, context: Context, report: ReportPeriod) -> Response:
    return _csv(csv_files.false_alarms_csv(await _false_alarms(context, report)), "false-alarms", report)


def levels(
    red: Annotated[int | None, Query(ge=1, le=MAX_LEVEL_COUNT, description="absolute levels: the lowest red count")]
    = None,
    orange: Annotated[int | None, Query(ge=1, le=MAX_LEVEL_COUNT)] = None,
    yellow: Annotated[int | None, Query(ge=1, le=MAX_LEVEL_COUNT)] = None,
) -> Thresholds | None:
    """Absolute levels when all three counts are given, relative ones when none is."""
    given = [value for value in (red, orange, yellow) if value is not None]
    if not given:
        return None
    if red is None or orange is None or yellow is None:
        raise HTTPException(422, detail="give all three of red, orange and yellow, or none for relative levels")
    try:
        return absolute_thresholds(red, orange, yellow)
    except ThresholdError as exc:
        raise HTTPException(422, detail=str(exc)) from exc


Levels = Annotated[Thresholds | None, Depends(levels)]


async def _grid(context: Context, report: Period, absolute: Thresholds | None) -> AreaHourGrid:
    async with context.engine.connect() as connection:
        return await alarms_by_area_hour(connection, report, absolute=absolute, hidden_classes=STAFF_HIDDEN_CLASSES)


@router.get("/reports/area-hours", response_model=AreaHours)
async def area_hours(_principal: Supervisor, context: Context, report: ReportPeriod, absolute: Levels) -> AreaHours:
    """Dispatches raised per patrol area and local hour of day, each cell with its warning level."""
    grid = await _grid(context, report, absolute)
    return AreaHours.model_validate({**_period_json(report), **grid.to_json()})


@router.get("/reports/area-hours.csv", response_class=Response)
async def area_hours_csv(_principal: Supervisor, context: Context, report: ReportPeriod, absolute: Levels) -> Response:
    return _csv(csv_files.area_hours_csv(await _grid(context, report, absolute)), "area-hours", report)
