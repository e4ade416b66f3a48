"""The `tracker` object in the webhooks of a bike's dispatches (its theft, its own alarms: SOS, vibration, ...): the
bike (IMEI, name, plate), why and where. Nothing about the owner.

The steps the tracker core takes (the theft raised or folded, the theft confirmed) pass it with the reason and the
position that tripped the rule or the live link for 110. Every other step (an SOS or any other alarm of the bike raised
by the alarm rules, an operator's acknowledgement, the acknowledgement timer sending a theft to 110) gets it from
`tracker_payload`, which the dispatch repository calls for steps whose caller gave nothing: the bike as it is then,
with its current position and newest cell report, and no reason. So whoever receives any step of a bike's dispatch
knows which bike and where it was last. A dispatch is a bike's when its zone is the IMEI of a known tracker (the
alarm rules and the theft rule both put the IMEI there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.dispatch.repository import Dispatch
from central.store.schema import trackers
from central.trackers.filters import Fix
from central.trackers.reports import IMEI
from shaobing.clock import format_ts

THEFT_CLASS = "theft"


def tracker_details(
    *,
    imei: str,
    name: str,
    plate: str | None,
    reason: str | None,
    late: bool,
    position: Fix | None,
    distance_m: float | None = None,
    cell: dict[str, Any] | None = None,
    live_link: str | None = None,
) -> dict[str, Any]:
    return {
        "imei": imei,
        "name": name,
        "plate": plate,
        "reason": reason,
        "late": late,
        "position": None if position is None else {
            "lat": position.lat, "lon": position.lon, "fix_time": format_ts(position.fix_time)
        },
        "distance_m": None if distance_m is None else round(distance_m, 1),
        "cell": cell,  # the newest cell-tower report, for a bike without a GPS fix
        "live_link": live_link,
    }


async def tracker_payload(connection: AsyncConnection, dispatch: Dispatch) -> Mapping[str, Any] | None:
    """The `tracker` object of a bike's dispatch step whose caller gave none; None for other dispatches."""
    if dispatch.zone is None or not IMEI.match(dispatch.zone):
        return None  # a panel's zone: not a bike's dispatch, and no query for it
    row = (
        await connection.execute(
            select(trackers.c.name, trackers.c.plate, trackers.c.fix_time, trackers.c.lat, trackers.c.lon,
                   trackers.c.lbs_cell).where(trackers.c.imei == dispatch.zone)
        )
    ).first()
    if row is None:
        return None
    position = None if row.fix_time is None or row.lat is None or row.lon is None else Fix(row.fix_time, row.lat,
                                                                                            row.lon)
    cell = row.lbs_cell if isinstance(row.lbs_cell, dict) else None
    details = tracker_details(imei=dispatch.zone, name=row.name or "", plate=row.plate, reason=None, late=False,
                              position=position, cell=cell)
    return {"tracker": details}
