"""Build GT06 frames as a tracker sends them, and read the server's commands: used by tests and the tracker simulator.

Datetimes are timezone-aware and written as UTC. Coordinates are written as the protocol carries them: degrees times
1,800,000 (half-minutes / 30,000) unsigned, with the hemisphere in the course/status word (bit 10 north, bit 11 west,
bit 12 positioned).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from drivers.gt06.framing import unwrap
from drivers.gt06.message import (
    ALARM_CODES,
    COMMAND,
    GPS_LBS,
    GPS_LBS_2,
    GPS_LBS_STATUS,
    LBS_MULTIPLE,
    LBS_STATUS,
    LOGIN,
    NO_ALARM,
    STATUS,
    STATUS_ALARM_BITS,
    STRING,
    Cell,
)
from drivers.gt06.replies import encode_frame
from shaobing.errors import FrameError

__all__ = ["Cell", "alarm_frame", "command_reply_frame", "heartbeat_frame", "lbs_frame", "location_frame",
           "login_frame", "parse_command"]

DEFAULT_CELL = Cell(460, 0, 0x2866, 0x0EEE)
LANGUAGE_ENGLISH = 0x02
GPS_INFO_LENGTH = 12  # high nibble of the satellites byte: bytes of GPS information
COORDINATE_SCALE = 1_800_000


def login_frame(imei: str, serial: int, *, type_id: int = 0x3608, tz_minutes: int | None = 480) -> bytes:
    """0x01 with the IMEI in BCD, the model's type id and (unless `tz_minutes` is None) the time zone word."""
    if len(imei) != 15 or not imei.isdigit():
        raise ValueError("IMEI must be 15 digits")
    body = bytes.fromhex("0" + imei) + struct.pack(">H", type_id)
    if tz_minutes is not None:
        if abs(tz_minutes) > 14 * 60:
            raise ValueError("time zone offset out of range")
        hours, minutes = divmod(abs(tz_minutes), 60)
        word = (hours * 100 + minutes) << 4 | (0x08 if tz_minutes < 0 else 0) | LANGUAGE_ENGLISH
        body += struct.pack(">H", word)
    return encode_frame(LOGIN, body, serial)


def terminal_info(*, armed: bool, acc: bool, charging: bool, gps_tracking: bool, alarm_bits: int = 0,
                  oil_cut: bool = False) -> int:
    return (armed | acc << 1 | charging << 2 | (alarm_bits & 7) << 3 | gps_tracking << 6 | oil_cut << 7)


def heartbeat_frame(serial: int, *, voltage_level: int = 4, gsm: int = 4, charging: bool = True,
                    acc: bool = False, armed: bool = False, gps_tracking: bool = True) -> bytes:
    """0x13 status: terminal information, voltage level (0..6), GSM strength (0..4), no alarm, English."""
    info = terminal_info(armed=armed, acc=acc, charging=charging, gps_tracking=gps_tracking)
    body = bytes([info, _level(voltage_level, 6, "voltage_level"), _level(gsm, 4, "gsm")])
    return encode_frame(STATUS, body + bytes([NO_ALARM, LANGUAGE_ENGLISH]), serial)


def location_frame(serial: int, *, fix_time: datetime, lat: float, lon: float, speed_kmh: int = 0,
                   course: int = 0, satellites: int = 8, valid: bool = True, archived: bool = False,
                   cell: Cell = DEFAULT_CELL, acc: bool | None = None) -> bytes:
    """0x12 GPS + cell; 0x22 (adds ACC, upload mode, real-time / re-upload) when `archived` or `acc` is given."""
    body = _gps(fix_time, lat, lon, speed_kmh, course, satellites, valid) + _cell(cell)
    if not archived and acc is None:
        return encode_frame(GPS_LBS, body, serial)
    body += bytes([1 if acc else 0, 0x00, 0x01 if archived else 0x00])  # upload mode 0: at the set interval
    return encode_frame(GPS_LBS_2, body, serial)


def alarm_frame(serial: int, *, alarm: str, fix_time: datetime, lat: float, lon: float, valid: bool = True,
                speed_kmh: int = 0, course: int = 0, satellites: int = 8, cell: Cell = DEFAULT_CELL,
                armed: bool = True, voltage_level: int = 4, gsm: int = 4) -> bytes:
    """0x16 GPS + cell + status + alarm; `alarm` is a class name (sos, power_cut, vibration, displacement, ...)."""
    body = (_gps(fix_time, lat, lon, speed_kmh, course, satellites, valid) + bytes([9]) + _cell(cell)
            + _status_and_alarm(alarm, armed=armed, voltage_level=voltage_level, gsm=gsm))
    return encode_frame(GPS_LBS_STATUS, body, serial)


