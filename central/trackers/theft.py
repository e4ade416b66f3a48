"""The theft rule, without I/O: when an armed bike is being taken, robust to a parked receiver's drift.

A parked GPS receiver wanders a few metres (consecutive fixes correlated over tens of seconds) and, a few times an
hour, multipath throws it 30-80 m away for a few fixes with fewer satellites. Traccar's users get "moving" alarms for
parked bikes from exactly this. The rule here:

- The anchor is where the bike is parked: the current fix at arming when it is fresh (`anchor_max_age_s`), else the
  first counting fix after arming. Every counting fix inside the radius refines it (pulls it towards itself), so the
  anchor converges on the mean of the wander. A fix whose reported speed is above `parked_speed_kmh` never refines it
  (a standing receiver's Doppler speed is a few km/h at most, also during multipath): a bike being taken does not
  drag its anchor along.
- The anchor settles over `anchor_settling_s` of fix time (60 s) AND its first SETTLING_FIXES fixes, not over a count
  alone: six fixes are a minute at 10 s but six seconds at 1 s, shorter than a multipath episode (5-40 s), so a bike
  armed during an episode would settle on it. While settling, the newest fix weighs at least 1/SETTLING_FIXES: the
  anchor is where the bike has been over its last few fixes, and an arming fix (and the rest of an episode) in
  multipath is forgotten within a few fixes once the sky clears.
- Once settled, the weight of a fix is 1/n (n fixes so far, at most `anchor_window`) but never more than its share
  (the time since the fix counted before it) of the fix time since anchoring, at most `anchor_memory_s`: the anchor
  is a mean over minutes, not over fixes, whatever the report interval (at 10 s both are 1/n, then 1/30). Every fix
  inside the radius counts, so a multipath episode drags a settled anchor by about (its duration / anchor_memory_s)
  of its distance, a bike walked off slowly lags further and further behind its anchor, and an anchor settled in
  multipath after all is pulled back to where the bike stands within minutes.
- A fix counts when it is a GPS fix the filters accepted, the device says it is positioned, it has at least
  `min_satellites` satellites (and an HDOP up to `max_hdop` when reported), and it was taken after the arming.
- The bike is moving when `theft_fixes` CONSECUTIVE counting fixes lie beyond `theft_distance_m` from the anchor.
  A counting fix back inside resets the count. A single multipath jump, however many satellites it claims, lies
  inside the radius or is alone beyond it; a thief riding away produces fix after fix further away.
- Or the device says so while armed: a `power_cut` alarm (the tracker's supply wire cut), a `moving` or
  `displacement` alarm (its own motion sensor or geofence), or the ignition (ACC) turned on.
- Fixes are counted in fix-time order. A fix older than the newest one counted (an archived re-upload arriving after
  newer real-time fixes) never disturbs that count: the late fixes of a batch are judged among themselves, in their
  own fix-time order, and can raise a theft (the bike moved while the network was gone), marked late.

One theft per episode: once `theft_state` is set, nothing here trips again until the bike is disarmed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from central.rules import TRACKER_THEFT_SIGNALS
from central.trackers.filters import Fix
from central.trackers.reports import PositionReport
from central.trackers.settings import TrackerSettings
from shaobing.geo import distance_m

# The device's own words that an armed bike is being taken (alarm classes of tracker alarms).
THEFT_SIGNALS = TRACKER_THEFT_SIGNALS
MOVED = "moved"
ACC_ON = "acc_on"
SETTLING_FIXES = 6  # while settling, the newest fix weighs at least 1/6 (and settling lasts this many fixes at least)


@dataclass(frozen=True, slots=True)
class Watch:
    """The theft rule's state of one tracker (columns of `trackers`)."""

    armed: bool
    armed_at: datetime | None
    theft_state: str | None
    anchor_lat: float | None = None
    anchor_lon: float | None = None
    anchor_time: datetime | None = None
    anchor_fixes: int = 0
    moving_fixes: int = 0
    counted_fix_time: datetime | None = None  # fix time of the newest fix counted

    @property
    def watching(self) -> bool:
        return self.armed and self.theft_state is None

    def is_before_arming(self, moment: datetime) -> bool:
        return self.armed_at is not None and moment < self.armed_at

    def anchored_at(self, fix: Fix) -> Watch:
        return replace(self, anchor_lat=fix.lat, anchor_lon=fix.lon, anchor_time=fix.fix_time, anchor_fixes=1,
                       moving_fixes=0)


@dataclass(frozen=True, slots=True)
class Trip:
    """The reason a theft is raised now, and the reading that raised it."""

    reason: str  # "moved", "acc_on", or the alarm class (power_cut, moving, displacement)
    reading_id: int
    at: datetime  # the fix time or the reading's time
    late: bool  # a re-upload, or a reading that arrived long after it was made
    fix: Fix | None = None  # where the bike was, when known
    distance_m: float | None = None  # from the anchor, for "moved"


def counts(report: PositionReport, filtered: str | None, settings: TrackerSettings) -> bool:
    """Whether a stored position counts for the theft rule."""
    if filtered is not None or not report.is_gps or not report.valid or not report.has_coordinates:
        return False
    if report.satellites is not None and report.satellites < settings.min_satellites:
        return False
    return not (settings.max_hdop is not None and report.hdop is not None and report.hdop > settings.max_hdop)


