"""The shapes of GT06 packets and the protocol's numbers (no parsing here).

One frozen dataclass carries every packet kind, with a `type` naming it: a tracker sends a handful of kinds that
share most fields (a GPS fix, a cell, the terminal status byte), and one shape keeps the readings and the decode
output simple. Fields a kind does not carry stay None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

START_SHORT = b"\x78\x78"  # one length byte
START_LONG = b"\x79\x79"  # two length bytes
STOP = b"\x0d\x0a"

LOGIN = 0x01
GPS = 0x10
GPS_LBS_LONG_CELL = 0x11  # GPS + a cell with a 2-byte MNC and a 4-byte cell id
GPS_LBS = 0x12
STATUS = 0x13
STRING = 0x15  # command reply (short form)
GPS_LBS_STATUS = 0x16  # alarm
LBS_PHONE = 0x17
LBS_EXTEND = 0x18
LBS_STATUS = 0x19  # cell + status + alarm, no GPS
GPS_PHONE = 0x1A  # GPS + "where is it" address request
STRING_INFO = 0x21  # command reply (long form, 79 79)
GPS_LBS_2 = 0x22  # GPS + LBS + ACC + upload mode + real-time/re-upload
HEARTBEAT = 0x23
GPS_LBS_STATUS_2 = 0x26
GPS_LBS_STATUS_3 = 0x27
LBS_MULTIPLE = 0x28
ADDRESS_REQUEST = 0x2A
COMMAND = 0x80
ADDRESS_RESPONSE = 0x97

LOCATION_PROTOCOLS = frozenset({GPS, GPS_LBS_LONG_CELL, GPS_LBS, GPS_PHONE, GPS_LBS_2})
ALARM_PROTOCOLS = frozenset({GPS_LBS_STATUS, GPS_LBS_STATUS_2, GPS_LBS_STATUS_3})
LBS_PROTOCOLS = frozenset({LBS_PHONE, LBS_EXTEND, LBS_STATUS, LBS_MULTIPLE})
STATUS_PROTOCOLS = frozenset({STATUS, HEARTBEAT})
REPLY_PROTOCOLS = frozenset({STRING, STRING_INFO})

# The alarm byte of 0x16 / 0x19 / 0x26 / 0x27 (Concox protocol documents; Traccar agrees except 0x09, which it calls
# vibration: the documents call it displacement, the bike being moved, which is what an e-bike owner must hear about).
ALARM_CLASSES: dict[int, str] = {
    0x01: "sos",
    0x02: "power_cut",
    0x03: "vibration",
    0x04: "geofence_enter",
    0x05: "geofence_exit",
    0x06: "overspeed",
    0x09: "displacement",
    0x0E: "low_battery",
    0x0F: "low_battery",
    0x11: "power_off",
    0x13: "tamper",
    0x14: "door",
    0x23: "fall_down",
    0x29: "acceleration",
    0x2A: "cornering",
    0x2B: "cornering",
    0x2C: "accident",
    0x30: "braking",
}
# The code a builder writes for each class (the first code of the class above).
ALARM_CODES: dict[str, int] = {}
for _code, _name in ALARM_CLASSES.items():
    ALARM_CODES.setdefault(_name, _code)
NO_ALARM = 0x00
ACC_ON, ACC_OFF = 0xFE, 0xFF  # state changes reported in the alarm byte: not alarms
UNKNOWN_ALARM = "general"  # a non-zero alarm code this table does not know (the raw code is kept beside it)

# Bits 3..5 of the terminal information byte: older firmware signals the alarm only there.
STATUS_ALARMS: dict[int, str] = {1: "vibration", 2: "power_cut", 3: "low_battery", 4: "sos"}
STATUS_ALARM_BITS: dict[str, int] = {name: bits for bits, name in STATUS_ALARMS.items()}


@dataclass(frozen=True, slots=True)
class Cell:
    """A GSM cell as the tracker reports it (the serving cell)."""

    mcc: int
    mnc: int
    lac: int
    cid: int

    def as_dict(self) -> dict[str, int]:
        return {"mcc": self.mcc, "mnc": self.mnc, "lac": self.lac, "cid": self.cid}


@dataclass(frozen=True, slots=True)
class TerminalInfo:
    """The terminal information byte with the voltage level and GSM strength that follow it."""

    armed: bool  # bit 0: defence (the tracker is guarding the bike)
    acc: bool  # bit 1: ignition
    charging: bool  # bit 2: on external power
    alarm_bits: int  # bits 3..5
    gps_tracking: bool  # bit 6
    oil_cut: bool  # bit 7: the relay has cut the motor
    voltage_level: int | None  # 0 (no power) .. 6 (full)
    gsm: int | None  # 0 (no signal) .. 4 (strong)


@dataclass(frozen=True, slots=True)
class Gt06Packet:
    """One packet as received. `type` is login, status, location, alarm, lbs, command_reply or address_request."""

    type: str
    protocol: int
    serial: int
    raw: bytes
    long_frame: bool = False  # 79 79 framing
    crc_ok: bool = True  # False only when parsed with the CRC check off (a lenient device)
    imei: str | None = None
    type_id: int | None = None
    timezone_minutes: int | None = None  # the device's offset east of UTC, from the login
    fix_time: datetime | None = None  # as the frame says, taken as UTC (see codec.py on device time zones)
    valid: bool | None = None
    lat: float | None = None
    lon: float | None = None
    satellites: int | None = None
    speed_kmh: int | None = None
    course: int | None = None
    acc: bool | None = None
    cell: Cell | None = None
    archived: bool = False
    status: TerminalInfo | None = None
    alarm: str | None = None
    alarm_code: int | None = None
    text: str | None = None
    server_flag: int | None = None
    battery_v: float | None = None  # 0x23 heartbeats carry volts instead of a level

    @property
    def has_position(self) -> bool:
        return self.lat is not None and self.lon is not None and self.fix_time is not None
