"""What people do to a bike through the API: arm it, disarm it, confirm its theft. Each runs in the caller's
transaction and locks the tracker row first, so it waits for an ingest batch touching the same bike (and the batch
for it): arming never races the theft rule.

- Arming anchors the theft rule at the current fix when it is fresh (`anchor_max_age_s`), else at the next counting
  fix, and resets the count. Arming an armed bike changes nothing (an ongoing theft is not forgotten by a double tap).
- Disarming ends the episode: the rule's state and `theft_state` are cleared; an open theft dispatch stays for the
  operators to resolve.
- Confirming a theft (the owner, or an operator) sends it to 110 at once with the police's live link and the bike's
  last position: the bike's open theft dispatch is escalated (reason "confirmed"), or when none is open (the bike was
  not armed, or the dispatch was resolved) a theft dispatch is raised already escalated, hanging on the bike's
  newest position reading. The owner is told. `theft_state` becomes "confirmed".

Who gets the dispatch comes from the policy attached to the engine (central.trackers.policy).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.dispatch.repository import Dispatch, apply_action, get
from central.dispatch.states import OPEN_STATES, Action, ActionRequest
from central.store.schema import dispatches, positions, readings, trackers
from central.trackers import notify, theft
from central.trackers.dispatching import raise_theft, theft_dispatch
from central.trackers.filters import Fix
from central.trackers.policy import policy_of, settings_of
from central.trackers.rows import watch_of
from central.trackers.webhooks import THEFT_CLASS, tracker_details

CONFIRMED = "confirmed"


class TrackerNotFound(LookupError):
    def __init__(self, imei: str) -> None:
        super().__init__(f"no tracker {imei}")
        self.imei = imei


class NoPositionYet(LookupError):
    """The tracker never sent a position: there is no reading to hang a dispatch on, nothing to show the police."""

    def __init__(self, imei: str) -> None:
        super().__init__(f"tracker {imei} has sent no position yet")
        self.imei = imei


async def _locked(connection: AsyncConnection, imei: str) -> Any:
    row = (await connection.execute(select(trackers).where(trackers.c.imei == imei).with_for_update())).first()
    if row is None:
        raise TrackerNotFound(imei)
    return row


def _current_fix(row: Any) -> Fix | None:
    if row.fix_time is None or row.lat is None or row.lon is None:
        return None
    return Fix(row.fix_time, row.lat, row.lon)


async def set_armed(connection: AsyncConnection, imei: str, *, armed: bool, actor: str, now: datetime) -> None:
    """Arm or disarm a bike. Raises TrackerNotFound."""
    row = await _locked(connection, imei)
    if armed and row.armed:
        return
    if armed:
        watch = theft.arm(watch_of(row), now=now, current=_current_fix(row), settings=settings_of(connection))
        values: dict[str, Any] = {"armed": True, "armed_at": now, "armed_by": actor}
    else:
        watch = theft.Watch(armed=False, armed_at=None, theft_state=None)
        values = {"armed": False, "armed_at": None, "armed_by": None, "theft_at": None}
    values |= {
        "theft_state": watch.theft_state,
        "anchor_lat": watch.anchor_lat,
        "anchor_lon": watch.anchor_lon,
        "anchor_time": watch.anchor_time,
        "anchor_fixes": watch.anchor_fixes,
        "moving_fixes": watch.moving_fixes,
        "counted_fix_time": watch.counted_fix_time,
        "updated_at": now,
    }
    await connection.execute(update(trackers).where(trackers.c.imei == imei).values(**values))


async def _open_theft_dispatch(connection: AsyncConnection, imei: str, known_id: int | None) -> Dispatch | None:
    open_states = [state.value for state in OPEN_STATES]
    if known_id is not None:
        known = await get(connection, known_id)
        if known is not None and known.state in OPEN_STATES:
            return known
    found = (
        await connection.execute(
            select(dispatches.c.id)
            .where(dispatches.c.alarm_class == THEFT_CLASS, dispatches.c.zone == imei,
                   dispatches.c.state.in_(open_states))
            .order_by(dispatches.c.id.desc())
            .limit(1)
        )
    ).scalar()
    return None if found is None else await get(connection, int(found))


async def _newest_position_reading(connection: AsyncConnection, row: Any) -> tuple[int, str] | None:
    """The reading of the bike's current position, else of its newest position of any kind: (reading id, site)."""
    query = select(positions.c.site, positions.c.seq).where(positions.c.imei == row.imei)
    if row.position_id is not None:
        query = query.where(positions.c.id == row.position_id)
    else:
        query = query.order_by(positions.c.fix_time.desc(), positions.c.id.desc()).limit(1)
    found = (await connection.execute(query)).first()
    if found is None:
        return None
    reading_id = (
        await connection.execute(
            select(readings.c.id).where(readings.c.site == found.site, readings.c.seq == found.seq)
        )
    ).scalar()
    return None if reading_id is None else (int(reading_id), found.site)


async def _confirm(
    connection: AsyncConnection,
    dispatch: Dispatch,
    details: dict[str, Any],
    *,
    actor: str,
    police: Sequence[str],
    now: datetime,
) -> Dispatch:
    """Escalate an open theft dispatch as confirmed (or, if it went to 110 already, tell everyone again), with the
    live link in what the recipients, 110 among them, receive."""
    request = ActionRequest(Action.CONFIRM, note="theft confirmed; live link attached")
    return await apply_action(
        connection, dispatch.id, request, actor=actor, at=now, police=police, extra={"tracker": details}
    )


async def confirm_theft(
    connection: AsyncConnection, imei: str, *, actor: str, live_link: str, now: datetime
) -> Dispatch:
    """The theft is real: to 110 at once with `live_link` and the last position. Raises TrackerNotFound and
    NoPositionYet (and the dispatch repository's DispatchConflict when an operator changed it meanwhile)."""
    policy = policy_of(connection)
    row = await _locked(connection, imei)
    position = _current_fix(row)
    cell = row.lbs_cell if isinstance(row.lbs_cell, dict) else None
    details = tracker_details(imei=imei, name=row.name or "", plate=row.plate, reason=CONFIRMED, late=False,
                              position=position, cell=cell, live_link=live_link)
    dispatch = await _open_theft_dispatch(connection, imei, row.theft_dispatch_id)
    if dispatch is None:
        hanging = await _newest_position_reading(connection, row)
        if hanging is None:
            raise NoPositionYet(imei)
        reading_id, site = hanging
        new = theft_dispatch(site=row.site or site, imei=imei, reading_id=reading_id, policy=policy, at=now,
                             confirmed=True)
        dispatch, created = await raise_theft(connection, new, tracker=details, at=now, actor=actor)
        if not created:  # folded into a theft dispatch that was still open under the same key: confirm that one
            dispatch = await _confirm(connection, dispatch, details, actor=actor, police=policy.police, now=now)
    else:
        dispatch = await _confirm(connection, dispatch, details, actor=actor, police=policy.police, now=now)
    await connection.execute(
        update(trackers)
        .where(trackers.c.imei == imei)
        .values(theft_state=CONFIRMED, theft_dispatch_id=dispatch.id, theft_at=row.theft_at or now, updated_at=now)
    )
    notice = notify.Notice(notify.THEFT_CONFIRMED, imei, THEFT_CLASS, dispatch.id, position=position,
                           reason=CONFIRMED)
    await notify.notify_owner(connection, notice, policy=policy, now=now)
    return dispatch
