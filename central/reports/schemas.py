"""The reports' JSON answers, as the OpenAPI document shows them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from central.api.schemas import StepSummary


class ReportPeriod(BaseModel):
    since: datetime
    until: datetime
    tz: str = Field(description="the IANA time zone whose days and hours the report counts in")


class DayResponseTimes(BaseModel):
    day: date
    dispatches: int = Field(description="dispatches raised that local day")
    steps: dict[str, StepSummary]


class DailyResponseTimes(ReportPeriod):
    days: list[DayResponseTimes]


class SiteFalseAlarmsOut(BaseModel):
    site: str
    name: str | None
    area: str | None
    raised: int
    resolved: int
    false: int
    real: int
    cancelled_by_user: int
    test: int
    unknown: int
    false_rate: float | None = Field(description="false / resolved; null when none was resolved")


class FalseAlarms(ReportPeriod):
    sites: list[SiteFalseAlarmsOut]


class Levels(BaseModel):
    mode: Literal["relative", "absolute"]
    red: int
    orange: int
    yellow: int


class Cell(BaseModel):
    hour: int
    count: int
    level: Literal["red", "orange", "yellow", "blue"]


class AreaRowOut(BaseModel):
    area: str | None = Field(description="null: sites without an area")
    total: int
    cells: list[Cell]


class AreaHours(ReportPeriod):
    hours: list[int]
    levels: Levels
    busiest: int
    total: int
    rows: list[AreaRowOut]
