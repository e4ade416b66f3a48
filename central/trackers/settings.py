"""Settings of central's tracker core (the `[trackers]` table of the central config).

The defaults are chosen for e-bikes reporting every 10 s through GT06 trackers:
- `theft_distance_m` 100 and `theft_fixes` 2: a parked receiver wanders a few metres and multipath throws single fixes
  30-80 m away for a few seconds; a thief riding off at 15 km/h is 100 m away within 25 s, so two consecutive fixes
  beyond 100 m cost one report interval of latency and no false alarms.
- `max_speed_kmh` 120: the jump filter must let through a stolen bike carried off in a van on an expressway (China's
  limit is 120 km/h), while a fix kilometres away ten seconds later (implied speed in the thousands) is a jump.
- `future_s` 300: a device clock a few minutes fast is common; more than that is a wrong clock, not a fix.
- `anchor_settling_s` 60 and `anchor_memory_s` 300: a multipath episode lasts 5-40 s; an anchor settled over a
  minute of fix time (not six fixes, six seconds at 1 s) and remembering five minutes (not thirty fixes) behaves the
  same at every report interval.
- `stale_s` a week: trackers whose clock was reset report fixes in 2000 or 1980; a device buffer holds about 14 hours.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shaobing.config import Closed


class TrackerSettings(Closed):
    # The theft rule: `theft_fixes` consecutive counting fixes beyond `theft_distance_m` from the anchor.
    theft_distance_m: float = Field(default=100.0, ge=20, le=10_000)
    theft_fixes: int = Field(default=2, ge=1, le=20)
    # A fix counts for the theft rule only with this many satellites (and an HDOP up to max_hdop when reported).
    min_satellites: int = Field(default=4, ge=0, le=64)
    max_hdop: float | None = Field(default=5.0, gt=0, le=100)
    # The anchor is the mean of the counting fixes inside the radius, the newest weighing 1/anchor_window at least ...
    anchor_window: int = Field(default=30, ge=1, le=1000)
    # ... but, once settled, at most its share (the time since the fix before it) of the fix time since anchoring, up
    # to anchor_memory_s: a mean over minutes whatever the report interval (at 10 s, 1/n then 10/300 = 1/30).
    anchor_memory_s: float = Field(default=300.0, ge=10, le=86_400)
    # The anchor settles over this much fix time (and 6 fixes at least): longer than a multipath episode (5-40 s), so
    # a bike armed during one, even reporting every second, is not anchored on it. While settling, the newest fix
    # weighs 1/6 at least: the anchor follows where the bike has been over its last few fixes.
    anchor_settling_s: float = Field(default=60.0, ge=0, le=3600)
    # A fix reported faster than this never refines the anchor (a standing receiver reports 0-4 km/h of noise).
    parked_speed_kmh: float = Field(default=5.0, ge=0, le=50)
    # Arming takes the current fix as the anchor when it is at most this old; otherwise the next counting fix.
    anchor_max_age_s: float = Field(default=120.0, ge=0, le=86_400)
    # Whether fixes re-uploaded from a device's buffer can raise a theft (it moved while the network was gone); the
    # theft is reported late and marked so.
    archived_thefts: bool = True
    # A theft raised from a reading this much older than its arrival (or from a re-upload) is marked late.
    late_after_s: float = Field(default=120.0, gt=0, le=86_400)
    # An unacknowledged theft goes to 110 after [rules] escalate_after, like a burglary (false: only when confirmed).
    escalate_thefts: bool = True
    # Filters.
    max_speed_kmh: float = Field(default=120.0, gt=0, le=2000)
    future_s: float = Field(default=300.0, ge=0, le=86_400)
    stale_s: float = Field(default=7 * 86_400.0, gt=0, le=366 * 86_400)
    # A position already stored (same IMEI, source and fix time) is kept marked "duplicate", or not stored at all
    # (its reading is kept either way).
    duplicates: Literal["keep", "drop"] = "keep"
