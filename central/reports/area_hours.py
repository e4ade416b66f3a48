"""Alarms by patrol area and local hour of day: where and when patrols are needed.

A grid of counts of the dispatches raised in the period (a repeat folded into an open dispatch is not counted
again), one row per area (`sites.area`; a site without one, or a dispatch of a site central has no profile of, under
"unassigned"), one column per hour 0-23 on the report zone's clock. Each cell gets a warning level, red the highest:

- relative (the default): against the busiest cell of the grid, red at 75 % of it or more, orange at 50 %, yellow
  at 25 %, blue below (rounded up to whole alarms, at least 1; an empty cell is always blue). It ranks the cells of
  one report against each other, so the busiest cell of a quiet week is red too.
- absolute: the caller names the counts (red >= orange >= yellow >= 1) for comparing periods of the same length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.reports.localtime import local_hour
from central.reports.period import Period
from central.reports.response_times import in_period
from central.store.schema import dispatches, sites

HOURS = tuple(range(24))
UNASSIGNED = "unassigned"
RELATIVE_SHARES = {"red": 0.75, "orange": 0.5, "yellow": 0.25}


class Level(StrEnum):
    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    BLUE = "blue"


class ThresholdError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The lowest count of each level above blue."""

    mode: str  # "relative" or "absolute"
    red: int
    orange: int
    yellow: int

    def level(self, count: int) -> Level:
        if count <= 0:
            return Level.BLUE
        if count >= self.red:
            return Level.RED
        if count >= self.orange:
            return Level.ORANGE
        if count >= self.yellow:
            return Level.YELLOW
        return Level.BLUE

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "red": self.red, "orange": self.orange, "yellow": self.yellow}


def relative_thresholds(busiest: int) -> Thresholds:
    def at(share: float) -> int:
        return max(1, math.ceil(share * busiest))

    shares = RELATIVE_SHARES
    return Thresholds("relative", at(shares["red"]), at(shares["orange"]), at(shares["yellow"]))


def absolute_thresholds(red: int, orange: int, yellow: int) -> Thresholds:
    if not red >= orange >= yellow >= 1:
        raise ThresholdError("the levels need red >= orange >= yellow >= 1")
    return Thresholds("absolute", red, orange, yellow)


@dataclass(frozen=True, slots=True)
class AreaRow:
    area: str | None  # None: unassigned
    counts: tuple[int, ...]  # one per hour

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True, slots=True)
class AreaHourGrid:
    rows: list[AreaRow]
    thresholds: Thresholds

    @property
    def busiest(self) -> int:
        return max((count for row in self.rows for count in row.counts), default=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "hours": list(HOURS),
            "levels": self.thresholds.to_json(),
            "busiest": self.busiest,
            "total": sum(row.total for row in self.rows),
            "rows": [
                {
                    "area": row.area,
                    "total": row.total,
                    "cells": [
                        {"hour": hour, "count": count, "level": self.thresholds.level(count).value}
                        for hour, count in zip(HOURS, row.counts, strict=True)
                    ],
                }
                for row in self.rows
            ],
        }


async def alarms_by_area_hour(
    connection: AsyncConnection,
    report: Period,
    *,
    absolute: Thresholds | None = None,
    hidden_classes: frozenset[str] = frozenset(),
) -> AreaHourGrid:
    """The grid, busiest area first and "unassigned" last; levels from `absolute` when given, else relative."""
    area = func.nullif(func.trim(func.coalesce(sites.c.area, "")), "")
    hours = (
        select(area.label("area"), local_hour(dispatches.c.raised_at, report, connection.dialect.name).label("hour"))
        .select_from(dispatches.outerjoin(sites, sites.c.id == dispatches.c.site))
        .where(in_period(report, hidden_classes))
        .subquery("hours")
    )
    query = select(hours.c.area, hours.c.hour, func.count().label("n")).group_by(hours.c.area, hours.c.hour)
    counts: dict[str | None, list[int]] = {}
    for row in (await connection.execute(query)).all():
        counts.setdefault(row.area, [0] * len(HOURS))[int(row.hour)] += int(row.n)
    rows = [AreaRow(name, tuple(values)) for name, values in counts.items()]
    rows.sort(key=lambda row: (row.area is None, -row.total, row.area or ""))
    grid = AreaHourGrid(rows, absolute or Thresholds("relative", 1, 1, 1))
    return grid if absolute else AreaHourGrid(rows, relative_thresholds(grid.busiest))
