"""GT06 packets as contract readings (device = the IMEI the connection logged in with).

- a GPS fix (location packets, and the fix inside alarm packets and address requests): `position` with source "gps",
  timed by its fix time; re-uploads keep `archived` true so central files them in their place in the track;
- a cell-only packet: `position` with source "lbs", no coordinates, `valid` false and `approximate` true (central
  resolves or shows the cell, never draws it into the GPS line); a packet without time is stamped on receipt;
- status and heartbeat: `status` with the terminal's state (voltage level, GSM, charging, ACC, armed, ...);
- an alarm code: `alarm` (source "tracker", zone = IMEI, the raw code in hex, qualifier "new") with the fix where the
  packet has one, and the `position` of the same packet so the track is complete. Low battery and the tracker
  switching itself off are not calls for a guard: they are `trouble` readings of the same shape;
- login and command replies are not readings (the login binds the connection, a reply completes its command).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drivers.gt06.message import Gt06Packet
from shaobing.clock import format_ts
from shaobing.envelope import Kind, Reading

PROTOCOL = "gt06"
SOURCE = "tracker"
TROUBLE_CLASSES = frozenset({"low_battery", "power_off"})


def readings_for(packet: Gt06Packet, imei: str, *, rx: datetime) -> list[Reading]:
    """The readings one packet makes, in the order they are committed (an alarm first)."""
    out: list[Reading] = []
    if packet.alarm is not None:
        out.append(_alarm(packet, imei, rx))
    if packet.has_position:
        out.append(_gps_position(packet, imei, rx))
    elif packet.type == "lbs" and packet.cell is not None:
        out.append(_lbs_position(packet, imei, rx))
    if packet.type == "status" and packet.status is not None:
        out.append(_status(packet, imei, rx))
    return out


def _gps_position(packet: Gt06Packet, imei: str, rx: datetime) -> Reading:
    assert packet.fix_time is not None
    data: dict[str, Any] = {
        "lat": packet.lat, "lon": packet.lon, "fix_time": format_ts(packet.fix_time), "valid": packet.valid,
        "satellites": packet.satellites, "speed_kmh": packet.speed_kmh, "course": packet.course, "source": "gps",
        "cell": packet.cell.as_dict() if packet.cell is not None else None, "archived": packet.archived,
        "protocol": PROTOCOL,
    }
    if packet.acc is not None:
        data["acc"] = packet.acc
    return Reading(device=imei, kind=Kind.POSITION, data=data, ts=packet.fix_time, rx=rx)


def _lbs_position(packet: Gt06Packet, imei: str, rx: datetime) -> Reading:
    assert packet.cell is not None
    fix_time = packet.fix_time or rx
    data: dict[str, Any] = {
        "lat": None, "lon": None, "fix_time": format_ts(fix_time), "valid": False, "approximate": True,
        "source": "lbs", "cell": packet.cell.as_dict(), "archived": packet.archived, "protocol": PROTOCOL,
    }
    if packet.acc is not None:
        data["acc"] = packet.acc
    return Reading(device=imei, kind=Kind.POSITION, data=data, ts=fix_time, rx=rx)


def _status(packet: Gt06Packet, imei: str, rx: datetime) -> Reading:
    assert packet.status is not None
    status = packet.status
    data: dict[str, Any] = {
        "voltage_level": status.voltage_level, "gsm": status.gsm, "charging": status.charging,
        "acc": status.acc if packet.acc is None else packet.acc,  # an FE / FF alarm byte says it switched
        "armed": status.armed, "gps_tracking": status.gps_tracking, "oil_cut": status.oil_cut, "protocol": PROTOCOL,
    }
    if packet.battery_v is not None:
        data["battery_v"] = packet.battery_v
    return Reading(device=imei, kind=Kind.STATUS, data=data, ts=rx, rx=rx)


def _alarm(packet: Gt06Packet, imei: str, rx: datetime) -> Reading:
    assert packet.alarm is not None
    kind = Kind.TROUBLE if packet.alarm in TROUBLE_CLASSES else Kind.ALARM
    data: dict[str, Any] = {
        "class": packet.alarm, "source": SOURCE, "zone": imei, "qualifier": "new",
        "code": f"{packet.alarm_code:02x}" if packet.alarm_code is not None else None,
        "lat": packet.lat, "lon": packet.lon, "valid": bool(packet.valid) and packet.has_position,
        "fix_time": format_ts(packet.fix_time) if packet.fix_time is not None else None,
        "cell": packet.cell.as_dict() if packet.cell is not None else None, "protocol": PROTOCOL,
    }
    if packet.status is not None:
        data.update(armed=packet.status.armed, charging=packet.status.charging,
                    voltage_level=packet.status.voltage_level, gsm=packet.status.gsm)
    return Reading(device=imei, kind=kind, data=data, ts=packet.fix_time or rx, rx=rx)
