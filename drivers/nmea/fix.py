"""One position per receiver epoch, and no more of them than the outbox needs. No I/O.

A receiver reports each solution (an epoch, 1-10 times a second) as a burst of sentences with the same time of day:
RMC (date, speed, course), GGA (satellites, HDOP, altitude, quality), often GNS, GLL, VTG, and GSA/GSV which are not
decoded. `EpochAssembler` merges the burst into one `Fix`:
- an epoch ends when a sentence with another time of day arrives, or when `flush` is called (the driver does when
  the line has been quiet for a moment, and when the connection ends); a sentence arriving after its epoch was
  flushed, within `LATE_WINDOW_S` (a burst split by a slow link), is dropped and counted in `late` rather than made
  a second fix of the same epoch;
- a sentence without a time (VTG, a cold receiver's empty GGA) joins the open epoch, unless that epoch already has a
  sentence of its type: then it starts the next one, so a receiver that sends no times still gets one fix per burst;
- the position comes from RMC, else GGA, else GNS, else GLL; satellites, HDOP and altitude from GGA, else GNS; speed
  and course from RMC, else VTG;
- the fix is valid only if every position sentence of the epoch says so (RMC A with GGA quality 6 is dead
  reckoning, not a fix);
- GGA, GNS and GLL carry no date. Without an RMC in the epoch the date is taken from the last RMC seen (advanced by
  the time elapsed since it), or from the system clock when there was none; of the day before, that day and the
  day after, the one putting the fix nearest that reference is used, so a fix just after midnight UTC gets the new
  day. The receiver's date is preferred: a box's clock may be wrong until NTP has run.

`RateLimiter` then decides which fixes become readings: the first, every one at least `min_interval_s` after the last
one kept (by fix time), every one more than `min_distance_m` from the last one kept, and every change of validity
(a fix lost or regained is news). A 10 Hz receiver would otherwise write 864,000 readings a day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Final, TypeVar

from drivers.nmea.codec import NmeaSentence
from shaobing.geo import distance_m

POSITION_TYPES: Final = ("rmc", "gga", "gns", "gll")  # in order of preference for the position
LATE_WINDOW_S: Final = 1.0  # longer, and a receiver whose clock is stuck would lose most of its epochs

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Fix:
    """The merged content of one epoch."""

    talker: str
    time: time | None
    fix_time: datetime | None  # None when the epoch had no time of day
    lat: float | None
    lon: float | None
    valid: bool
    satellites: int | None = None
    speed_kmh: float | None = None
    course: float | None = None
    fix_quality: int | None = None
    hdop: float | None = None
    altitude_m: float | None = None
    mode: str | None = None
    sentences: tuple[str, ...] = ()  # the types merged, in arrival order


def _first(*values: T | None) -> T | None:
    return next((value for value in values if value is not None), None)


def nearest_day(moment: time, reference: datetime) -> datetime:
    """`moment` (UTC) on the day before, of, or after `reference`, whichever is nearest to it."""
    reference = reference.astimezone(UTC)
    candidates = [datetime.combine(reference.date() + timedelta(days=offset), moment, tzinfo=UTC)
                  for offset in (-1, 0, 1)]
    return min(candidates, key=lambda candidate: abs(candidate - reference))


@dataclass
class _Epoch:
    time: time | None
    sentences: dict[str, NmeaSentence] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def accepts(self, sentence: NmeaSentence) -> bool:
        if sentence.time is not None and self.time is not None:
            return sentence.time == self.time
        return sentence.type not in self.sentences

    def add(self, sentence: NmeaSentence) -> None:
        if self.time is None:
            self.time = sentence.time
        # a second sentence of a type with the same time (GPGGA and GNGGA from one receiver): the first one wins
        self.sentences.setdefault(sentence.type, sentence)
        self.order.append(sentence.type)


class EpochAssembler:
    """Feed decoded sentences in arrival order; get each epoch's `Fix` once the epoch is complete."""

    def __init__(self) -> None:
        self._epoch: _Epoch | None = None
        self._closed: tuple[time | None, float] | None = None  # the time of the epoch closed last, and when
        self._last_rmc: tuple[datetime, float] | None = None  # the last RMC fix time, and `monotonic` when it came
        self.late = 0  # sentences dropped because their epoch was already closed

    def feed(self, sentence: NmeaSentence, *, now: datetime, monotonic: float) -> Fix | None:
        """Add `sentence`; returns the previous epoch's fix when this sentence starts a new epoch."""
        done = None
        if self._epoch is None and sentence.time is not None and self._closed is not None:
            closed_time, closed_at = self._closed
            if sentence.time == closed_time and monotonic - closed_at < LATE_WINDOW_S:
                self.late += 1
                return None
        if self._epoch is not None and not self._epoch.accepts(sentence):
            done = self.flush(now=now, monotonic=monotonic)
        if self._epoch is None:
            self._epoch = _Epoch(sentence.time)
        self._epoch.add(sentence)
        if sentence.type == "rmc" and sentence.fix_time is not None:
            self._last_rmc = (sentence.fix_time, monotonic)
        return done

    @property
    def pending(self) -> bool:
        """An epoch is open (the driver flushes it when the line goes quiet)."""
        return self._epoch is not None

    def flush(self, *, now: datetime, monotonic: float) -> Fix | None:
        """Close the open epoch: its fix, or None if nothing was open or it had no position sentence."""
        epoch, self._epoch = self._epoch, None
        if epoch is None:
            return None
        self._closed = (epoch.time, monotonic)
        found = [epoch.sentences[kind] for kind in POSITION_TYPES if kind in epoch.sentences]
        if not found:  # VTG alone says nothing about where the receiver is
            return None
        primary = found[0]
        rmc = epoch.sentences.get("rmc")
        gga = epoch.sentences.get("gga")
        gns = epoch.sentences.get("gns")
        vtg = epoch.sentences.get("vtg")
        positioned = next((sentence for sentence in found if sentence.has_position), primary)
        fix_time = self._fix_time(epoch.time, rmc, now=now, monotonic=monotonic)
        speed = _first(rmc.speed_kmh if rmc else None, vtg.speed_kmh if vtg else None)
        course = _first(rmc.course if rmc else None, vtg.course if vtg else None)
        satellites = _first(gga.satellites if gga else None, gns.satellites if gns else None)
        hdop = _first(gga.hdop if gga else None, gns.hdop if gns else None)
        altitude = _first(gga.altitude_m if gga else None, gns.altitude_m if gns else None)
        return Fix(
            talker=positioned.talker, time=epoch.time, fix_time=fix_time, lat=positioned.lat, lon=positioned.lon,
            valid=all(sentence.valid for sentence in found), satellites=satellites, speed_kmh=speed, course=course,
            fix_quality=gga.fix_quality if gga else None, hdop=hdop, altitude_m=altitude,
            mode=_first(*(sentence.mode for sentence in found)), sentences=tuple(epoch.order))

    def _fix_time(self, moment: time | None, rmc: NmeaSentence | None, *, now: datetime,
                  monotonic: float) -> datetime | None:
        if moment is None:
            return None
        if rmc is not None and rmc.fix_time is not None:
            return rmc.fix_time
        if self._last_rmc is not None:
            last, at = self._last_rmc
            return nearest_day(moment, last + timedelta(seconds=monotonic - at))
        return nearest_day(moment, now)


class RateLimiter:
    """Which fixes to keep: see the module's docstring. `min_interval_s` 0 keeps every fix."""

    def __init__(self, min_interval_s: float, min_distance_m: float) -> None:
        self.min_interval_s = min_interval_s
        self.min_distance_m = min_distance_m
        self._last: tuple[datetime, Fix] | None = None

    def record(self, fix: Fix, at: datetime) -> None:
        """`fix` (at time `at`) was emitted: the next ones are measured from it."""
        self._last = (at, fix)

    def due(self, fix: Fix, at: datetime) -> bool:
        """Whether to emit `fix`, whose time is `at` (its fix time, or its receipt time without one)."""
        if self._last is None or self.min_interval_s == 0:
            return True
        last_at, last = self._last
        if fix.valid != last.valid:
            return True
        elapsed = (at - last_at).total_seconds()
        if elapsed < 0 or elapsed >= self.min_interval_s:  # a clock that went back is a restarted receiver
            return True
        if fix.lat is None or fix.lon is None or last.lat is None or last.lon is None:
            return False
        return distance_m(last.lat, last.lon, fix.lat, fix.lon) > self.min_distance_m
