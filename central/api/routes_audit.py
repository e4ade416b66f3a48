"""The audit log read back (supervisors and admins): who did what when, between two times, by actor and target,
newest first and paged; the same as a CSV file a spreadsheet opens as it is."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from central.api.auth import Principal, Role, require
from central.api.context import Context
from central.store.audit import AuditEntry, entries

router = APIRouter(tags=["audit"])

AUDIT_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
Supervisor = Annotated[Principal, Depends(require(AUDIT_ROLES))]
MAX_PAGE = 500
MAX_CSV_ROWS = 50_000
MAX_RANGE = timedelta(days=366)
MAX_ID = 2**63 - 1
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str | None
    detail: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None = Field(description="`before` of the next (older) page; null at the oldest")


class AuditQuery(BaseModel):
    since: datetime
    until: datetime
    actor: str | None
    target: str | None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def audit_query(
    context: Context,
    since: Annotated[datetime | None, Query(description="inclusive; default: 24 hours before until")] = None,
    until: Annotated[datetime | None, Query(description="exclusive; default: now")] = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=128, description="who acted, exactly")] = None,
    target: Annotated[str | None, Query(min_length=1, max_length=200, description='e.g. "site:shop-1"')] = None,
) -> AuditQuery:
    end = _utc(until) if until is not None else context.clock.now()
    try:
        start = _utc(since) if since is not None else end - timedelta(days=1)
    except OverflowError:
        raise HTTPException(422, detail="until is too early") from None
    if start >= end:
        raise HTTPException(422, detail="since must be before until")
    if end - start > MAX_RANGE:
        raise HTTPException(422, detail="at most 366 days at a time")
    return AuditQuery(since=start, until=end, actor=actor, target=target)


Wanted = Annotated[AuditQuery, Depends(audit_query)]


def _out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(id=entry.id, at=entry.at, actor=entry.actor, role=entry.role, action=entry.action,
                         target=entry.target, detail=entry.detail)


@router.get("/audit", response_model=AuditPage, responses={403: {"description": "supervisor or admin only"}})
async def audit_log(
    _principal: Supervisor,
    context: Context,
    wanted: Wanted,
    before: Annotated[str | None, Query(pattern=r"^[0-9]{1,19}$", description="next_cursor of the previous page")]
    = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> AuditPage:
    """Entries with since <= at < until, newest first; `actor` and `target` narrow them down."""
    before_id = None if before is None else int(before)
    if before_id is not None and before_id > MAX_ID:
        raise HTTPException(422, detail="not a cursor of the audit log")
    async with context.engine.connect() as connection:
        found = await entries(connection, since=wanted.since, until=wanted.until, actor=wanted.actor,
                              target=wanted.target, before_id=before_id, limit=limit + 1)
    items = [_out(entry) for entry in found[:limit]]
    return AuditPage(items=items, next_cursor=str(items[-1].id) if len(found) > limit else None)


def _cell(value: object) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets an apostrophe first."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def audit_csv(rows: list[AuditEntry]) -> bytes:
    """UTF-8 with a byte-order mark (Excel then reads Chinese), CRLF line ends, one header row."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["id", "at", "actor", "role", "action", "target", "detail"])
    for entry in rows:
        detail = json.dumps(entry.detail, ensure_ascii=False, sort_keys=True, default=str)
        writer.writerow([_cell(value) for value in (entry.id, entry.to_json()["at"], entry.actor, entry.role,
                                                     entry.action, entry.target, detail)])
    return buffer.getvalue().encode("utf-8")


@router.get("/audit.csv", response_class=Response, responses={403: {"description": "supervisor or admin only"},
                                                               200: {"content": {"text/csv": {}}}})
async def audit_log_csv(_principal: Supervisor, context: Context, wanted: Wanted) -> Response:
    """The same entries as a CSV file, newest first (at most 50 000: narrow the period for more)."""
    async with context.engine.connect() as connection:
        found = await entries(connection, since=wanted.since, until=wanted.until, actor=wanted.actor,
                              target=wanted.target, limit=MAX_CSV_ROWS)
    name = f"audit-{wanted.since.strftime('%Y%m%dT%H%M')}-{wanted.until.strftime('%Y%m%dT%H%M')}.csv"
    return Response(audit_csv(found), media_type=CSV_MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
