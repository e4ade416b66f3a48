"""What a share link shows, with no account: the bike's name and plate, its live position, its newest cell report and
the last hour of its track up to the newest fix. Nothing about the owner.

`GET /api/share/{token}` answers the JSON. An unknown token is 404; an expired or revoked one 410 Gone, saying which,
so the police know to ask for a new link rather than wonder whether they typed it wrong. Anything that is not
token-shaped is simply unknown (404), so the answer never depends on how a guess was malformed.

`GET /share/{token}`, the address handed out, is the read-only live page (central/web/static/share/), which reads the
JSON above and says when the link is gone. The page itself is the same file for every token (it is not looked up
here: the page's own call answers 404 or 410); a path that is not token-shaped is 404 at once. Answers are not
cached, not indexed, and the page sends no Referer onwards (the token is in its URL).
"""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import FileResponse

from central.api.context import ApiContext, Context
from central.api.routes_bikes import cell_out, position_out
from central.api.schemas import SharedBikeOut
from central.api.track_export import point_out
from central.exports.track import TrackQuery, read_page
from central.store.owners import get_tracker
from central.store.share_links import find_link
from central.web.pages import STATIC

router = APIRouter(tags=["share"])
page_router = APIRouter(include_in_schema=False)  # a page, not part of the API

RECENT = timedelta(hours=1)
MAX_RECENT_POINTS = 3600  # one a second for an hour
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}
UNKNOWN = "no such link: check that it was copied whole"
SHARE_PAGE = STATIC / "share" / "index.html"


async def _shared(token: str, context: ApiContext, response: Response) -> SharedBikeOut:
    response.headers.update(PRIVATE_HEADERS)
    if not _TOKEN.match(token):
        raise HTTPException(404, detail=UNKNOWN, headers=PRIVATE_HEADERS)
    now = context.clock.now()
    async with context.engine.connect() as connection:
        link = await find_link(connection, token)
        if link is None:
            raise HTTPException(404, detail=UNKNOWN, headers=PRIVATE_HEADERS)
        if link.revoked_at is not None:
            raise HTTPException(410, detail="this link was revoked: ask for a new one", headers=PRIVATE_HEADERS)
        if link.expires_at <= now:
            raise HTTPException(410, detail="this link has expired: ask for a new one", headers=PRIVATE_HEADERS)
        view = await get_tracker(connection, link.imei)
        if view is None:  # the foreign key makes this impossible; answered as unknown all the same
            raise HTTPException(404, detail=UNKNOWN, headers=PRIVATE_HEADERS)
        newest = view.fix_time or now
        end = max(newest, now) + timedelta(microseconds=1)
        start = min(newest, now) - RECENT
        if view.history_from is not None:  # nothing of a previous owner's rides
            start = max(start, min(view.history_from, end))
        recent = TrackQuery(view.imei, start, end)
        points = await read_page(connection, recent, "gps", after=None, limit=MAX_RECENT_POINTS)
    return SharedBikeOut(
        name=view.name,
        plate=view.plate,
        theft_state=view.theft_state,
        expires_at=link.expires_at,
        position=position_out(view, now),
        cell=cell_out(view, now),
        last_seen_at=view.last_seen_at,
        track=[point_out(point, include_filtered=False) for point in points],
    )


_RESPONSES: dict[int | str, dict[str, str]] = {
    404: {"description": "no such link"},
    410: {"description": "the link expired or was revoked"},
}


@router.get("/share/{token}", response_model=SharedBikeOut, responses=_RESPONSES)
async def shared_bike(token: str, context: Context, response: Response) -> SharedBikeOut:
    return await _shared(token, context, response)


@page_router.get("/share/{token}")
async def shared_page(token: str) -> FileResponse:
    """The address handed out: the live page, which asks `/api/share/{token}` for the bike."""
    status = 200 if _TOKEN.match(token) else 404
    return FileResponse(SHARE_PAGE, status_code=status, media_type="text/html; charset=utf-8",
                        headers=PRIVATE_HEADERS)
