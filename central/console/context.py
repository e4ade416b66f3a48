"""What an operator sees when an alarm is opened: the site, the readings around the alarm, the site's recent history,
where it is (a tracker's last fix or the site's own position), a camera snapshot near the alarm, and the action plan
with its marks."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.console.plans import marks_of
from central.console.settings import ConsoleSettings
from central.dispatch.repository import Dispatch, list_dispatches
from central.people.hits import STAFF_HIDDEN_CLASSES
from central.store.schema import readings, trackers
from central.store.sites import Site, get_site
from shaobing.clock import format_ts

AROUND = timedelta(minutes=10)  # readings this long before and after the alarm
AROUND_LIMIT = 60
HISTORY_LIMIT = 10
SNAPSHOT_WINDOW = timedelta(minutes=5)
# A snapshot is shown only as an inline JPEG or PNG: a URL could reach anywhere, and the CSP allows data: images.
_SNAPSHOT = re.compile(r"^data:image/(?:jpeg|png);base64,[A-Za-z0-9+/=]{16,2000000}$")


def _reading_json(row: Any, mask: Any) -> dict[str, Any]:
    return {"id": int(row.id), "seq": int(row.seq), "device": row.device, "kind": row.kind, "ts": format_ts(row.ts),
            "data": mask(dict(row.data or {}))}


async def _readings_around(connection: AsyncConnection, dispatch: Dispatch, mask: Any) -> list[dict[str, Any]]:
    query = (select(readings.c.id, readings.c.seq, readings.c.device, readings.c.kind, readings.c.ts, readings.c.data)
             .where(readings.c.site == dispatch.site, readings.c.ts >= dispatch.raised_at - AROUND,
                    readings.c.ts <= dispatch.raised_at + AROUND, readings.c.kind != "position")
             .order_by(readings.c.ts.desc()).limit(AROUND_LIMIT))
    return [_reading_json(row, mask) for row in (await connection.execute(query)).all()]


async def _snapshot(connection: AsyncConnection, dispatch: Dispatch) -> dict[str, Any] | None:
    query = (select(readings.c.device, readings.c.ts, readings.c.data)
             .where(readings.c.site == dispatch.site, readings.c.kind == "motion",
                    readings.c.ts >= dispatch.raised_at - SNAPSHOT_WINDOW,
                    readings.c.ts <= dispatch.raised_at + SNAPSHOT_WINDOW)
             .order_by(readings.c.ts.desc()).limit(20))
    for row in (await connection.execute(query)).all():
        image = (row.data or {}).get("snapshot")
        if isinstance(image, str) and _SNAPSHOT.match(image):
            return {"camera": (row.data or {}).get("camera") or row.device, "ts": format_ts(row.ts), "image": image}
    return None


def _site_json(site: Site | None) -> dict[str, Any] | None:
    if site is None:
        return None
    return {"id": site.id, "name": site.name, "kind": site.kind, "online": site.online, "armed": site.armed,
            "area": site.area, "address": site.address, "lat": site.lat, "lon": site.lon,
            "last_reading_at": None if site.last_reading_at is None else format_ts(site.last_reading_at)}


async def _position(connection: AsyncConnection, dispatch: Dispatch, site: dict[str, Any] | None,
                    ) -> dict[str, Any] | None:
    """A tracker's alarm (its zone is the IMEI): the bike's newest fix; otherwise the site's own position."""
    if dispatch.zone:
        row = (await connection.execute(
            select(trackers.c.lat, trackers.c.lon, trackers.c.fix_time, trackers.c.speed_kmh, trackers.c.name,
                   trackers.c.plate).where(trackers.c.imei == dispatch.zone))).first()
        if row is not None and row.lat is not None and row.lon is not None:
            return {"source": "tracker", "lat": row.lat, "lon": row.lon, "fix_time": format_ts(row.fix_time),
                    "speed_kmh": row.speed_kmh, "label": " ".join(p for p in (row.name, row.plate) if p) or None}
    if site is not None and site["lat"] is not None and site["lon"] is not None:
        return {"source": "site", "lat": site["lat"], "lon": site["lon"], "fix_time": None, "speed_kmh": None,
                "label": site["name"] or site["id"]}
    return None


async def alarm_context(connection: AsyncConnection, dispatch: Dispatch, settings: ConsoleSettings, *,
                        mask: Any) -> dict[str, Any]:
    site = _site_json(await get_site(connection, dispatch.site))
    reading_row = (await connection.execute(
        select(readings.c.id, readings.c.seq, readings.c.device, readings.c.kind, readings.c.ts, readings.c.data)
        .where(readings.c.id == dispatch.reading_id))).first()
    history = [d for d in await list_dispatches(connection, site=dispatch.site, limit=HISTORY_LIMIT + 1,
                                                hidden_classes=STAFF_HIDDEN_CLASSES, newest_first=True)
               if d.id != dispatch.id][:HISTORY_LIMIT]
    plan = settings.plan_for(dispatch.alarm_class)
    marks = await marks_of(connection, dispatch.id)
    return {
        "dispatch": dispatch.to_json(),
        "site": site,
        "reading": None if reading_row is None else _reading_json(reading_row, mask),
        "around": await _readings_around(connection, dispatch, mask),
        "history": [d.to_json() for d in history],
        "position": await _position(connection, dispatch, site),
        "snapshot": await _snapshot(connection, dispatch),
        "plan": None if plan is None else {
            "steps": [{"key": step.key, "text": step.text, "text_en": step.text_en,
                       "mark": marks[step.key].to_json() if step.key in marks else None} for step in plan.steps],
            "calls": [call.model_dump() for call in plan.calls],
        },
        "ack_sla_s": settings.ack_sla(dispatch.priority),
    }
