"""A tracker's readings as central uses them: the `data` of a position reading checked field by field.

Nothing here raises on bad input: a reading whose fields have the wrong types becomes a report with `problem` set,
which the filters turn into a position stored as "malformed" (the reading itself is in `readings` as it came).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from central.model import StoredReading
from shaobing.clock import parse_ts
from shaobing.envelope import Envelope, Kind

IMEI = re.compile(r"^[0-9]{15}$")
CELL_KEYS = ("mcc", "mnc", "lac", "cid")
GPS, LBS = "gps", "lbs"


def tracker_imei(envelope: Envelope) -> str | None:
    """The IMEI a reading speaks for: the device of a position or status, the zone (else device) of a tracker alarm;
    None when the reading is not a tracker's or names no valid IMEI."""
    if envelope.kind in (Kind.POSITION, Kind.STATUS):
        candidate: Any = envelope.device
    elif envelope.kind is Kind.ALARM and envelope.data.get("source") == "tracker":
        candidate = envelope.data.get("zone") or envelope.device
    else:
        return None
    if isinstance(candidate, int) and not isinstance(candidate, bool):
        candidate = str(candidate)
    return candidate if isinstance(candidate, str) and IMEI.match(candidate) else None


@dataclass(frozen=True, slots=True)
class PositionReport:
    """One position reading, parsed. `problem` says why it is malformed (None when it is not)."""

    reading_id: int
    imei: str
    site: str
    seq: int
    fix_time: datetime
    rx: datetime
    source: str  # "gps" | "lbs"
    valid: bool
    archived: bool
    lat: float | None
    lon: float | None
    speed_kmh: float | None
    course: float | None
    satellites: int | None
    hdop: float | None
    cell: dict[str, int] | None
    acc: bool | None
    problem: str | None = None

    @property
    def is_gps(self) -> bool:
        return self.source == GPS

    @property
    def has_coordinates(self) -> bool:
        return self.lat is not None and self.lon is not None


class _Malformed(ValueError):
    pass


def _number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Malformed(f"{key} is not a number")
    try:
        return float(value)
    except OverflowError:  # an integer of hundreds of digits: JSON allows it
        raise _Malformed(f"{key} is out of range") from None


def _integer(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**31:
        raise _Malformed(f"{key} is not an integer")
    return value


def _flag(data: dict[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise _Malformed(f"{key} is not true or false")


def _cell(data: dict[str, Any]) -> dict[str, int] | None:
    raw = data.get("cell")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _Malformed("cell is not an object")
    cell = {key: _integer(raw, key) for key in CELL_KEYS}
    return {key: value for key, value in cell.items() if value is not None} or None


def _fix_time(data: dict[str, Any], fallback: datetime) -> datetime:
    raw = data.get("fix_time")
    if raw is None:
        return fallback
    if not isinstance(raw, str) or len(raw) > 64:
        raise _Malformed("fix_time is not a timestamp")
    try:
        return parse_ts(raw)
    except (ValueError, OverflowError):
        raise _Malformed("fix_time is not a timestamp") from None


def parse_position(reading: StoredReading, imei: str) -> PositionReport:
    envelope = reading.envelope
    data = envelope.data
    base: dict[str, Any] = {
        "reading_id": reading.id, "imei": imei, "site": envelope.site, "seq": envelope.seq, "rx": envelope.rx,
    }
    try:
        lat, lon = _number(data, "lat"), _number(data, "lon")
        source = data.get("source")
        if source is None:
            source = GPS if lat is not None else LBS
        if source not in (GPS, LBS):
            raise _Malformed("source is neither gps nor lbs")
        valid = _flag(data, "valid")
        return PositionReport(
            **base,
            fix_time=_fix_time(data, envelope.ts),
            source=source,
            # A GPS report that does not say it is positioned is not taken for a fix; a cell report never is one.
            valid=bool(valid) and source == GPS,
            archived=bool(_flag(data, "archived")),
            lat=lat,
            lon=lon,
            speed_kmh=_number(data, "speed_kmh"),
            course=_number(data, "course"),
            satellites=_integer(data, "satellites"),
            hdop=_number(data, "hdop"),
            cell=_cell(data),
            acc=_flag(data, "acc"),
        )
    except _Malformed as exc:
        return PositionReport(
            **base, fix_time=envelope.ts, source=LBS if data.get("source") == LBS else GPS, valid=False,
            archived=data.get("archived") is True, lat=None, lon=None, speed_kmh=None, course=None, satellites=None,
            hdop=None, cell=None, acc=None, problem=str(exc),
        )
