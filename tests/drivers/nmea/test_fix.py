"""The epoch assembler (RMC + GGA + ... of one second into one fix) and the rate limiter."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from drivers.nmea.codec import checksum, parse_sentence
from drivers.nmea.fix import LATE_WINDOW_S, EpochAssembler, Fix, RateLimiter, nearest_day
from shaobing.geo import distance_m

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

# gpsd test/daemon/bu353-glonass.log: GGA comes first in each second, then GSA, RMC and ZDA; the fix is lost at 08:14:20
BU353 = """\
$GNRMC,081403.000,A,5541.1938,N,03737.2875,E,0.63,259.33,260514,,,A*7F
$GPZDA,081403.000,26,05,2014,,*5E
$GPGGA,081404.000,5541.1939,N,03737.2887,E,1,6,2.57,66.1,M,14.5,M,,*60
$GNGSA,A,3,03,19,27,13,,,,,,,,,2.75,2.57,1.00*11
$GNGSA,A,3,88,87,,,,,,,,,,,2.75,2.57,1.00*12
$GNRMC,081404.000,A,5541.1939,N,03737.2887,E,0.53,261.98,260514,,,A*7D
$GPZDA,081404.000,26,05,2014,,*59
$GPGGA,081405.000,5541.1941,N,03737.2893,E,1,6,2.57,66.0,M,14.5,M,,*6A
$GNRMC,081405.000,A,5541.1941,N,03737.2893,E,0.51,265.95,260514,,,A*7D
$GPGGA,081419.000,5541.1973,N,03737.2934,E,1,6,4.54,66.2,M,14.5,M,,*6D
$GNRMC,081419.000,A,5541.1973,N,03737.2934,E,0.40,342.94,260514,,,A*78
$GPGGA,081420.000,,,,,0,0,,,M,,M,,*47
$GNRMC,081420.000,V,,,,,0.00,340.16,260514,,,N*58
$GPGGA,081421.000,,,,,0,0,,,M,,M,,*46
$GNRMC,081421.000,V,,,,,0.00,357.84,260514,,,N*54
"""


def sentence(body: str) -> str:
    return f"${body}*{checksum(body)}"


class Feeder:
    """An assembler with a clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.assembler = EpochAssembler()
        self.now = now
        self.monotonic = 1000.0
        self.fixes: list[Fix] = []

    def feed(self, *lines: str, step: float = 0.0) -> list[Fix]:
        done = []
        for line in lines:
            if not line.strip():
                continue
            try:
                decoded = parse_sentence(line)
            except ValueError:  # GSA, ZDA: not decoded, as the driver skips them
                continue
            fix = self.assembler.feed(decoded, now=self.now, monotonic=self.monotonic)
            if fix is not None:
                done.append(fix)
            self.tick(step)
        self.fixes += done
        return done

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.monotonic += seconds

    def flush(self) -> Fix | None:
        fix = self.assembler.flush(now=self.now, monotonic=self.monotonic)
        if fix is not None:
            self.fixes.append(fix)
        return fix


def gga(at: str, quality: str = "1", lat: str = "3114.8770", lon: str = "12135.2463") -> str:
    ns, ew = ("N", "E") if lat else ("", "")
    return sentence(f"GNGGA,{at},{lat},{ns},{lon},{ew},{quality},07,1.1,190.7,M,8.3,M,,0000")


def rmc(at: str, day: str = "250215", status: str = "A", mode: str = "A") -> str:
    return sentence(f"GNRMC,{at},{status},3114.8770,N,12135.2463,E,0.30,4.94,{day},,,{mode}")


# -- merging ----------------------------------------------------------------------------------------------------------


def test_rmc_and_gga_of_one_second_make_one_fix_when_the_next_second_starts() -> None:
    feeder = Feeder()
    assert feeder.feed(rmc("074155.799"), gga("074155.799")) == []
    [fix] = feeder.feed(rmc("074156.799"))
    assert fix.sentences == ("rmc", "gga")
    assert fix.fix_time == datetime(2015, 2, 25, 7, 41, 55, 799_000, tzinfo=UTC)
    assert (fix.lat, fix.lon) == pytest.approx((31.24795, 121.58743833))
    assert fix.valid is True
    assert (fix.speed_kmh, fix.course) == (0.56, 4.94)  # from RMC
    assert (fix.satellites, fix.hdop, fix.altitude_m, fix.fix_quality) == (7, 1.1, 190.7, 1)  # from GGA
    assert fix.talker == "GN" and fix.mode == "A"
    assert feeder.assembler.pending


