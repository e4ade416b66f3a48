"""Position filters, without I/O (after Traccar's FilterHandler): why a position must not be used.

A filtered position is stored with its reason in `positions.filtered`; nothing is thrown away. It is not used for the
current position, the track or the theft rule. The reasons, checked in this order (the first one wins):

| reason | when |
| --- | --- |
| malformed | a field has the wrong type, or a GPS report has no coordinates |
| range | a coordinate, speed, course or satellite count outside what the earth and a receiver allow |
| zero | latitude and longitude both 0 (a receiver's "no data", in the Gulf of Guinea) |
| invalid | the device says it is not positioned (GT06 "GPS positioned" bit off, NMEA status V) |
| future | the fix time is more than `future_s` ahead of central's clock |
| stale | the fix time is more than `stale_s` behind central's clock (a reset device clock: 2000-01-01) |
| duplicate | a position of the same IMEI, source and fix time is already stored (a report re-sent after a lost reply) |
| jump | the speed implied by the neighbouring accepted fix (in fix-time order) exceeds `max_speed_kmh` |

Cell-tower (LBS) positions are never GPS fixes: they are `approximate`, stored apart from the track, and only the
reasons that make sense for them apply (malformed, range, future, stale, duplicate).

The jump filter must not lock itself out: if the accepted fix it compares with was the wrong one (an outlier that was
accepted after a long silence) every later true fix would look like a jump. So a fix that disagrees with the last
accepted fix is still accepted when it agrees with the fix just before it that was filtered as a jump: two fixes that
agree with each other outvote the one they disagree with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from central.trackers.reports import PositionReport
from central.trackers.settings import TrackerSettings
from shaobing.geo import distance_m

MALFORMED = "malformed"
RANGE = "range"
ZERO = "zero"
INVALID = "invalid"
FUTURE = "future"
STALE = "stale"
DUPLICATE = "duplicate"
JUMP = "jump"

MAX_SPEED_KMH = 2000.0  # above any receiver's report (GT06 has one byte: 255)
MAX_SATELLITES = 64
MIN_INTERVAL_S = 1.0  # implied speeds are computed over at least a second: fix times have a one-second resolution


@dataclass(frozen=True, slots=True)
class Fix:
    """A point in time and space, for the jump filter and the theft rule."""

    fix_time: datetime
    lat: float
    lon: float


def fix_of(report: PositionReport) -> Fix | None:
    if report.lat is None or report.lon is None:
        return None
    return Fix(report.fix_time, report.lat, report.lon)


def _out_of_range(report: PositionReport) -> bool:
    if report.lat is not None and not -90.0 <= report.lat <= 90.0:
        return True
    if report.lon is not None and not -180.0 <= report.lon <= 180.0:
        return True
    if report.speed_kmh is not None and not 0.0 <= report.speed_kmh <= MAX_SPEED_KMH:
        return True
    if report.course is not None and not 0.0 <= report.course <= 360.0:
        return True
    return report.satellites is not None and not 0 <= report.satellites <= MAX_SATELLITES


def static_reason(report: PositionReport, *, now: datetime, settings: TrackerSettings) -> str | None:
    """Every reason decidable from the report alone (all but duplicate and jump)."""
    if report.problem is not None or (report.is_gps and not report.has_coordinates):
        return MALFORMED
    if _out_of_range(report):
        return RANGE
    if report.is_gps:
        if report.lat == 0.0 and report.lon == 0.0:
            return ZERO
        if not report.valid:
            return INVALID
    if report.fix_time > now + timedelta(seconds=settings.future_s):
        return FUTURE
    if report.fix_time < now - timedelta(seconds=settings.stale_s):
        return STALE
    return None


def implied_speed_kmh(a: Fix, b: Fix) -> float:
    seconds = max(abs((b.fix_time - a.fix_time).total_seconds()), MIN_INTERVAL_S)
    return distance_m(a.lat, a.lon, b.lat, b.lon) / seconds * 3.6


def is_jump(candidate: Fix, accepted: Fix | None, rejected: Fix | None, *, max_speed_kmh: float) -> bool:
    """Whether `candidate` jumped from `accepted`, the neighbouring accepted fix before it in fix-time order (None:
    nothing to compare with). `rejected` is the fix just before `candidate` when that one was filtered as a jump."""
    if accepted is None or implied_speed_kmh(accepted, candidate) <= max_speed_kmh:
        return False
    agrees_with_rejected = (
        rejected is not None
        and rejected.fix_time > accepted.fix_time
        and implied_speed_kmh(rejected, candidate) <= max_speed_kmh
    )
    return not agrees_with_rejected
