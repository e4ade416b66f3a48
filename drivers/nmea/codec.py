"""NMEA 0183 position sentences (RMC, GGA, GNS, GLL, VTG) from GNSS receivers: parse one line, no I/O.

    $GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A

Design decisions (docs/protocols/nmea.md tells the whole policy):
- Hostile input is refused before any work that grows with it: a line longer than `MAX_SENTENCE` is refused on its
  length alone, non-ASCII and control characters inside the sentence are refused, and numbers are matched by strict
  patterns (Python's `float` would take "nan", "inf", "1e9" and "1_0").
- Anything before the last `$` is line noise (a receiver's power-up garbage, a cut-off sentence, a TAG block) and is
  dropped: `$` cannot occur inside a sentence. `!` starts an encapsulated (AIS) sentence: refused, with that reason.
- The checksum is required by default: every GNSS receiver sends one and a serial line flips bits. A sentence without
  `*hh` is accepted only with `require_checksum=False` (NMEA calls it optional); a wrong one is always refused.
- A well-formed sentence this codec does not decode (GSV, GSA, ZDA, TXT, proprietary `$P...`) raises
  `UnsupportedSentence`, a `FrameError` a driver may count without logging it: receivers send them every second.
- Fields after the last one a sentence type defines (NMEA 4.1's navigational status, a receiver's own additions)
  are ignored; fewer fields than the type defines is a refusal, so a truncated sentence cannot pass as a short one.
- "No fix" is never a position at 0,0: empty latitude and longitude fields give `lat`/`lon` None and `valid` False.
  `valid` is True only with a position and an indicator saying it is a real fix: RMC/GLL status A, a mode of A
  (autonomous), D (differential), F/R (RTK) or P (precise); GGA quality 1-5. E (estimated, dead reckoning), M
  (manual), S (simulator), N (no fix) and GGA qualities 0, 6, 7, 8 are not valid.
- Two-digit years: 80-99 are 19xx, 00-79 are 20xx. A leap second (ss = 60) is read as 59.999999 s so the fix is kept.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any, Final, NamedTuple

from shaobing.clock import format_ts
from shaobing.errors import FrameError

MAX_SENTENCE: Final = 256  # NMEA's own limit is 82 characters; high-precision receivers exceed it, none by this much
SAMPLE: Final = 64  # bytes of an over-long line kept in the refusal for the log
KNOTS_TO_KMH: Final = 1.852

# GNSS talkers: GPS, GLONASS, Galileo, BeiDou (NMEA 4.11 and the Chinese standard's BD), QZSS, NavIC, and combined.
TALKERS: Final = frozenset({"GP", "GL", "GA", "GB", "BD", "GQ", "GI", "GN"})
# Mode indicators that mean a real fix; E (estimated), M (manual), S (simulator) and N (no fix) do not.
VALID_MODES: Final = frozenset("ADFPR")
# GGA quality: 1 GPS, 2 differential, 3 PPS, 4 RTK fixed, 5 RTK float are fixes; 0 none, 6 estimated, 7 manual,
# 8 simulation are not.
VALID_QUALITIES: Final = frozenset({1, 2, 3, 4, 5})

_TIME = re.compile(r"(\d\d)(\d\d)(\d\d)(?:\.(\d{1,9}))?")
_DATE = re.compile(r"(\d\d)(\d\d)(\d\d)")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
_COORDINATE = re.compile(r"\d{3,5}(?:\.\d+)?")
_INTEGER = re.compile(r"\d{1,3}")
_ADDRESS = re.compile(r"[A-Z][A-Z0-9]{4}")
_HEX = frozenset("0123456789abcdefABCDEF")
_NOT_IN_A_SENTENCE = re.compile(r"[^\x20-\x7e]|[$!*]")  # control characters, and the delimiters


class UnsupportedSentence(FrameError):
    """A well-formed sentence (checksum right) of a kind this codec does not decode: not an error of the device."""


class NmeaSentence(NamedTuple):
    """One decoded sentence. Fields a sentence type does not carry are None.

    A named tuple rather than a frozen dataclass: as immutable, and built four times faster (a frozen dataclass
    sets each field through `object.__setattr__`), which is a sixth of the decode time."""

    type: str  # rmc, gga, gns, gll, vtg
    talker: str
    time: time | None = None
    date: date | None = None  # RMC only
    lat: float | None = None
    lon: float | None = None
    valid: bool = False
    satellites: int | None = None
    speed_kmh: float | None = None
    course: float | None = None
    fix_quality: int | None = None
    hdop: float | None = None
    altitude_m: float | None = None
    mode: str | None = None

    @property
    def fix_time(self) -> datetime | None:
        """Date and time of the fix in UTC, when the sentence carries both (RMC)."""
        if self.date is None or self.time is None:
            return None
        return datetime.combine(self.date, self.time, tzinfo=UTC)

    @property
    def has_position(self) -> bool:
        return self.lat is not None and self.lon is not None

    def to_dict(self) -> dict[str, Any]:
        fix_time = self.fix_time
        return {
            "type": self.type,
            "talker": self.talker,
            "lat": self.lat,
            "lon": self.lon,
            "fix_time": format_ts(fix_time) if fix_time is not None else None,
            "time": self.time.isoformat(timespec="milliseconds") if self.time is not None else None,
            "valid": self.valid,
            "satellites": self.satellites,
            "speed_kmh": self.speed_kmh,
            "course": self.course,
            "fix_quality": self.fix_quality,
            "hdop": self.hdop,
            "altitude_m": self.altitude_m,
            "mode": self.mode,
        }


# -- the frame: start, characters, checksum ------------------------------------------------------------------------


def _sentence_text(line: str | bytes) -> str:
    """The sentence from its `$` to the end, trailing whitespace removed, as ASCII text; refusals for the rest."""
    if len(line) > MAX_SENTENCE + 2:  # two for a CR LF
        raise FrameError(f"length: {len(line)} characters, more than {MAX_SENTENCE}", line[:SAMPLE])
    if isinstance(line, bytes | bytearray):
        start = max(line.rfind(b"$"), line.rfind(b"!"))
        raw = bytes(line[start:]) if start >= 0 else b""
        if start >= 0 and not raw.isascii():
            raise FrameError("character: non-ASCII byte in the sentence", line)
        text = raw.decode("ascii")
    else:
        start = max(line.rfind("$"), line.rfind("!"))
        text = line[start:] if start >= 0 else ""
        if not text.isascii():
            raise FrameError("character: non-ASCII character in the sentence", line)
    text = text.rstrip(" \t\r\n")
    if not text:
        raise FrameError("start: no '$' in the line", line)
    if text[0] == "!":
        raise FrameError(f"encapsulation: '!' sentences ({text[1:6]}, AIS) are not position sentences", line)
    return text


def checksum(body: str) -> str:
    """The two hex digits (upper case) of the XOR of every character between `$` and `*`."""
    data = body.encode("ascii")
    # XOR of all bytes without a Python loop over them: read them as one integer and fold it in halves (leading
    # zero bytes change nothing), so a 70-character sentence takes 7 folds instead of 70 steps
    value = int.from_bytes(data, "big")
    size = 1 << max(len(data) - 1, 0).bit_length()
    while size > 1:
        size >>= 1
        value = (value >> (size * 8)) ^ (value & _LOW_BYTES[size])
    return f"{value:02X}"


_LOW_BYTES: Final = {1 << power: (1 << (8 << power)) - 1 for power in range(16)}  # size in bytes -> mask


def _body(text: str, line: str | bytes, require_checksum: bool) -> str:
    """The characters between `$` and `*`, checked: printable, and matching the checksum when there is one."""
    star = text.find("*")
    body = text[1:] if star < 0 else text[1:star]
    bad = _NOT_IN_A_SENTENCE.search(body)
    if bad is not None:
        raise FrameError(f"character: {bad[0]!r} in the sentence", line)
    if star < 0:
        if require_checksum:
            raise FrameError("checksum: missing (no *hh at the end)", line)
        return body
    given = text[star + 1:]
    if len(given) != 2 or not set(given) <= _HEX:
        raise FrameError(f"checksum: malformed {'*' + given!r}, expected * and two hex digits at the end", line)
    computed = checksum(body)
    if given.upper() != computed:
        raise FrameError(f"checksum: computed {computed}, got {given.upper()}", line)
    return body


# -- fields ---------------------------------------------------------------------------------------------------------


def _time(field: str, line: str | bytes) -> time | None:
    if not field:
        return None
    found = _TIME.fullmatch(field)
    if found is None:
        raise FrameError(f"time: {field!r}, expected hhmmss or hhmmss.sss", line)
    hour, minute, second = int(found[1]), int(found[2]), int(found[3])
    micro = int((found[4] or "0").ljust(6, "0")[:6])
    if hour > 23 or minute > 59 or second > 60:
        raise FrameError(f"time: {field!r} out of range", line)
    if second == 60:  # a leap second: keep the fix, a microsecond early
        second, micro = 59, 999_999
    return time(hour, minute, second, micro)


def _date(field: str, line: str | bytes) -> date | None:
    if not field:
        return None
    found = _DATE.fullmatch(field)
    if found is None:
        raise FrameError(f"date: {field!r}, expected ddmmyy", line)
    day, month, year = int(found[1]), int(found[2]), int(found[3])
    try:
        return date(1900 + year if year >= 80 else 2000 + year, month, day)
    except ValueError:
        raise FrameError(f"date: {field!r} is not a date", line) from None


def _coordinate(value: str, hemisphere: str, name: str, limit: int, hemispheres: str,
                line: str | bytes) -> float | None:
    """Degrees from (d)ddmm.mmmm and its hemisphere letter; both empty is None (no fix)."""
    if not value and not hemisphere:
        return None
    if not value or not hemisphere:
        raise FrameError(f"{name}: {value!r} with hemisphere {hemisphere!r}: one without the other", line)
    if hemisphere not in hemispheres:
        raise FrameError(f"{name}: hemisphere {hemisphere!r}, expected {' or '.join(hemispheres)}", line)
    if _COORDINATE.fullmatch(value) is None:
        raise FrameError(f"{name}: {value!r}, expected {'d' * (len(str(limit)) - 1)}dmm.mmmm", line)
    degrees, minutes = divmod(float(value), 100)  # the pattern made sure float() reads only digits and a point
    if minutes >= 60:
        raise FrameError(f"{name}: {value!r}: minutes {minutes:g} not under 60", line)
    result = degrees + minutes / 60
    if result > limit:
        raise FrameError(f"{name}: {value!r}: {result:.6f} degrees, more than {limit}", line)
    result = round(result, 8)
    return -result if hemisphere in "SW" else result


def _number(field: str, name: str, line: str | bytes, low: float, high: float) -> float | None:
    if not field:
        return None
    if _NUMBER.fullmatch(field) is None:
        raise FrameError(f"{name}: {field!r} is not a number", line)
    value = float(field)
    if not low <= value <= high:
        raise FrameError(f"{name}: {field} out of range {low:g}..{high:g}", line)
    return value


def _integer(field: str, name: str, line: str | bytes) -> int | None:
    if not field:
        return None
    if _INTEGER.fullmatch(field) is None:
        raise FrameError(f"{name}: {field!r} is not a count", line)
    return int(field)


def _speed_kmh(knots: str, line: str | bytes) -> float | None:
    value = _number(knots, "speed", line, 0, 10_000)
    return None if value is None else round(value * KNOTS_TO_KMH, 2)


def _course(field: str, line: str | bytes) -> float | None:
    return _number(field, "course", line, 0, 360)


def _mode(field: str, line: str | bytes, *, many: bool = False) -> str | None:
    """A mode indicator letter (GNS: one letter per constellation)."""
    if not field:
        return None
    if not (field.isalpha() and field.isupper() and len(field) <= (8 if many else 1)):
        raise FrameError(f"mode: {field!r}, expected {'letters' if many else 'one letter'} A-Z", line)
    return field


def _status_valid(field: str, line: str | bytes) -> bool:
    if field not in ("A", "V"):
        raise FrameError(f"status: {field!r}, expected A (valid) or V (warning)", line)
    return field == "A"


def _position(fields: list[str], at: int, line: str | bytes) -> tuple[float | None, float | None]:
    """Latitude and longitude from the four fields starting at `at`: both, or neither."""
    lat = _coordinate(fields[at], fields[at + 1], "lat", 90, "NS", line)
    lon = _coordinate(fields[at + 2], fields[at + 3], "lon", 180, "EW", line)
    if (lat is None) != (lon is None):
        raise FrameError("position: latitude and longitude must both be given or both be empty", line)
    return lat, lon


def _altitude(value: str, unit: str, line: str | bytes) -> float | None:
    altitude = _number(value, "altitude", line, -10_000, 100_000)
    if altitude is not None and unit not in ("M", ""):
        raise FrameError(f"altitude: unit {unit!r}, expected M", line)
    return altitude


# -- sentence types -------------------------------------------------------------------------------------------------
# Each takes the fields after the address (fields[0] is the first data field) and the talker.


def _rmc(talker: str, f: list[str], line: str | bytes) -> NmeaSentence:
    # time, status, lat, N/S, lon, E/W, speed (knots), course, date, magnetic variation, E/W[, mode[, nav status]]
    status = _status_valid(f[1], line)
    lat, lon = _position(f, 2, line)
    mode = _mode(f[11], line) if len(f) > 11 else None
    return NmeaSentence(
        type="rmc", talker=talker, time=_time(f[0], line), date=_date(f[8], line), lat=lat, lon=lon,
        valid=status and lat is not None and (mode is None or mode in VALID_MODES),
        speed_kmh=_speed_kmh(f[6], line), course=_course(f[7], line), mode=mode)


def _gga(talker: str, f: list[str], line: str | bytes) -> NmeaSentence:
    # time, lat, N/S, lon, E/W, quality, satellites, hdop, altitude, M, geoid separation, M, age, station
    lat, lon = _position(f, 1, line)
    quality = _integer(f[5], "quality", line)
    if quality is not None and quality > 8:
        raise FrameError(f"quality: {quality}, expected 0-8", line)
    return NmeaSentence(
        type="gga", talker=talker, time=_time(f[0], line), lat=lat, lon=lon,
        valid=lat is not None and quality in VALID_QUALITIES, satellites=_integer(f[6], "satellites", line),
        fix_quality=quality, hdop=_number(f[7], "hdop", line, 0, 999), altitude_m=_altitude(f[8], f[9], line))


def _gns(talker: str, f: list[str], line: str | bytes) -> NmeaSentence:
    # time, lat, N/S, lon, E/W, mode (a letter per constellation), satellites, hdop, altitude, geoid separation,
    # age, station[, nav status]
    lat, lon = _position(f, 1, line)
    mode = _mode(f[5], line, many=True)
    return NmeaSentence(
        type="gns", talker=talker, time=_time(f[0], line), lat=lat, lon=lon,
        valid=lat is not None and mode is not None and any(letter in VALID_MODES for letter in mode),
        satellites=_integer(f[6], "satellites", line), hdop=_number(f[7], "hdop", line, 0, 999),
        altitude_m=_altitude(f[8], "", line), mode=mode)


def _gll(talker: str, f: list[str], line: str | bytes) -> NmeaSentence:
    # lat, N/S, lon, E/W, time, status[, mode]
    lat, lon = _position(f, 0, line)
    status = _status_valid(f[5], line)
    mode = _mode(f[6], line) if len(f) > 6 else None
    return NmeaSentence(
        type="gll", talker=talker, time=_time(f[4], line), lat=lat, lon=lon,
        valid=status and lat is not None and (mode is None or mode in VALID_MODES), mode=mode)


def _vtg(talker: str, f: list[str], line: str | bytes) -> NmeaSentence:
    # course true, T, course magnetic, M, speed knots, N[, speed km/h, K[, mode]]: no position, so never `valid`
    speed = _speed_kmh(f[4], line)
    if speed is None and len(f) > 6:
        kmh = _number(f[6], "speed", line, 0, 20_000)
        speed = None if kmh is None else round(kmh, 2)
    return NmeaSentence(type="vtg", talker=talker, course=_course(f[0], line), speed_kmh=speed,
                        mode=_mode(f[8], line) if len(f) > 8 else None)


# type -> (decoder, the number of data fields the type defines at least)
_DECODERS: Final = {
    "RMC": (_rmc, 11),
    "GGA": (_gga, 14),
    "GNS": (_gns, 12),
    "GLL": (_gll, 6),
    "VTG": (_vtg, 6),  # the km/h pair and the mode came later; receivers still send the short form
}


def parse_sentence(line: str | bytes, *, require_checksum: bool = True) -> NmeaSentence:
    """Decode one line; FrameError (UnsupportedSentence for well-formed sentences of other kinds) with the reason."""
    text = _sentence_text(line)
    fields = _body(text, line, require_checksum).split(",")
    address = fields[0]
    if address.startswith("P"):
        raise UnsupportedSentence(f"unsupported: proprietary sentence {address}", line)
    if _ADDRESS.fullmatch(address) is None:
        raise FrameError(f"address: {address!r}, expected a talker and a sentence type such as GPRMC", line)
    talker, kind = address[:2], address[2:]
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise UnsupportedSentence(f"unsupported: {kind} sentence (decoded: {', '.join(_DECODERS)})", line)
    if talker not in TALKERS:
        raise UnsupportedSentence(f"unsupported: talker {talker} is not a satellite navigation receiver", line)
    decode, needed = decoder
    data = fields[1:]
    if len(data) < needed:
        raise FrameError(f"fields: {kind} has {len(data)} fields, needs at least {needed}", line)
    return decode(talker, data, line)


def decode_for_cli(line: str) -> dict[str, Any]:
    """One captured line for `shaobing decode nmea`; a refused sentence raises FrameError (checksum required)."""
    return parse_sentence(line).to_dict()
