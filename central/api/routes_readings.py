"""Readings as stored, newest first, with keyset pagination (stable while new readings keep arriving)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from central.api.auth import PERSONAL_DATA_ROLES, Reader
from central.api.context import Context
from central.api.schemas import SITE_PATTERN, ReadingOut, ReadingPage
from central.store.schema import readings
from shaobing.envelope import Kind

router = APIRouter(tags=["readings"])

PERSONAL_FIELDS = ("id_number", "name", "address", "birth_date", "name_en", "pass_number")
WITHHELD_FIELDS = ("photo_wlt",)  # the face photo: nothing of it below supervisor


def _mask(value: Any) -> Any:
    """Keep enough to tell records apart (the region and the last four of an ID number), hide the rest."""
    if not isinstance(value, str) or not value:
        return value
    if len(value) == 18:
        return value[:6] + "*" * 8 + value[-4:]
    return value[:1] + "*" * (len(value) - 1)


def masked(data: dict[str, Any]) -> dict[str, Any]:
    return {key: None if key in WITHHELD_FIELDS else _mask(value) if key in PERSONAL_FIELDS else value
            for key, value in data.items()}


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@router.get("/readings", response_model=ReadingPage)
async def readings_list(
    principal: Reader,
    context: Context,
    site: Annotated[str | None, Query(pattern=SITE_PATTERN)] = None,
    kind: Kind | None = None,
    since: Annotated[datetime | None, Query(description="readings with ts >= since")] = None,
    until: Annotated[datetime | None, Query(description="readings with ts < until")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,19}$", description="next_cursor of the previous page")
    ] = None,
) -> ReadingPage:
    query = select(readings)
    if site is not None:
        query = query.where(readings.c.site == site)
    if kind is not None:
        query = query.where(readings.c.kind == kind.value)
    if (start := _utc(since)) is not None:
        query = query.where(readings.c.ts >= start)
    if (end := _utc(until)) is not None:
        query = query.where(readings.c.ts < end)
    if cursor is not None:
        query = query.where(readings.c.id < int(cursor))
    query = query.order_by(readings.c.id.desc()).limit(limit + 1)
    async with context.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    unmasked = principal.role in PERSONAL_DATA_ROLES
    items = [
        ReadingOut(
            id=row.id,
            site=row.site,
            seq=row.seq,
            device=row.device,
            kind=row.kind,
            priority=row.priority,
            ts=row.ts,
            rx=row.rx,
            stored_at=row.stored_at,
            data=row.data if unmasked else masked(row.data),
        )
        for row in rows[:limit]
    ]
    next_cursor = str(items[-1].id) if len(rows) > limit else None
    return ReadingPage(items=items, next_cursor=next_cursor)
