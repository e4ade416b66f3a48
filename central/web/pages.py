"""Serving the pages: static HTML, CSS and JavaScript from `central/web/static`, no build step.

The pages are plain HTML with small ES modules that call the JSON API (`/api`), as the API's own clients do: nothing
is rendered twice, the pages need no Node.js toolchain to build or run, and a page weighs tens of kilobytes. Page
addresses carry no personal data (a bike is chosen on the page, not named in its address).

`/console/{page}` serves `static/console/{page}.html`, `/my/{page}` `static/owner/{page}.html` (the owners' pages),
`/share/{token}` the police's read-only page; `/static/...` the assets. Every page gets a strict Content-Security-
Policy (scripts and connections only from central itself; images also from the configured tile server).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from central.console.settings import ConsoleSettings

STATIC = Path(__file__).parent / "static"
_PAGE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
SECTIONS = {"console": STATIC / "console", "my": STATIC / "owner"}

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["web"])


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC)


def _page(section: str, page: str) -> FileResponse:
    if not _PAGE.match(page):
        raise HTTPException(404, detail="no such page")
    path = SECTIONS[section] / f"{page}.html"
    if not path.is_file():
        raise HTTPException(404, detail="no such page")
    return FileResponse(path, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)


@router.get("/console/")
async def console_index() -> FileResponse:
    return _page("console", "index")


@router.get("/console/{page}")
async def console_page(page: str) -> FileResponse:
    return _page("console", page)


@router.get("/my/")
async def owner_index() -> FileResponse:
    return _page("my", "index")


@router.get("/my/{page}")
async def owner_page(page: str) -> FileResponse:
    return _page("my", page)


class WebConfig(BaseModel):
    default_language: str
    tile_url: str
    tile_attribution: str
    tile_max_zoom: int
    ack_sla_s: dict[str, float]
    ack_sla_default_s: float


@api_router.get("/web/config", response_model=WebConfig)
async def web_config(request: Request) -> WebConfig:
    """What the pages need before anyone logs in: the language, the map tiles, the queue's acknowledgement targets."""
    settings: ConsoleSettings = request.app.state.console
    return WebConfig(default_language=settings.default_language, tile_url=settings.tiles.url,
                     tile_attribution=settings.tiles.attribution, tile_max_zoom=settings.tiles.max_zoom,
                     ack_sla_s=dict(settings.ack_sla_s), ack_sla_default_s=settings.ack_sla_default_s)


def content_security_policy(settings: ConsoleSettings) -> str:
    tiles = ""
    if settings.tiles.url:
        parts = urlsplit(settings.tiles.url.replace("{s}", "a"))
        host = parts.netloc.replace("a.", "*.", 1) if "{s}" in settings.tiles.url else parts.netloc
        tiles = f" {parts.scheme}://{host}"
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data: blob:{tiles}; connect-src 'self'; media-src 'self' data:; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


class PageHeaders:
    """Security headers on every answer: CSP, no framing, no referrer (share links carry their token in the
    address), no MIME sniffing."""

    def __init__(self, app: ASGIApp, policy: str) -> None:
        self._app = app
        self._headers = [
            (b"content-security-policy", policy.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in self._headers if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, send_with_headers)
