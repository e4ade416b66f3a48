"""Response-time report: seconds from raised to each step, mean and p90, over dispatches raised in a period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from central.api.auth import Reader
from central.api.context import Context
from central.api.schemas import ResponseTimes
from central.dispatch.repository import response_times
from central.people.hits import STAFF_HIDDEN_CLASSES

router = APIRouter(tags=["reports"])


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
