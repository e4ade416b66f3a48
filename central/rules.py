"""Alarm rules: which stored readings become dispatches, to whom, and with which urgency.

The ingest calls `AlarmRules.on_stored` inside its transaction, after storing the readings and updating the sites
table, so a reading and the dispatch it raises (with the webhooks announcing it) commit together. Then it calls
`after_commit`, which wakes the webhook sender.

- Only alarms dispatch: restores, open/close (arming), tests and troubles update the site (the ingest's job).
- An alarm counts when its qualifier is new, repeat or absent; a restore or any other qualifier never dispatches.
- Armed or not: the alarm's own `data["site_armed"]` when it is a bool (the edge knew the state at that moment), else
  the site's `armed` column. Unknown counts as armed: a burglary is never dropped for want of the arming state.
- Life-safety (panic, duress, holdup, sos): to 110 at once and to the security company, armed or not.
- Fire and medical: to their own recipients, armed or not.
- Burglary-like (burglary, alarm, intrusion, forced_door, tamper, vibration, theft): to the security company when
  armed, with the acknowledgement timer (escalated to 110 if no operator acknowledges in `escalate_after`).
- Any other class: to the security company when armed, without the timer.
- Disarmed: recorded, not dispatched, unless the zone is a 24-hour zone (`data["24h"]` true, or listed in the
  settings for the site).
- The same site + class + zone while a dispatch is open folds into it (occurrences + 1), never a second dispatch.

Trackers' alarms (`data["source"] == "tracker"`, zone = the IMEI) follow the same rules with three differences:
- Armed or not is the bike's (`trackers.armed`, looked up through the `device_armed` hook), not the gateway site's.
- `power_cut`, `moving` and `displacement` while the bike is armed are the theft rule's (central.trackers): it raises
  the bike's one theft dispatch, so they raise none of their own.
- A bike's vibration while armed goes to the security company without the 110 timer: a bumped bike is not a
  burglary, and if it is being taken the theft rule follows within seconds. Disarmed, a riding bike vibrates: recorded.
The `on_dispatch` hook hears of every dispatch raised or folded (the owners' notifications).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.dispatch.repository import Dispatch, NewDispatch, raise_dispatch
from central.dispatch.states import EscalationReason
from central.model import StoredReading
from central.rules_settings import RulesSettings
from central.store.schema import sites
from shaobing.envelope import Envelope, Kind

LIFE_SAFETY = frozenset({"panic", "duress", "holdup", "sos"})
BURGLARY_LIKE = frozenset({"burglary", "alarm", "intrusion", "forced_door", "tamper", "vibration", "theft"})
DISPATCHING_QUALIFIERS = frozenset({None, "", "new", "repeat"})
TRACKER_SOURCE = "tracker"
# A tracker's own words that an armed bike is being taken: the theft rule's (central.trackers.theft.THEFT_SIGNALS).
TRACKER_THEFT_SIGNALS = frozenset({"power_cut", "moving", "displacement"})

# Whether the device an alarm names (a tracker's IMEI) is armed; None when unknown.
DeviceArmed = Callable[[AsyncConnection, str], Awaitable[bool | None]]
# Told of each dispatch raised (True) or folded (False), inside the transaction.
OnDispatch = Callable[[AsyncConnection, StoredReading, Dispatch, bool], Awaitable[None]]

# Lower is more urgent (as reading priorities are).
PRIORITY_LIFE_SAFETY = 1
PRIORITY_MEDICAL = 2
PRIORITY_BURGLARY = 3
PRIORITY_OTHER = 4


@dataclass(frozen=True, slots=True)
class Decision:
    """What one alarm reading calls for."""

    alarm_class: str
    zone: str | None
    partition: str | None
    priority: int
    roles: tuple[str, ...]
    escalate_now: bool  # to 110 at once (life safety, or confirmed by the panel)
    timer: bool  # escalate to 110 if not acknowledged in time


def _label(value: Any) -> str | None:
    """Zones and partitions arrive as numbers or strings; they are compared and stored as short text."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | str):
        text = str(value).strip()[:32]
        return text or None
    return None


def is_tracker_alarm(envelope: Envelope) -> bool:
    return envelope.kind is Kind.ALARM and envelope.data.get("source") == TRACKER_SOURCE


def effective_armed(envelope: Envelope, site_armed: bool | None) -> bool | None:
    stamped = envelope.data.get("site_armed")
    return stamped if isinstance(stamped, bool) else site_armed


def decide(envelope: Envelope, site_armed: bool | None, settings: RulesSettings) -> Decision | None:
    """The decision for one reading, given the armed state as stored (the site's, or for a tracker's alarm the
    bike's; None while unknown); None: no dispatch."""
    if envelope.kind is not Kind.ALARM:
        return None
    data = envelope.data
    qualifier = data.get("qualifier")
    if not (qualifier is None or isinstance(qualifier, str)) or qualifier not in DISPATCHING_QUALIFIERS:
        return None
    raw_class = data.get("class")
    alarm_class = raw_class.strip().lower()[:32] if isinstance(raw_class, str) and raw_class.strip() else "alarm"
    zone = _label(data.get("zone"))
    partition = _label(data.get("partition"))

    def decision(priority: int, roles: tuple[str, ...], *, now: bool = False, timer: bool = False) -> Decision:
        return Decision(alarm_class, zone, partition, priority, roles, now, timer)

    if alarm_class in LIFE_SAFETY:
        return decision(PRIORITY_LIFE_SAFETY, ("security", "police"), now=True)
    if alarm_class == "fire":
        return decision(PRIORITY_LIFE_SAFETY, ("fire",))
    if alarm_class == "medical":
        return decision(PRIORITY_MEDICAL, ("medical",))
    armed = effective_armed(envelope, site_armed)
    always = data.get("24h") is True or settings.is_24h_zone(envelope.site, zone)
    if armed is False and not always:
        return None
    if is_tracker_alarm(envelope):
        if alarm_class in TRACKER_THEFT_SIGNALS and armed is True:
            return None  # the theft rule raises the bike's one theft dispatch
        if alarm_class == "vibration":
            return decision(PRIORITY_OTHER, ("security",))
    if alarm_class in BURGLARY_LIKE:
        if data.get("verified") is True:  # confirmed by the panel itself (SIA BV, Contact ID 139): 110 at once
            return decision(PRIORITY_BURGLARY, ("security", "police"), now=True)
        return decision(PRIORITY_BURGLARY, ("security",), timer=True)
    return decision(PRIORITY_OTHER, ("security",))