def test_a_real_receiver_log_merges_by_time_of_day_whatever_the_order() -> None:
    feeder = Feeder()
    feeder.feed(*BU353.splitlines())
    feeder.flush()
    assert [fix.time for fix in feeder.fixes] == [time(8, 14, s) for s in (3, 4, 5, 19, 20, 21)]
    assert [fix.sentences for fix in feeder.fixes] == [("rmc",)] + [("gga", "rmc")] * 5
    assert [fix.valid for fix in feeder.fixes] == [True, True, True, True, False, False]
    lost = feeder.fixes[4]
    assert (lost.lat, lost.lon, lost.satellites, lost.fix_quality, lost.course) == (None, None, 0, 0, 340.16)
    assert feeder.fixes[1].talker == "GN"  # the position of RMC is preferred to GGA's
    assert feeder.fixes[1].fix_time == datetime(2014, 5, 26, 8, 14, 4, tzinfo=UTC)


def test_gns_gll_and_vtg_fill_in_what_rmc_and_gga_would_give() -> None:
    feeder = Feeder()
    feeder.feed(sentence("GNGNS,120000.00,3114.8770,N,12135.2463,E,AAN,09,0.9,20.5,8.3,,"),
                sentence("GNVTG,10.5,T,,M,2.0,N,3.7,K,A"), sentence("GNGLL,3114.8770,N,12135.2463,E,120000.00,A,A"))
    fix = feeder.flush()
    assert fix is not None
    assert (fix.satellites, fix.hdop, fix.altitude_m, fix.mode) == (9, 0.9, 20.5, "AAN")
    assert (fix.speed_kmh, fix.course, fix.valid) == (3.7, 10.5, True)
    assert fix.sentences == ("gns", "vtg", "gll")


def test_one_sentence_saying_not_valid_makes_the_fix_not_valid() -> None:
    feeder = Feeder()
    feeder.feed(rmc("074155.799"), gga("074155.799", quality="6"))  # dead reckoning under a status A
    fix = feeder.flush()
    assert fix is not None and fix.valid is False and fix.lat is not None


def test_vtg_alone_is_no_fix() -> None:
    feeder = Feeder()
    feeder.feed(sentence("GPVTG,054.7,T,034.4,M,005.5,N,010.2,K"))
    assert feeder.flush() is None
    assert not feeder.assembler.pending


def test_sentences_without_a_time_split_where_a_type_repeats() -> None:
    feeder = Feeder()
    cold = sentence("GPRMC,,V,,,,,,,,,,N")
    empty_gga = sentence("GPGGA,,,,,,0,00,99.99,,,,,,")
    done = feeder.feed(cold, empty_gga, cold, empty_gga, cold)
    assert [fix.sentences for fix in done] == [("rmc", "gga"), ("rmc", "gga")]
    assert all(fix.fix_time is None and fix.lat is None and not fix.valid for fix in done)


def test_a_timeless_vtg_joins_the_open_epoch() -> None:
    feeder = Feeder()
    feeder.feed(gga("120000"), sentence("GPVTG,054.7,T,034.4,M,005.5,N,010.2,K"))
    [fix] = feeder.feed(gga("120001"))
    assert fix.sentences == ("gga", "vtg")
    assert fix.speed_kmh == 10.19


# -- dates for GGA without RMC ----------------------------------------------------------------------------------------


def test_gga_alone_takes_the_date_of_the_last_rmc() -> None:
    feeder = Feeder()  # the box's clock says 2026; the receiver said 2015 in its RMC
    feeder.feed(rmc("074155.799"), gga("074156.799"), step=1.0)
    fix = feeder.flush()
    assert fix is not None and fix.sentences == ("gga",)
    assert fix.fix_time == datetime(2015, 2, 25, 7, 41, 56, 799_000, tzinfo=UTC)


def test_gga_alone_just_after_midnight_takes_the_next_day() -> None:
    feeder = Feeder()
    feeder.feed(rmc("235959.00", day="311224"), step=2.0)
    feeder.feed(gga("000001.00"))
    fix = feeder.flush()
    assert fix is not None and fix.fix_time == datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_gga_without_any_rmc_takes_the_date_of_the_system_clock() -> None:
    feeder = Feeder(now=datetime(2026, 1, 2, 0, 0, 2, tzinfo=UTC))
    feeder.feed(gga("235958.00"))  # sent just before midnight, received just after
    fix = feeder.flush()
    assert fix is not None and fix.fix_time == datetime(2026, 1, 1, 23, 59, 58, tzinfo=UTC)
    feeder.feed(gga("000003.00"))
    fix = feeder.flush()
    assert fix is not None and fix.fix_time == datetime(2026, 1, 2, 0, 0, 3, tzinfo=UTC)


