"""False alarms by site: of the dispatches raised in the period and resolved since, how many were false.

rate = false / resolved (null when none resolved); `raised` counts every dispatch raised in the period, open or not,
so a site whose alarms are left open shows it. Sites sorted by rate, then by false count, highest first: the sites
whose panels or users need a visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.dispatch.states import Outcome, State
from central.reports.period import Period
from central.reports.response_times import in_period
from central.store.schema import dispatches, sites


@dataclass(frozen=True, slots=True)
class SiteFalseAlarms:
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

    @property
    def rate(self) -> float | None:
        return None if self.resolved == 0 else round(self.false / self.resolved, 4)

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "name": self.name,
            "area": self.area,
            "raised": self.raised,
            "resolved": self.resolved,
            "false": self.false,
            "real": self.real,
            "cancelled_by_user": self.cancelled_by_user,
            "test": self.test,
            "unknown": self.unknown,
            "false_rate": self.rate,
        }


def _count_where(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def false_alarms_by_site(
    connection: AsyncConnection, report: Period, *, hidden_classes: frozenset[str] = frozenset()
) -> list[SiteFalseAlarms]:
    resolved = dispatches.c.state == State.RESOLVED.value
    outcomes = {outcome: _count_where(resolved & (dispatches.c.outcome == outcome.value)) for outcome in Outcome}
    query = (
        select(
            dispatches.c.site,
            func.max(sites.c.name).label("name"),
            func.max(sites.c.area).label("area"),
            func.count().label("raised"),
            _count_where(resolved).label("resolved"),
            *(count.label(outcome.value) for outcome, count in outcomes.items()),
        )
        .select_from(dispatches.outerjoin(sites, sites.c.id == dispatches.c.site))
        .where(in_period(report, hidden_classes))
        .group_by(dispatches.c.site)
    )
    rows = (await connection.execute(query)).all()
    result = [
        SiteFalseAlarms(
            site=row.site,
            name=row.name or None,
            area=(row.area or "").strip() or None,
            raised=int(row.raised),
            resolved=int(row.resolved),
            false=int(row.false),
            real=int(row.real),
            cancelled_by_user=int(row.cancelled_by_user),
            test=int(row.test),
            unknown=int(row.unknown),
        )
        for row in rows
    ]
    result.sort(key=lambda entry: (-(entry.rate or 0.0), -entry.false, entry.site))
    return result