def _reason_now(decision: Decision) -> EscalationReason | None:
    """Why a dispatch goes to 110 the moment it is raised: life safety, or an alarm the panel already confirmed."""
    if not decision.escalate_now:
        return None
    return EscalationReason.PANIC if decision.alarm_class in LIFE_SAFETY else EscalationReason.CONFIRMED


class AlarmRules:
    """The ingest's hooks: `on_stored` inside its transaction, `after_commit` after it."""

    def __init__(
        self,
        settings: RulesSettings,
        *,
        logger: logging.Logger,
        wake_sender: Callable[[], None] | None = None,
        device_armed: DeviceArmed | None = None,
        on_dispatch: OnDispatch | None = None,
    ) -> None:
        self._settings = settings
        self._logger = logger
        self._wake_sender = wake_sender
        self._device_armed = device_armed
        self._on_dispatch = on_dispatch

    async def _armed(self, connection: AsyncConnection, site: str) -> bool | None:
        armed = (await connection.execute(select(sites.c.armed).where(sites.c.id == site))).scalar_one_or_none()
        return armed if isinstance(armed, bool) else None

    async def _armed_for(
        self, connection: AsyncConnection, envelope: Envelope, cache: dict[tuple[str, str], bool | None]
    ) -> bool | None:
        """The site's armed state, or for a tracker's alarm the bike's (zone = IMEI, else the device)."""
        if self._device_armed is not None and is_tracker_alarm(envelope):
            device = _label(envelope.data.get("zone")) or envelope.device
            if ("device", device) not in cache:
                cache["device", device] = await self._device_armed(connection, device)
            return cache["device", device]
        if ("site", envelope.site) not in cache:
            cache["site", envelope.site] = await self._armed(connection, envelope.site)
        return cache["site", envelope.site]

    def _recipients(self, roles: tuple[str, ...]) -> list[str]:
        names: list[str] = []
        for role in roles:
            names += [name for name in self._settings.recipients.of(role) if name not in names]
        return names

    async def on_stored(self, connection: AsyncConnection, stored: list[StoredReading]) -> None:
        alarms = [reading for reading in stored if reading.envelope.kind is Kind.ALARM]
        decided: list[tuple[Decision, StoredReading]] = []
        armed_cache: dict[tuple[str, str], bool | None] = {}
        for reading in alarms:
            site = reading.envelope.site
            armed = await self._armed_for(connection, reading.envelope, armed_cache)
            decision = decide(reading.envelope, armed, self._settings)
            if decision is None:
                # Its class and zone only: the data may hold where a bike's owner is, or a panel user's number, and
                # a riding bike's vibrations come by the hundred (the reading itself is in `readings`).
                data = reading.envelope.data
                self._logger.info(
                    "alarm %s/%d (%s, zone %s) recorded, not dispatched", site, reading.envelope.seq,
                    _label(data.get("class")), _label(data.get("zone")),
                )
                continue
            decided.append((decision, reading))
        # Alarms first, and among them the most urgent first.
        decided.sort(key=lambda pair: (pair[0].priority, pair[1].id))
        for decision, reading in decided:
            await self._dispatch(connection, decision, reading)

    async def _dispatch(self, connection: AsyncConnection, decision: Decision, reading: StoredReading) -> None:
        at = reading.stored_at
        recipients = self._recipients(decision.roles)
        new = NewDispatch(
            site=reading.envelope.site,
            reading_id=reading.id,
            alarm_class=decision.alarm_class,
            zone=decision.zone,
            partition=decision.partition,
            priority=decision.priority,
            recipients=recipients,
            escalate_at=at + timedelta(seconds=self._settings.escalate_after) if decision.timer else None,
            escalation_reason=_reason_now(decision),
        )
        dispatch, created = await raise_dispatch(connection, new, at=at)
        if not recipients:
            self._logger.warning("dispatch %d (%s) has no recipients configured", dispatch.id, decision.alarm_class)
        if created:
            self._logger.warning(
                "dispatch %d raised: %s at %s zone %s (reading %d) -> %s",
                dispatch.id,
                decision.alarm_class,
                new.site,
                new.zone,
                reading.id,
                ", ".join(recipients) or "(nobody)",
            )
        else:
            self._logger.info("alarm reading %d folded into dispatch %d as a repeat", reading.id, dispatch.id)
        if self._on_dispatch is not None:
            await self._on_dispatch(connection, reading, dispatch, created)

    async def after_commit(self, stored: list[StoredReading]) -> None:
        """The batch is committed: wake the webhook sender if it may have raised or updated a dispatch."""
        if self._wake_sender is not None and any(reading.envelope.kind is Kind.ALARM for reading in stored):
            self._wake_sender()
