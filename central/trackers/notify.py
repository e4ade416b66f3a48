"""Owners' notifications: a short text message to the bike's owner through the durable webhook outbox.

The recipients of the `owners` role ([rules.recipients] owners) stand for the notification / SMS gateway. Each
notification is one outbox row per such recipient, written in the transaction of the change it announces, with:

    {"event": "owner.theft" | "owner.alarm" | "owner.theft_confirmed", "to": "+8613812345678", "text": "...",
     "imei": "...", "name": "小蓝", "plate": "京A12345", "alarm_class": "theft", "reason": "moved",
     "late": false, "position": {"lat", "lon", "fix_time"} | null, "link": "https://.../my/",
     "dispatch_id": 42}

The text is Chinese first (the owners' language), English after it, and names the bike by its name and plate (or
the last digits of its IMEI), so an owner with two bikes knows which one; it ends with the link to the bike's page.
A tracker without an owner (or whose owner's account is disabled) notifies nobody; the monitoring centre still gets
the dispatch. Owners hear of a dispatch when it is raised, never of its repeats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.schema import owners, trackers
from central.trackers.filters import Fix
from central.trackers.policy import TrackerPolicy
from central.webhooks.outbox import enqueue
from shaobing.clock import format_ts

THEFT = "owner.theft"
ALARM = "owner.alarm"
THEFT_CONFIRMED = "owner.theft_confirmed"

ALARM_NAMES_ZH = {
    "sos": "紧急求助",
    "power_cut": "外接电源被切断",
    "vibration": "震动",
    "overspeed": "超速",
    "geofence_enter": "进入电子围栏",
    "geofence_exit": "离开电子围栏",
    "moving": "位移",
    "displacement": "位移",
    "low_battery": "电池电量低",
    "tamper": "防拆",
}
THEFT_REASONS = {
    "moved": ("设防状态下被移动", "moved while armed"),
    "power_cut": ("设防状态下外接电源被切断", "its tracker's power wire was cut while armed"),
    "moving": ("设防状态下检测到位移", "the tracker sensed movement while armed"),
    "displacement": ("设防状态下检测到位移", "the tracker sensed movement while armed"),
    "acc_on": ("设防状态下被点火", "the ignition was turned on while armed"),
}


@dataclass(frozen=True, slots=True)
class Bike:
    imei: str
    name: str
    plate: str | None
    phone: str | None  # None: no owner (or a disabled account) to notify

    def label_zh(self) -> str:
        parts = [f"「{self.name}」" if self.name else "", f"({self.plate})" if self.plate else ""]
        return "".join(parts) or f"(IMEI尾号{self.imei[-4:]})"

    def label_en(self) -> str:
        parts = [self.name, f"({self.plate})" if self.plate else ""]
        return " ".join(part for part in parts if part) or f"(IMEI ending {self.imei[-4:]})"


async def bike_of(connection: AsyncConnection, imei: str) -> Bike | None:
    row = (
        await connection.execute(
            select(trackers.c.imei, trackers.c.name, trackers.c.plate, owners.c.phone, owners.c.disabled_at)
            .select_from(trackers.outerjoin(owners, owners.c.id == trackers.c.owner_id))
            .where(trackers.c.imei == imei)
        )
    ).first()
    if row is None:
        return None
    phone = row.phone if row.disabled_at is None else None
    return Bike(imei=row.imei, name=row.name or "", plate=row.plate, phone=phone)


def theft_text(bike: Bike, reason: str, link: str, *, late: bool) -> str:
    zh, en = THEFT_REASONS.get(reason, THEFT_REASONS["moved"])
    late_zh, late_en = ("(延迟上报)", " (reported late)") if late else ("", "")
    return (
        f"【哨兵】{late_zh}您的电动车{bike.label_zh()}{zh}，疑似被盗，请立即查看位置：{link} "
        f"| Your e-bike {bike.label_en()}: {en}{late_en}, possibly stolen. See where it is: {link}"
    )


def alarm_text(bike: Bike, alarm_class: str, link: str) -> str:
    name_zh = ALARM_NAMES_ZH.get(alarm_class, alarm_class)
    english = alarm_class.replace("_", " ")
    return (
        f"【哨兵】您的电动车{bike.label_zh()}报警：{name_zh}。查看：{link} "
        f"| Your e-bike {bike.label_en()}: {english} alarm. See: {link}"
    )


def confirmed_text(bike: Bike, link: str) -> str:
    return (
        f"【哨兵】您的电动车{bike.label_zh()}被盗已确认，已报警110并提供实时位置。查看：{link} "
        f"| Theft of your e-bike {bike.label_en()} confirmed: 110 (the police) has its live position. See: {link}"
    )


def _position(fix: Fix | None) -> dict[str, Any] | None:
    if fix is None:
        return None
    return {"lat": fix.lat, "lon": fix.lon, "fix_time": format_ts(fix.fix_time)}


@dataclass(frozen=True, slots=True)
class Notice:
    """What to tell the owner of one bike."""

    event: str  # THEFT, ALARM or THEFT_CONFIRMED
    imei: str
    alarm_class: str
    dispatch_id: int | None
    position: Fix | None
    reason: str | None = None  # for a theft: moved, power_cut, moving, displacement, acc_on
    late: bool = False


async def notify_owner(connection: AsyncConnection, notice: Notice, *, policy: TrackerPolicy, now: datetime) -> bool:
    """Enqueue the owner's notification; False when nobody is to be told (no owner, or no gateway configured)."""
    if not policy.owners:
        return False
    bike = await bike_of(connection, notice.imei)
    if bike is None or bike.phone is None:
        return False
    link = policy.bike_link(bike.imei)
    if notice.event == THEFT:
        text = theft_text(bike, notice.reason or "moved", link, late=notice.late)
    elif notice.event == THEFT_CONFIRMED:
        text = confirmed_text(bike, link)
    else:
        text = alarm_text(bike, notice.alarm_class, link)
    payload = {
        "event": notice.event,
        "to": bike.phone,
        "text": text,
        "imei": bike.imei,
        "name": bike.name,
        "plate": bike.plate,
        "alarm_class": notice.alarm_class,
        "reason": notice.reason,
        "late": notice.late,
        "position": _position(notice.position),
        "link": link,
        "dispatch_id": notice.dispatch_id,
    }
    await enqueue(connection, recipients=policy.owners, event=notice.event, dispatch_id=notice.dispatch_id,
                  payload=payload, now=now)
    return True
