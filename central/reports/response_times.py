"""Response times by local day: for each step (acknowledged, guard_assigned, on_scene, resolved, escalated) the
seconds from raised, over the dispatches raised that day: count, mean and p90.

One query: the step durations as rows (one SELECT per step, UNION ALL), ranked per (step, day) with window
functions, then grouped; p90 is the value at rank ceil(0.9 n) of the sorted durations, as
`central.dispatch.repository.response_times` takes it. A second query counts the dispatches raised each day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Integer, and_, case, func, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from central.dispatch.repository import STEPS
from central.reports.localtime import day_from_number, epoch_seconds, local_day_number
from central.reports.period import Period
from central.store.schema import dispatches

STEP_COLUMNS = {
    "acknowledged": dispatches.c.acknowledged_at,
    "guard_assigned": dispatches.c.guard_assigned_at,
    "on_scene": dispatches.c.on_scene_at,
    "resolved": dispatches.c.resolved_at,
    "escalated": dispatches.c.escalated_at,
}
assert tuple(STEP_COLUMNS) == STEPS


@dataclass(frozen=True, slots=True)
class StepStats:
    count: int
    mean_s: float | None
    p90_s: float | None

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "mean_s": self.mean_s, "p90_s": self.p90_s}


@dataclass(frozen=True, slots=True)
class DayTimes:
    day: date
    dispatches: int
    steps: dict[str, StepStats]

    def to_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "dispatches": self.dispatches,
            "steps": {step: stats.to_json() for step, stats in self.steps.items()},
        }


EMPTY = StepStats(0, None, None)


def in_period(report: Period, hidden_classes: frozenset[str]) -> ColumnElement[bool]:
    """Dispatches raised in the period, the hidden classes left out."""
    condition = and_(dispatches.c.raised_at >= report.since, dispatches.c.raised_at < report.until)
    if hidden_classes:
        condition = and_(condition, dispatches.c.alarm_class.not_in(sorted(hidden_classes)))
    return condition


async def response_times_by_day(
    connection: AsyncConnection, report: Period, *, hidden_classes: frozenset[str] = frozenset()
) -> list[DayTimes]:
    """One entry per local day of the period (days without dispatches too), oldest first."""
    dialect = connection.dialect.name
    day = local_day_number(dispatches.c.raised_at, report, dialect)
    raised = epoch_seconds(dispatches.c.raised_at, dialect)
    durations = union_all(*(
        select(
            literal_column(str(index), Integer).label("step"),
            day.label("day"),
            (epoch_seconds(column, dialect) - raised).label("seconds"),
        ).where(in_period(report, hidden_classes), column.is_not(None))
        for index, column in enumerate(STEP_COLUMNS.values())
    )).subquery("durations")
    ranked = select(
        durations.c.step,
        durations.c.day,
        durations.c.seconds,
        func.row_number().over(partition_by=(durations.c.step, durations.c.day), order_by=durations.c.seconds)
        .label("rank"),
        func.count().over(partition_by=(durations.c.step, durations.c.day)).label("n"),
    ).subquery("ranked")
    p90_rank = (ranked.c.n * 9 + 9) // 10  # ceil(0.9 n) in integers
    statistics = select(
        ranked.c.step,
        ranked.c.day,
        func.count().label("values"),
        func.avg(ranked.c.seconds).label("mean"),
        func.max(case((ranked.c.rank == p90_rank, ranked.c.seconds))).label("p90"),
    ).group_by(ranked.c.step, ranked.c.day)
    per_day: dict[date, dict[str, StepStats]] = {}
    for row in (await connection.execute(statistics)).all():
        steps = per_day.setdefault(day_from_number(row.day), {})
        steps[STEPS[row.step]] = StepStats(int(row.values), _seconds(row.mean), _seconds(row.p90))

    # Grouped over a subquery: PostgreSQL does not see two copies of an expression with parameters as the same.
    raised_days = select(day.label("day")).where(in_period(report, hidden_classes)).subquery("raised_days")
    counts = select(raised_days.c.day, func.count().label("n")).group_by(raised_days.c.day)
    raised_per_day = {day_from_number(row.day): int(row.n) for row in (await connection.execute(counts)).all()}
    return [
        DayTimes(
            day=local_day,
            dispatches=raised_per_day.get(local_day, 0),
            steps={step: per_day.get(local_day, {}).get(step, EMPTY) for step in STEPS},
        )
        for local_day in report.local_days()
    ]


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)

