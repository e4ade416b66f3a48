"""A watch-list hit: recorded for the police and sent to 110 as a silent dispatch.

Silent: nothing goes back to the site, the counter or the door (no command, no answer that differs); the dispatch goes
to the police recipients only, escalated from the start, and carries who was read, where (site, service point,
reader) and when. A person read again at the same site while the dispatch is open folds into it as a repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.dispatch.repository import NewDispatch, raise_dispatch
from central.dispatch.states import EscalationReason
from central.people.watchlist import WatchEntry, WatchKey, find
from central.store.schema import watchlist_hits
from shaobing.clock import format_ts

ALARM_CLASS = "watchlist"
# Dispatches the monitoring centre's staff never see nor touch: that one exists would tell who is sought.
STAFF_HIDDEN_CLASSES = frozenset({ALARM_CLASS})
PRIORITY = 2
ID_READ = "id_read"
REGISTRATION = "registration"


@dataclass(frozen=True, slots=True)
class Sighting:
    """Who was read, where and when."""

    id_number: str
    name: str
    source: str  # ID_READ or REGISTRATION
    site: str
    service_point: str | None
    reader: str | None
    reading_id: int
    seen_at: datetime


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def sighting_of(data: dict[str, Any], *, id_number: str, source: str, site: str, reading_id: int,
                seen_at: datetime) -> Sighting:
    name = data.get("name")
    return Sighting(id_number, name[:64] if isinstance(name, str) else "", source, site,
                    _text(data.get("service_point"), 128), _text(data.get("reader"), 128), reading_id, seen_at)


async def record_hit(
    connection: AsyncConnection, entry: WatchEntry, sighting: Sighting, *, police: list[str], at: datetime
) -> tuple[int, int]:
    """Record the hit and raise (or fold into) its 110 dispatch, in the caller's transaction: (hit id, dispatch id)."""
    hit_id = (await connection.execute(insert(watchlist_hits).values(
        id_hash=entry.id_hash, id_number=sighting.id_number, name=sighting.name, source=sighting.source,
        site=sighting.site, service_point=sighting.service_point, reader=sighting.reader,
        reading_id=sighting.reading_id, reason=entry.reason, case_ref=entry.case_ref, seen_at=sighting.seen_at, at=at,
    ).returning(watchlist_hits.c.id))).scalar_one()
    new = NewDispatch(
        site=sighting.site,
        reading_id=sighting.reading_id,
        alarm_class=ALARM_CLASS,
        zone=entry.id_hash.hex()[:16],  # one open dispatch per person and site, naming nobody
        partition=None,
        priority=PRIORITY,
        recipients=list(police),
        escalate_at=None,
        escalation_reason=EscalationReason.CONFIRMED,
    )
    extra = {"watchlist": {
        "hit_id": int(hit_id), "source": sighting.source, "id_number": sighting.id_number, "name": sighting.name,
        "listed_name": entry.name, "reason": entry.reason, "case_ref": entry.case_ref, "site": sighting.site,
        "service_point": sighting.service_point, "reader": sighting.reader, "seen_at": format_ts(sighting.seen_at),
    }}
    dispatch, _created = await raise_dispatch(connection, new, at=at, actor="rule:watchlist", extra=extra)
    await connection.execute(update(watchlist_hits).where(watchlist_hits.c.id == hit_id)
                             .values(dispatch_id=dispatch.id))
    return int(hit_id), dispatch.id


async def screen(connection: AsyncConnection, key_text: str | None, sighting: Sighting, *, police: list[str],
                 at: datetime) -> int | None:
    """Compare one person with the watch-list (a registration); the dispatch id on a hit, None otherwise."""
    if key_text is None:
        return None
    key = WatchKey(key_text)
    entry = (await find(connection, [key.hash(sighting.id_number)])).get(key.hash(sighting.id_number))
    if entry is None:
        return None
    _hit_id, dispatch_id = await record_hit(connection, entry, sighting, police=police, at=at)
    return dispatch_id