def lbs_frame(serial: int, *, fix_time: datetime, cell: Cell, alarm: str | None = None) -> bytes:
    """Without a GPS fix: 0x28 (time and the serving cell, no neighbours), or 0x19 (cell + status + alarm) when
    `alarm` is given. 0x19 carries no time: the server stamps it on receipt."""
    if alarm is not None:
        body = _cell(cell) + _status_and_alarm(alarm, armed=True, voltage_level=4, gsm=4)
        return encode_frame(LBS_STATUS, body, serial)
    mcc_mnc = _cell(cell)[:-5]
    serving = struct.pack(">H", cell.lac) + cell.cid.to_bytes(3, "big") + bytes([60])  # signal -60 dBm
    neighbours = bytes(6 * 6)  # lac 0: no neighbour
    body = _time(fix_time) + mcc_mnc + serving + neighbours + bytes([0]) + struct.pack(">H", LANGUAGE_ENGLISH)
    return encode_frame(LBS_MULTIPLE, body, serial)


def command_reply_frame(serial: int, *, server_flag: int, text: str) -> bytes:
    """0x15: the answer to a 0x80 command, echoing its server flag."""
    encoded = text.encode("utf-8")
    if len(encoded) > 255 - 4 - 12:
        raise ValueError("reply text too long for one frame")
    body = bytes([4 + len(encoded)]) + struct.pack(">I", server_flag) + encoded + struct.pack(">H", LANGUAGE_ENGLISH)
    return encode_frame(STRING, body, serial)


def parse_command(frame: bytes) -> tuple[int, str]:
    """(server flag, text) of a 0x80 command frame as the device receives it; FrameError if it is not one."""
    envelope = unwrap(frame)
    if envelope.protocol != COMMAND:
        raise FrameError(f"not a command: protocol 0x{envelope.protocol:02X}", frame)
    content = envelope.content
    if not content or content[0] < 4 or 1 + content[0] > len(content):
        raise FrameError("command length does not fit the frame", frame)
    server_flag = struct.unpack_from(">I", content, 1)[0]
    try:
        text = content[5:1 + content[0]].decode("ascii")
    except UnicodeDecodeError:
        raise FrameError("command text is not ASCII", frame) from None
    return server_flag, text


def _level(value: int, top: int, name: str) -> int:
    if not 0 <= value <= top:
        raise ValueError(f"{name} must be 0..{top}")
    return value


def _time(moment: datetime) -> bytes:
    if moment.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    utc = moment.astimezone(UTC)
    if not 2000 <= utc.year <= 2255:
        raise ValueError("year out of the protocol's range")
    return bytes([utc.year - 2000, utc.month, utc.day, utc.hour, utc.minute, utc.second])


def _gps(fix_time: datetime, lat: float, lon: float, speed_kmh: int, course: int, satellites: int,
         valid: bool) -> bytes:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("latitude or longitude out of range")
    if not 0 <= satellites <= 15 or not 0 <= speed_kmh <= 255:
        raise ValueError("satellites must be 0..15 and speed 0..255 km/h")
    flags = (course % 360) | valid << 12 | (lat >= 0) << 10 | (lon < 0) << 11
    return (_time(fix_time) + bytes([GPS_INFO_LENGTH << 4 | satellites])
            + struct.pack(">IIBH", round(abs(lat) * COORDINATE_SCALE), round(abs(lon) * COORDINATE_SCALE),
                          speed_kmh, flags))


def _cell(cell: Cell) -> bytes:
    """MCC, MNC (2 bytes, flagged by MCC bit 15, when it does not fit in one), LAC, 3-byte cell id."""
    if not 0 <= cell.cid <= 0xFFFFFF or not 0 <= cell.lac <= 0xFFFF or not 0 <= cell.mcc < 0x8000:
        raise ValueError("cell out of the protocol's range")
    wide = cell.mnc > 0xFF
    head = struct.pack(">HH", cell.mcc | 0x8000, cell.mnc) if wide else struct.pack(">HB", cell.mcc, cell.mnc)
    return head + struct.pack(">H", cell.lac) + cell.cid.to_bytes(3, "big")


def _status_and_alarm(alarm: str, *, armed: bool, voltage_level: int, gsm: int) -> bytes:
    if alarm not in ALARM_CODES:
        raise ValueError(f"unknown alarm class {alarm!r} (known: {', '.join(sorted(ALARM_CODES))})")
    info = terminal_info(armed=armed, acc=False, charging=alarm != "power_cut", gps_tracking=True,
                         alarm_bits=STATUS_ALARM_BITS.get(alarm, 0))
    return bytes([info, _level(voltage_level, 6, "voltage_level"), _level(gsm, 4, "gsm"), ALARM_CODES[alarm],
                  LANGUAGE_ENGLISH])
