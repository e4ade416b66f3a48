"""A bike's theft as a dispatch: raised once per episode for the monitoring centre, with the bike in the webhooks.

- Class "theft", zone = the IMEI, so each bike has its own open dispatch (open_key site|theft|IMEI): a second
  episode while the first dispatch is still open folds into it as a repeat instead of opening another.
- Priority as a burglary; to the `security` role; with the acknowledgement timer of a burglary (`[rules]
  escalate_after`) unless `[trackers] escalate_thefts` is false: a bike that is being ridden away and that no operator
  looks at goes to 110.
- The reading it hangs on is the one that tripped the rule (the position beyond the radius, or the device's alarm).
- Every webhook delivery announcing the dispatch carries a `tracker` object besides the standard payload (the
  dispatch, the gateway site, the reading): IMEI, name, plate, why, whether it was found late, the position, and
  once confirmed the police's live link (central.trackers.webhooks). The dispatch repository merges it into the
  deliveries it writes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from central.dispatch.repository import Dispatch, NewDispatch, raise_dispatch
from central.dispatch.states import EscalationReason
from central.rules import PRIORITY_BURGLARY
from central.trackers.policy import TrackerPolicy
from central.trackers.webhooks import THEFT_CLASS


def theft_dispatch(
    *, site: str, imei: str, reading_id: int, policy: TrackerPolicy, at: datetime, confirmed: bool = False
) -> NewDispatch:
    """The theft dispatch of a bike; `confirmed` raises it already escalated to 110 (the owner or an operator says
    so)."""
    timer = policy.settings.escalate_thefts and not confirmed
    recipients = list(policy.security) + ([name for name in policy.police if name not in policy.security]
                                          if confirmed else [])
    return NewDispatch(
        site=site,
        reading_id=reading_id,
        alarm_class=THEFT_CLASS,
        zone=imei,
        partition=None,
        priority=PRIORITY_BURGLARY,
        recipients=recipients,
        escalate_at=at + timedelta(seconds=policy.escalate_after_s) if timer else None,
        escalation_reason=EscalationReason.CONFIRMED if confirmed else None,
    )


async def raise_theft(
    connection: AsyncConnection, new: NewDispatch, *, tracker: dict[str, Any], at: datetime, actor: str = "rule:theft"
) -> tuple[Dispatch, bool]:
    """Raise (or fold into the open) theft dispatch, its webhooks carrying `tracker`."""
    return await raise_dispatch(connection, new, at=at, actor=actor, extra={"tracker": tracker})