def is_late(moment: datetime, *, archived: bool, received: datetime, settings: TrackerSettings) -> bool:
    return archived or received - moment > timedelta(seconds=settings.late_after_s)


def is_settling(watch: Watch, fix: Fix, settings: TrackerSettings) -> bool:
    """Whether the anchor is still settling when `fix` comes: fewer than SETTLING_FIXES fixes, or less than
    `anchor_settling_s` of fix time since the fix it was anchored at."""
    if watch.anchor_fixes < SETTLING_FIXES or watch.anchor_time is None:
        return True
    return (fix.fix_time - watch.anchor_time).total_seconds() < settings.anchor_settling_s


def _weight(watch: Watch, fix: Fix, previous: datetime | None, settings: TrackerSettings) -> float:
    """How much a standing fix inside the radius pulls the anchor towards itself (0-1)."""
    count = min(watch.anchor_fixes + 1, settings.anchor_window)
    if is_settling(watch, fix, settings):
        return 1 / min(count, SETTLING_FIXES)
    # settled (so anchor_time is set): a mean over fix time, each fix weighing the time since the one before it
    assert watch.anchor_time is not None
    since = previous if previous is not None else watch.anchor_time
    gap_s = max((fix.fix_time - since).total_seconds(), 0.0)
    span_s = min(max((fix.fix_time - watch.anchor_time).total_seconds(), gap_s), settings.anchor_memory_s)
    return min(1 / count, gap_s / span_s) if span_s > 0 else 1 / count


def _refined(watch: Watch, anchor: tuple[float, float], fix: Fix, weight: float, settings: TrackerSettings) -> Watch:
    """The anchor moved towards a fix inside the radius by `weight` of the way."""
    lat, lon = anchor
    return replace(
        watch,
        anchor_lat=lat + (fix.lat - lat) * weight,
        anchor_lon=lon + (fix.lon - lon) * weight,
        anchor_fixes=min(watch.anchor_fixes + 1, settings.anchor_window),
        moving_fixes=0,
    )


def observe_fix(
    watch: Watch, fix: Fix, *, reading_id: int, late: bool, settings: TrackerSettings, speed_kmh: float | None = None
) -> tuple[Watch, Trip | None]:
    """One counting fix newer than every fix counted so far (the caller checks both), with the speed the device
    reported with it (None: not reported)."""
    if not watch.watching or watch.is_before_arming(fix.fix_time):
        return watch, None
    previous = watch.counted_fix_time
    watch = replace(watch, counted_fix_time=fix.fix_time)
    if watch.anchor_lat is None or watch.anchor_lon is None:
        return watch.anchored_at(fix), None
    away = distance_m(watch.anchor_lat, watch.anchor_lon, fix.lat, fix.lon)
    if away <= settings.theft_distance_m:
        if speed_kmh is None or speed_kmh <= settings.parked_speed_kmh:
            weight = _weight(watch, fix, previous, settings)
            return _refined(watch, (watch.anchor_lat, watch.anchor_lon), fix, weight, settings), None
        return replace(watch, moving_fixes=0), None
    watch = replace(watch, moving_fixes=watch.moving_fixes + 1)
    if watch.moving_fixes < settings.theft_fixes:
        return watch, None
    return watch, Trip(MOVED, reading_id, fix.fix_time, late, fix, away)


@dataclass(frozen=True, slots=True)
class LateFix:
    fix: Fix
    reading_id: int


def observe_late_fixes(watch: Watch, fixes: list[LateFix], *, settings: TrackerSettings) -> Trip | None:
    """Counting fixes older than the newest counted (re-uploads), in fix-time order: judged among themselves against
    the anchor, without moving it or the live count. A theft found so is late by nature."""
    if not settings.archived_thefts or not watch.watching or watch.anchor_lat is None or watch.anchor_lon is None:
        return None
    run = 0
    for late in fixes:
        if watch.is_before_arming(late.fix.fix_time):
            continue
        away = distance_m(watch.anchor_lat, watch.anchor_lon, late.fix.lat, late.fix.lon)
        run = run + 1 if away > settings.theft_distance_m else 0
        if run >= settings.theft_fixes:
            return Trip(MOVED, late.reading_id, late.fix.fix_time, True, late.fix, away)
    return None


def device_signal(
    watch: Watch, reason: str, *, reading_id: int, at: datetime, late: bool, fix: Fix | None
) -> Trip | None:
    """A theft signal from the device itself (power cut, its motion alarm, ACC on) while armed."""
    if not watch.watching or watch.is_before_arming(at):
        return None
    return Trip(reason, reading_id, at, late, fix)


def arm(watch: Watch, *, now: datetime, current: Fix | None, settings: TrackerSettings) -> Watch:
    """A new arming: anchored at the current fix when it is fresh, else at the next counting fix."""
    armed = Watch(armed=True, armed_at=now, theft_state=watch.theft_state, counted_fix_time=None)
    fresh = current is not None and abs((now - current.fix_time).total_seconds()) <= settings.anchor_max_age_s
    if current is not None and fresh:
        return replace(armed.anchored_at(current), counted_fix_time=current.fix_time)
    return armed
