"""The police watch-list: import a CSV, count the entries, list the hits. Police tokens only: every other role,
admin included, gets 403 here, and the hits appear nowhere else in the API.

The CSV is sent as the request body (`Content-Type: text/csv`); see central.people.watchlist_csv for the format and
why a file with a bad row imports nothing. Parsing and hashing run in a worker thread (a million rows take seconds),
the rows go in by batches in one transaction.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select

from central.api.auth import Police
from central.api.context import Context
from central.api.routes_people_common import People
from central.people import watchlist
from central.people.watchlist_csv import Parsed, parse
from central.store.schema import watchlist_hits

router = APIRouter(tags=["watch-list"])
IMPORT_PATH = "/api/watchlist/import"


class ImportOut(BaseModel):
    imported: int
    rows: int
    duplicates: int
    replaced: bool
    entries: int  # on the list after the import


class HitOut(BaseModel):
    id: int
    source: str
    id_number: str
    name: str
    site: str
    service_point: str | None
    reader: str | None
    reason: str
    case_ref: str
    reading_id: int
    dispatch_id: int | None
    seen_at: datetime
    at: datetime


class HitPage(BaseModel):
    hits: list[HitOut]
    next_cursor: str | None


def _refused(parsed: Parsed) -> JSONResponse:
    return JSONResponse(status_code=422, content={
        "detail": f"{parsed.error_count} bad row(s): nothing imported",
        "errors": [{"line": line, "error": error} for line, error in parsed.errors],
        "error_count": parsed.error_count,
    })


@router.post(
    "/watchlist/import",
    response_model=ImportOut,
    responses={409: {"description": "the watch-list is off (no [people] watchlist_key)"},
               413: {"description": "larger than [people] watchlist_max_bytes"},
               422: {"description": "bad rows, listed by line: nothing imported"}},
)
async def import_watchlist(
    request: Request, principal: Police, context: Context, people: People,
    replace: Annotated[bool, Query(description="drop every entry not in this file")] = False,
) -> ImportOut | JSONResponse:
    if people.watchlist_key is None:
        raise HTTPException(409, detail="the watch-list is off: set [people] watchlist_key in central's config")
    body = await request.body()
    if len(body) > people.watchlist_max_bytes:
        raise HTTPException(413, detail=f"request body larger than {people.watchlist_max_bytes} bytes")
    parsed = await asyncio.to_thread(parse, body)
    if parsed.error_count:
        return _refused(parsed)
    if replace and not parsed.entries:
        # A header with no rows is more often an export gone wrong than a decision that nobody is sought any more.
        raise HTTPException(422, detail="the file has no rows: replacing the watch-list with it would empty it")
    key = watchlist.WatchKey(people.watchlist_key)
    now = context.clock.now()
    rows = await asyncio.to_thread(watchlist.hashed_rows, parsed.entries.values(), key=key, by=principal.name, at=now)
    async with context.engine.begin() as connection:
        written = await watchlist.write_rows(connection, rows, replace=replace)
        entries = await watchlist.count(connection)
    context.logger.warning("watch-list: %d entries imported by %s%s (%d on the list)", written, principal.name,
                           ", replacing the list" if replace else "", entries)
    return ImportOut(imported=written, rows=parsed.rows, duplicates=parsed.duplicates, replaced=replace,
                     entries=entries)


@router.get("/watchlist", response_model=dict[str, int])
async def watchlist_size(_principal: Police, context: Context) -> dict[str, int]:
    async with context.engine.connect() as connection:
        return {"entries": await watchlist.count(connection)}


@router.get("/watchlist/hits", response_model=HitPage)
async def hits_list(
    _principal: Police, context: Context,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$", description="next_cursor of the previous page")]
    = None,
) -> HitPage:
    """Newest first."""
    query = select(watchlist_hits).order_by(watchlist_hits.c.id.desc()).limit(limit + 1)
    if cursor is not None:
        query = query.where(watchlist_hits.c.id < int(cursor))
    async with context.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    page = [HitOut.model_validate(row, from_attributes=True) for row in rows[:limit]]
    return HitPage(hits=page, next_cursor=str(page[-1].id) if len(rows) > limit else None)
