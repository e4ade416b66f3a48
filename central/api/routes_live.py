"""Server-sent events: the dispatch queue, live, for the console (`text/event-stream`).

The stream opens with `snapshot` (the open dispatches, highest priority first, then oldest), then one `change` per
dispatch transition as it is committed, and `resync` when the console fell behind (it loads the snapshot again by
reconnecting). A comment line every `HEARTBEAT_S` keeps proxies and the browser from closing an idle stream.
Authenticated like every route (a bearer header: the console reads the stream with fetch, not EventSource).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from central.api.auth import Reader
from central.api.context import Context
from central.console.live import RESYNC, Change, LiveFeed
from central.dispatch.repository import list_dispatches
from central.people.hits import STAFF_HIDDEN_CLASSES

router = APIRouter(tags=["console"])

HEARTBEAT_S = 15.0
SNAPSHOT_LIMIT = 1000
READY_WITHIN_S = 30.0


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


@router.get("/live/dispatches", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "snapshot, then changes"}})
async def live_dispatches(_principal: Reader, context: Context, request: Request) -> StreamingResponse:
    feed: LiveFeed = request.app.state.live
    subscription = feed.subscribe()  # before the snapshot: nothing committed in between is missed

    async def stream() -> AsyncIterator[bytes]:
        try:
            async with asyncio.timeout(READY_WITHIN_S):
                await feed.ready.wait()  # the feed's cursor first, then the snapshot: nothing falls in between
            async with context.engine.connect() as connection:
                queue = await list_dispatches(connection, open_only=True, limit=SNAPSHOT_LIMIT,
                                              hidden_classes=STAFF_HIDDEN_CLASSES)
            yield _event("snapshot", {"dispatches": [dispatch.to_json() for dispatch in queue],
                                      "now": context.clock.now().isoformat()})
            while True:
                item: Change | object
                try:
                    async with asyncio.timeout(HEARTBEAT_S):
                        item = await subscription.queue.get()
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if item is RESYNC:
                    yield _event("resync", {})
                    return
                assert isinstance(item, Change)
                yield _event("change", item.to_json())
        finally:
            subscription.close()

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
