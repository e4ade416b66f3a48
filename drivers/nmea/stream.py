"""One receiver's lines, turned into position readings: decode, merge each epoch, rate-limit, submit. No transport.

Both transports (a serial receiver, a TCP tracker) feed lines here and call `flush` when the line goes quiet or away.
NMEA has no acknowledgement, but `line` still awaits each reading's `submit` before it returns, so a slow outbox
slows the reading of the port (back-pressure) instead of growing a queue in memory.

Sentences the codec does not decode (GSV, GSA, proprietary ones) are counted as `ignored`, not refused: receivers
send them every second. Refusals are logged with their bytes, but a run of them (a receiver at the wrong baud rate
sends nothing else) is logged for its first `LOUD_REFUSALS` lines only, then counted quietly and summed up once a
good sentence arrives.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

from drivers.base import DriverContext, OutboxRefused
from drivers.nmea.codec import UnsupportedSentence, parse_sentence
from drivers.nmea.fix import EpochAssembler, Fix, RateLimiter
from drivers.nmea.options import NmeaOptions
from shaobing.clock import format_ts
from shaobing.envelope import Kind, Reading
from shaobing.errors import FrameError

LOUD_REFUSALS: Final = 5


def position_data(fix: Fix) -> dict[str, Any]:
    """The `data` of a position reading (the contract's fields, then NMEA's own)."""
    return {
        "lat": fix.lat,
        "lon": fix.lon,
        "fix_time": format_ts(fix.fix_time) if fix.fix_time is not None else None,
        "valid": fix.valid,
        "satellites": fix.satellites,
        "speed_kmh": fix.speed_kmh,
        "course": fix.course,
        "source": "gps",
        "hdop": fix.hdop,
        "altitude_m": fix.altitude_m,
        "fix_quality": fix.fix_quality,
        "mode": fix.mode,
        "protocol": "nmea",
        "talker": fix.talker,
    }


class RefusalLog:
    """Counts every refusal; logs the first few of a run with their bytes, then only how many more there were."""

    def __init__(self, ctx: DriverContext, source: str) -> None:
        self._ctx = ctx
        self._source = source
        self._run = 0

    @property
    def run(self) -> int:
        """Refusals since the last good sentence."""
        return self._run

    def refused(self, error: FrameError) -> None:
        self._run += 1
        if self._run <= LOUD_REFUSALS:
            self._ctx.refused(error, self._source)
        else:  # counted under the same name DriverContext.refused uses
            self._ctx.stats.count(f"refused:{re.split(r'[:(]', error.reason, maxsplit=1)[0].strip()}")

    def good(self) -> None:
        if self._run > LOUD_REFUSALS:
            self._ctx.log.warning("nmea %s: %d more lines refused before this good one (not logged one by one)",
                                  self._source, self._run - LOUD_REFUSALS)
        self._run = 0


class PositionStream:
    """The sentences of one device (a receiver on a port, a tracker on a connection) as position readings."""

    def __init__(self, device: str, options: NmeaOptions, ctx: DriverContext, *, source: str) -> None:
        self.device = device
        self._options = options
        self._ctx = ctx
        self._assembler = EpochAssembler()
        self._limiter = RateLimiter(options.min_interval_s, options.min_distance_m)
        self.refusals = RefusalLog(ctx, source)

    @property
    def pending(self) -> bool:
        """An epoch is open: the transport calls `flush` if the line stays quiet."""
        return self._assembler.pending

    async def line(self, line: bytes) -> bool:
        """Handle one line; True if it was a sentence this driver decodes."""
        try:
            sentence = parse_sentence(line, require_checksum=self._options.require_checksum)
        except UnsupportedSentence:
            self.refusals.good()  # well formed: the line is working
            self._ctx.stats.count("ignored")
            return False
        except FrameError as error:
            self.refusals.refused(error)
            return False
        self.refusals.good()
        self._ctx.stats.count("sentences")
        late = self._assembler.late
        fix = self._assembler.feed(sentence, now=self._ctx.clock.now(), monotonic=self._ctx.clock.monotonic())
        if self._assembler.late != late:
            self._ctx.stats.count("late_sentences")
        if fix is not None:
            await self._emit(fix)
        return True

    async def flush(self) -> None:
        """Close the open epoch (the line went quiet or away) and emit its fix if due."""
        fix = self._assembler.flush(now=self._ctx.clock.now(), monotonic=self._ctx.clock.monotonic())
        if fix is not None:
            await self._emit(fix)

    async def _emit(self, fix: Fix) -> None:
        ctx = self._ctx
        ctx.stats.count("fixes")
        rx = ctx.clock.now()
        at: datetime = fix.fix_time or rx
        if not self._limiter.due(fix, at):
            ctx.stats.count("rate_limited")
            return
        reading = Reading(device=self.device, kind=Kind.POSITION, data=position_data(fix), ts=at, rx=rx)
        try:
            seq = await ctx.sink.submit(reading)
        except OutboxRefused as exc:
            # a position has no retry (NMEA has no acknowledgement): the next fix is sent instead
            ctx.stats.count("outbox_refused")
            ctx.log.warning("nmea %s: position not committed (%s); dropped", self.device, exc)
            return
        except Exception:
            ctx.stats.count("submit_failed")
            ctx.log.exception("nmea %s: position not committed; dropped", self.device)
            return
        self._limiter.record(fix, at)
        ctx.stats.count("accepted")
        ctx.log.debug("nmea %s: fix %s %s,%s valid=%s -> seq %d", self.device, format_ts(at), fix.lat, fix.lon,
                      fix.valid, seq)