@pytest.mark.parametrize(("moment", "reference", "expected"), [
    (time(12, 0), datetime(2026, 3, 1, 12, 5, tzinfo=UTC), datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
    (time(23, 59), datetime(2026, 3, 1, 0, 1, tzinfo=UTC), datetime(2026, 2, 28, 23, 59, tzinfo=UTC)),
    (time(0, 1), datetime(2024, 2, 28, 23, 59, tzinfo=UTC), datetime(2024, 2, 29, 0, 1, tzinfo=UTC)),
])
def test_nearest_day(moment: time, reference: datetime, expected: datetime) -> None:
    assert nearest_day(moment, reference) == expected


# -- flushing and late sentences --------------------------------------------------------------------------------------


def test_a_sentence_of_an_epoch_already_flushed_is_dropped_not_made_a_second_fix() -> None:
    feeder = Feeder()
    feeder.feed(rmc("074155.799"))
    assert feeder.flush() is not None
    feeder.tick(0.3)
    assert feeder.feed(gga("074155.799")) == []
    assert feeder.assembler.late == 1 and not feeder.assembler.pending
    feeder.tick(LATE_WINDOW_S)  # a receiver whose clock is stuck still gets its epochs through
    feeder.feed(gga("074155.799"))
    assert feeder.assembler.pending and feeder.assembler.late == 1


# -- rate limiting ----------------------------------------------------------------------------------------------------


def at_second(second: float, lat: float | None = 31.0, lon: float | None = 121.0, valid: bool = True) -> Fix:
    moment = NOW + timedelta(seconds=second)
    return Fix(talker="GP", time=moment.time(), fix_time=moment, lat=lat, lon=lon, valid=valid)


def kept(limiter: RateLimiter, fixes: list[Fix]) -> list[float]:
    out = []
    for fix in fixes:
        assert fix.fix_time is not None
        if limiter.due(fix, fix.fix_time):
            limiter.record(fix, fix.fix_time)
            out.append((fix.fix_time - NOW).total_seconds())
    return out


def test_a_parked_receiver_at_1_hz_is_kept_every_min_interval() -> None:
    assert kept(RateLimiter(5, 50), [at_second(s) for s in range(21)]) == [0, 5, 10, 15, 20]


def test_a_10_hz_receiver_is_kept_every_min_interval() -> None:
    assert kept(RateLimiter(5, 50), [at_second(s / 10) for s in range(120)]) == [0, 5, 10]


def test_zero_interval_keeps_every_fix() -> None:
    assert kept(RateLimiter(0, 50), [at_second(s / 10) for s in range(12)]) == [s / 10 for s in range(12)]


def test_moving_further_than_min_distance_is_kept_at_once() -> None:
    metre = 1 / 111_195  # degrees of latitude in a metre
    fixes = [at_second(0), at_second(1, lat=31 + 30 * metre), at_second(2, lat=31 + 60 * metre),
             at_second(3, lat=31 + 100 * metre), at_second(4, lat=31 + 120 * metre)]
    assert kept(RateLimiter(5, 50), fixes) == [0, 2, 4]


def test_a_change_of_validity_is_kept_at_once() -> None:
    fixes = [at_second(0), at_second(1), at_second(2, None, None, False), at_second(3, None, None, False),
             at_second(4), at_second(6)]
    assert kept(RateLimiter(5, 50), fixes) == [0, 2, 4]


def test_a_clock_that_went_back_is_kept() -> None:
    assert kept(RateLimiter(5, 50), [at_second(100), at_second(101), at_second(10), at_second(11)]) == [100, 10]


def test_a_fix_not_recorded_does_not_restart_the_interval() -> None:
    limiter = RateLimiter(5, 50)
    first, second = at_second(0), at_second(1)
    assert limiter.due(first, NOW)  # say its submit failed: not recorded
    assert limiter.due(second, NOW + timedelta(seconds=1))


def test_distance() -> None:
    assert distance_m(31.0, 121.0, 32.0, 121.0) == pytest.approx(111_195, rel=1e-3)
    assert distance_m(0.0, 179.9999, 0.0, -179.9999) == pytest.approx(22.24, rel=1e-2)
    assert distance_m(31.24795, 121.58743833, 31.24795, 121.58743833) == 0
