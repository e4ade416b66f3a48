"""The position filters one by one, without a database (like Traccar's FilterHandler tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from central.model import StoredReading
from central.trackers.filters import (
    FUTURE,
    INVALID,
    MALFORMED,
    RANGE,
    STALE,
    ZERO,
    Fix,
    implied_speed_kmh,
    is_jump,
    static_reason,
)
from central.trackers.reports import PositionReport, parse_position, tracker_imei
from central.trackers.settings import TrackerSettings
from shaobing.envelope import Envelope, Kind

NOW = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
IMEI = "864717003664406"
SETTINGS = TrackerSettings()


def report(**data: Any) -> PositionReport:
    base: dict[str, Any] = {
        "lat": 22.5431, "lon": 114.0579, "fix_time": "2026-11-24T03:59:50Z", "valid": True, "satellites": 9,
        "speed_kmh": 12.0, "course": 90.0, "source": "gps", "cell": {"mcc": 460, "mnc": 0, "lac": 1, "cid": 2},
    }
    base.update(data)
    envelope = Envelope(site="gw-1", seq=1, device=IMEI, kind=Kind.POSITION, ts=NOW, rx=NOW, priority=5, data=base)
    return parse_position(StoredReading(id=1, envelope=envelope, stored_at=NOW), IMEI)


def reason(**data: Any) -> str | None:
    return static_reason(report(**data), now=NOW, settings=SETTINGS)


def test_a_good_fix_passes() -> None:
    assert reason() is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"valid": False}, INVALID),
        ({"valid": None}, INVALID),  # a device that does not say it is positioned is not taken for a fix
        ({"lat": 0.0, "lon": 0.0}, ZERO),
        ({"lat": 0, "lon": 0, "valid": False}, ZERO),
        ({"lat": 91.0}, RANGE),
        ({"lon": -180.5}, RANGE),
        ({"speed_kmh": -1}, RANGE),
        ({"speed_kmh": 5000}, RANGE),
        ({"course": 361}, RANGE),
        ({"satellites": -1}, RANGE),
        ({"satellites": 200}, RANGE),
        ({"fix_time": "2026-11-24T04:05:01Z"}, FUTURE),  # 301 s ahead
        ({"fix_time": "2000-01-01T00:00:00Z"}, STALE),  # a reset device clock
        ({"lat": "22.5"}, MALFORMED),
        ({"lat": True}, MALFORMED),
        ({"lon": None}, MALFORMED),  # a GPS report without both coordinates
        ({"satellites": 9.5}, MALFORMED),
        ({"satellites": 2**40}, MALFORMED),
        ({"valid": "yes"}, MALFORMED),
        ({"fix_time": "yesterday"}, MALFORMED),
        ({"fix_time": 1234}, MALFORMED),
        ({"fix_time": "9" * 500}, MALFORMED),
        ({"source": "wifi"}, MALFORMED),
        ({"cell": "460-0-1-2"}, MALFORMED),
        ({"cell": {"mcc": "460"}}, MALFORMED),
        ({"archived": "no"}, MALFORMED),
    ],
)
def test_each_filter(data: dict[str, Any], expected: str) -> None:
    assert reason(**data) == expected


def test_a_clock_a_little_fast_is_not_the_future() -> None:
    assert reason(fix_time="2026-11-24T04:04:59Z") is None


def test_future_and_stale_follow_the_settings() -> None:
    strict = TrackerSettings(future_s=10, stale_s=3600)
    assert static_reason(report(fix_time="2026-11-24T04:00:11Z"), now=NOW, settings=strict) == FUTURE
    assert static_reason(report(fix_time="2026-11-24T02:59:59Z"), now=NOW, settings=strict) == STALE
    assert static_reason(report(fix_time="2026-11-24T03:00:01Z"), now=NOW, settings=strict) is None


def test_a_cell_report_is_approximate_and_never_invalid_or_zero() -> None:
    cell = report(lat=None, lon=None, valid=False, source="lbs", satellites=None)
    assert (cell.is_gps, cell.valid, cell.has_coordinates) == (False, False, False)
    assert static_reason(cell, now=NOW, settings=SETTINGS) is None
    assert reason(lat=None, lon=None, source=None, valid=True) is None  # no coordinates, no source: a cell report
    assert reason(lat=None, lon=None, source="lbs", fix_time="2030-01-01T00:00:00Z") == FUTURE


def test_a_malformed_report_keeps_its_reading_time_and_says_why() -> None:
    bad = report(lat="x")
    assert bad.problem == "lat is not a number"
    assert (bad.fix_time, bad.lat, bad.valid) == (NOW, None, False)


def test_a_missing_fix_time_is_the_reading_time() -> None:
    assert report().fix_time == datetime(2026, 11, 24, 3, 59, 50, tzinfo=UTC)
    assert report(fix_time=None).fix_time == NOW


def _fix(seconds: float, east_m: float) -> Fix:
    # 1e-5 degrees of longitude at the equator is 1.113 m
    return Fix(NOW + timedelta(seconds=seconds), 0.0001, east_m / 111_195.0)


def test_implied_speed() -> None:
    assert implied_speed_kmh(_fix(0, 0), _fix(10, 100)) == pytest.approx(36.0, rel=1e-3)
    # the same time: over one second, never a division by zero
    assert implied_speed_kmh(_fix(0, 0), _fix(0, 10)) == pytest.approx(36.0, rel=1e-3)


def test_jump_by_implied_speed() -> None:
    assert not is_jump(_fix(10, 300), _fix(0, 0), None, max_speed_kmh=120)  # 108 km/h
    assert is_jump(_fix(10, 400), _fix(0, 0), None, max_speed_kmh=120)  # 144 km/h
    assert not is_jump(_fix(10, 5000), None, None, max_speed_kmh=120)  # nothing to compare with


def test_two_fixes_that_agree_outvote_the_accepted_one() -> None:
    wrong_accepted = _fix(0, 0)
    first_true = _fix(10, 5000)  # filtered as a jump from the wrong one
    second_true = _fix(20, 5020)
    assert is_jump(first_true, wrong_accepted, None, max_speed_kmh=120)
    assert not is_jump(second_true, wrong_accepted, first_true, max_speed_kmh=120)
    # a rejected fix older than the accepted one does not count
    assert is_jump(second_true, _fix(15, 0), first_true, max_speed_kmh=120)
    # nor one that disagrees with the candidate too
    assert is_jump(_fix(20, 9000), wrong_accepted, first_true, max_speed_kmh=120)


@pytest.mark.parametrize(
    ("kind", "device", "data", "expected"),
    [
        (Kind.POSITION, IMEI, {}, IMEI),
        (Kind.STATUS, IMEI, {}, IMEI),
        (Kind.ALARM, "x", {"source": "tracker", "zone": IMEI}, IMEI),
        (Kind.ALARM, IMEI, {"source": "tracker"}, IMEI),
        (Kind.ALARM, IMEI, {"source": "contact_id", "zone": 3}, None),
        (Kind.POSITION, "dev-1", {}, None),
        (Kind.POSITION, IMEI + "0", {}, None),
        (Kind.ALARM, "x", {"source": "tracker", "zone": int(IMEI)}, IMEI),
        (Kind.ALARM, "x", {"source": "tracker", "zone": ["list"]}, None),
        (Kind.DOOR, IMEI, {}, None),
    ],
)
def test_which_readings_speak_for_a_tracker(
    kind: Kind, device: str, data: dict[str, Any], expected: str | None
) -> None:
    envelope = Envelope(site="gw-1", seq=1, device=device, kind=kind, ts=NOW, rx=NOW, priority=5, data=data)
    assert tracker_imei(envelope) == expected
