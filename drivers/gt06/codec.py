"""GT06 packets from frames, with no I/O, and the decode output for the command line.

A frame's envelope (start, length, stop, CRC) is checked by `framing.unwrap`; here the content of each supported
protocol number is read. Layouts follow Concox's protocol documents as Traccar decodes them:

- 0x01 login: IMEI in 8 BCD bytes (16 digits, the first a padding 0), then optionally the model's type id and a
  time zone / language word (offset in hours*100+minutes in the top 12 bits, bit 3 set = west);
- 0x13 status: terminal information byte, voltage level 0..6, GSM strength 0..4, alarm, language; 0x23 (GK310
  heartbeat): terminal information, battery volts*100, GSM strength;
- GPS block (0x10, 0x11, 0x12, 0x16, 0x1A, 0x22, 0x26, 0x27, 0x2A): date-time YY MM DD hh mm ss, a byte of GPS
  information length (high nibble) and satellites (low nibble), latitude and longitude as unsigned degrees*1,800,000,
  speed km/h, and a course/status word: course in bits 0..9, bit 10 north, bit 11 west, bit 12 positioned, bit 14
  "bit 15 is ACC";
- cell: MCC (bit 15 set = the MNC takes 2 bytes), MNC, LAC, 3-byte cell id (0x11: 2-byte MNC, 4-byte cell id);
  the alarm packets put a length byte before it (counting itself);
- 0x22 adds ACC, upload mode and real-time (0) / re-upload (1): a re-upload is `archived`, a fix the device kept
  while it could not send;
- alarms (0x16, 0x26, 0x27, and the cell-only 0x19): terminal information, voltage level, GSM, the alarm byte
  (`message.ALARM_CLASSES`); with a zero alarm byte, older firmware signals the alarm in bits 3..5 of the terminal
  information byte; FE / FF are not alarms but the ignition switched on / off, kept as `acc`;
- cell-only positions: 0x17 (a cell, then a phone number), 0x18 / 0x28 (time, MCC, MNC, seven cells with signal:
  the serving one first);
- command replies: 0x15 (length, server flag, ASCII text, language) and 0x21 in a 79 79 frame (server flag,
  encoding 1 ASCII / 2 UTF-16BE, text).

Range checks refuse what cannot be a reading: an impossible date or time, a latitude beyond 90 or a longitude
beyond 180 degrees, content too short for its protocol. Any other protocol number raises `UnsupportedProtocol`
(a FrameError that says whether the envelope was intact, so the driver can still answer it as Traccar does).

Time: the date-time is read as UTC, as Concox's documents specify. Some firmware sends local time instead; the login's
time zone word is kept (`timezone_minutes`) so the driver can apply it to such devices (its `device_time` option).

CRC policy: `parse_frame` refuses a frame whose CRC does not match ("CRC mismatch: frame says 0x.... computed
0x...."); the driver passes `check_crc=False` only for devices configured as lenient (clones with broken CRCs).
"""

from __future__ import annotations

import struct
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from drivers.gt06.framing import Envelope, unwrap
from drivers.gt06.message import (
    ACC_OFF,
    ACC_ON,
    ADDRESS_REQUEST,
    ALARM_CLASSES,
    ALARM_PROTOCOLS,
    GPS,
    GPS_LBS,
    GPS_LBS_2,
    GPS_LBS_LONG_CELL,
    GPS_PHONE,
    HEARTBEAT,
    LBS_EXTEND,
    LBS_MULTIPLE,
    LBS_PHONE,
    LBS_STATUS,
    LOGIN,
    NO_ALARM,
    STATUS,
    STATUS_ALARMS,
    STRING,
    STRING_INFO,
    UNKNOWN_ALARM,
    Cell,
    Gt06Packet,
    TerminalInfo,
)
from drivers.gt06.replies import address_response, needs_reply, reply
from drivers.hex_frames import frame_from_hex
from shaobing.errors import FrameError

COORDINATE_SCALE = 1_800_000.0
MULTI_CELLS = 7  # 0x18 / 0x28: the serving cell and six neighbours


class UnsupportedProtocol(FrameError):
    """An intact frame of a protocol number this codec does not decode."""

    def __init__(self, envelope: Envelope, frame: bytes) -> None:
        super().__init__(f"unsupported protocol 0x{envelope.protocol:02X}", frame)
        self.envelope = envelope


class _Reader:
    """Reads the content of one frame; running out is a FrameError naming what was missing."""

    __slots__ = ("data", "frame", "offset")

    def __init__(self, data: bytes, frame: bytes) -> None:
        self.data = data
        self.frame = frame
        self.offset = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.offset

    def take(self, count: int, what: str) -> bytes:
        if self.remaining < count:
            raise FrameError(f"content too short for {what}: {self.remaining} of {count} bytes left", self.frame)
        chunk = self.data[self.offset:self.offset + count]
        self.offset += count
        return chunk

    def byte(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        value: int = struct.unpack(">H", self.take(2, what))[0]
        return value


def parse_frame(frame: bytes, *, check_crc: bool = True) -> Gt06Packet:
    """The packet in one complete frame; FrameError (or UnsupportedProtocol) when refused."""
    envelope = unwrap(frame, check_crc=check_crc)
    parser = _PARSERS.get(envelope.protocol)
    if parser is None or (envelope.long_frame != (envelope.protocol == STRING_INFO)):
        raise UnsupportedProtocol(envelope, frame)
    packet = Gt06Packet(type="", protocol=envelope.protocol, serial=envelope.serial, raw=frame,
                        long_frame=envelope.long_frame, crc_ok=envelope.crc_ok)
    reader = _Reader(envelope.content, frame)
    return parser(packet, reader)


def reply_for(packet: Gt06Packet) -> bytes | None:
    """What the server answers to `packet` (see replies.py), or None."""
    if packet.protocol == ADDRESS_REQUEST:
        return address_response(packet.serial)
    if not needs_reply(packet.protocol):
        return None
    return reply(packet.protocol, packet.serial, long_frame=packet.long_frame)


# --- the parts packets share


def _bcd_imei(raw: bytes, frame: bytes) -> str:
    digits = raw.hex()
    if not digits.isdigit():
        raise FrameError(f"IMEI is not BCD: {digits}", frame)
    return digits[1:]


def _timezone_minutes(word: int) -> int | None:
    """Minutes east of UTC from the login's time zone word; None when the word is not a sane offset."""
    hours, minutes = divmod(word >> 4, 100)
    if hours > 14 or minutes >= 60:
        return None
    offset = hours * 60 + minutes
    return -offset if word & 0x08 else offset


def _datetime(raw: bytes, frame: bytes) -> datetime:
    year, month, day, hour, minute, second = raw
    try:
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise FrameError(f"impossible date-time {raw.hex(' ')} (YY MM DD hh mm ss)", frame) from None


def _gps(packet: Gt06Packet, reader: _Reader) -> Gt06Packet:
    fix_time = _datetime(reader.take(6, "the GPS date-time"), reader.frame)
    satellites = reader.byte("the satellites") & 0x0F
    lat = struct.unpack(">I", reader.take(4, "the latitude"))[0] / COORDINATE_SCALE
    lon = struct.unpack(">I", reader.take(4, "the longitude"))[0] / COORDINATE_SCALE
    speed = reader.byte("the speed")
    flags = reader.u16("the course/status")
    if lat > 90 or lon > 180:
        raise FrameError(f"position out of range: lat {lat:.6f} lon {lon:.6f}", reader.frame)
    return replace(packet, fix_time=fix_time, satellites=satellites, speed_kmh=speed, course=flags & 0x3FF,
                   valid=bool(flags & 0x1000), lat=lat if flags & 0x0400 else -lat,
                   lon=-lon if flags & 0x0800 else lon, acc=bool(flags & 0x8000) if flags & 0x4000 else None)


def _cell(reader: _Reader, *, long_cell: bool = False) -> Cell:
    mcc = reader.u16("the MCC")
    mnc = reader.u16("the MNC") if mcc & 0x8000 or long_cell else reader.byte("the MNC")
    lac = reader.u16("the LAC")
    cid_raw = reader.take(4 if long_cell else 3, "the cell id")
    return Cell(mcc=mcc & 0x7FFF, mnc=mnc, lac=lac, cid=int.from_bytes(cid_raw, "big"))


def _terminal_info(byte: int, voltage_level: int | None, gsm: int | None) -> TerminalInfo:
    return TerminalInfo(armed=bool(byte & 0x01), acc=bool(byte & 0x02), charging=bool(byte & 0x04),
                        alarm_bits=(byte >> 3) & 0x07, gps_tracking=bool(byte & 0x40), oil_cut=bool(byte & 0x80),
                        voltage_level=voltage_level, gsm=gsm)


def _status_and_alarm(packet: Gt06Packet, reader: _Reader) -> Gt06Packet:
    info = reader.byte("the terminal information")
    status = _terminal_info(info, reader.byte("the voltage level"), reader.byte("the GSM strength"))
    code = reader.byte("the alarm") if reader.remaining else NO_ALARM
    # FE / FF report the ignition switched on / off: not alarms, but the bike's ACC (a theft signal while armed)
    acc = code == ACC_ON if code in (ACC_ON, ACC_OFF) else packet.acc
    return replace(packet, status=status, alarm=_alarm_class(code, status), alarm_code=code, acc=acc)


def _alarm_class(code: int, status: TerminalInfo) -> str | None:
    if code in (NO_ALARM, ACC_ON, ACC_OFF):
        return STATUS_ALARMS.get(status.alarm_bits) if code == NO_ALARM else None
    return ALARM_CLASSES.get(code, UNKNOWN_ALARM)


# --- one parser per protocol


def _login(packet: Gt06Packet, reader: _Reader) -> Gt06Packet:
    imei = _bcd_imei(reader.take(8, "the IMEI"), reader.frame)
    type_id = reader.u16("the type id") if reader.remaining >= 2 else None
    timezone = _timezone_minutes(reader.u16("the time zone")) if reader.remaining >= 2 else None
    return replace(packet, type="login", imei=imei, type_id=type_id, timezone_minutes=timezone)


def _status(packet: Gt06Packet, reader: _Reader) -> Gt06Packet:
    return replace(_status_and_alarm(packet, reader), type="status")


def _heartbeat(packet: Gt06Packet, reader: _Reader) -> Gt06Packet:
    info = reader.byte("the terminal information")
    volts = reader.u16("the battery voltage") / 100 if reader.remaining >= 2 else None
    gsm = reader.byte("the GSM strength") if reader.remaining >= 1 else None
    return replace(packet, type="status", status=_terminal_info(info, None, gsm), battery_v=volts)


def _location(packet: Gt06Packet, reader: _Reader) -> Gt06Packet:
    packet = replace(_gps(packet, reader), type="location")
    if packet.protocol in (GPS, GPS_PHONE):
        return packet  # no cell: GPS only, or GPS and the phone number asking "where is it"
    packet = replace(packet, cell=_cell(reader, long_cell=packet.protocol == GPS_LBS_LONG_CELL))
    if packet.protocol == GPS_LBS_2 and reader.remaining >= 3:
        acc = reader.byte("the ACC") > 0
        reader.byte("the upload mode")
        packet = replace(packet, acc=acc, archived=reader.byte("the re-upload flag") > 0)
    return packet


def _alarm(packet: Gt06Packet, reader: _Reader) -> Gt06Packet:
    packet = replace(_gps(packet, reader), type="alarm")
    start = reader.offset
    cell_length = reader.byte("the cell length")  # counts itself: 9 for the usual 8 bytes of cell
    if cell_length:
        packet = replace(packet, cell=_cell(reader))
        reader.take(max(0, cell_length - (reader.offset - start)), "the rest of the cell")
    return _status_and_alarm(packet, reader)


def _lbs_alarm(packet: Gt06Packet, reader: _Reader) -> Gt06Packet:
    return _status_and_alarm(replace(packet, type="lbs", cell=_cell(reader)), reader)


def _lbs_phone(packet: Gt06Packet, reader: _Reader) -> Gt06Packet:
    return replace(packet, type="lbs", cell=_cell(reader))


def _lbs_multiple(packet: Gt06Packet, reader: _Reader) -> Gt06Packet:
    fix_time = _datetime(reader.take(6, "the date-time"), reader.frame)
    mcc = reader.u16("the MCC")
    mnc = reader.u16("the MNC") if mcc & 0x8000 else reader.byte("the MNC")
    serving: Cell | None = None
    for _ in range(MULTI_CELLS):
        lac = reader.u16("a LAC")
        cid = int.from_bytes(reader.take(3, "a cell id"), "big")
        reader.byte("a signal strength")
        if serving is None and lac > 0:
            serving = Cell(mcc=mcc & 0x7FFF, mnc=mnc, lac=lac, cid=cid)
    return replace(packet, type="lbs", fix_time=fix_time, cell=serving)


def _string(packet: Gt06Packet, reader: _Reader) -> Gt06Packet:
    length = reader.byte("the command length")
    if length < 4:
        raise FrameError(f"command reply length {length} leaves no room for the server flag", reader.frame)
    server_flag = struct.unpack(">I", reader.take(4, "the server flag"))[0]
    text = _text(reader.take(length - 4, "the reply text"), "ascii", reader.frame)
    return replace(packet, type="command_reply", server_flag=server_flag, text=text)


def _string_info(packet: Gt06Packet, reader: _Reader) -> Gt06Packet:
    server_flag = struct.unpack(">I", reader.take(4, "the server flag"))[0]
    encoding = "ascii" if reader.byte("the text encoding") == 1 else "utf-16-be"
    text = _text(reader.take(reader.remaining, "the reply text"), encoding, reader.frame)
    return replace(packet, type="command_reply", server_flag=server_flag, text=text)


def _address_request(packet: Gt06Packet, reader: _Reader) -> Gt06Packet:
    return replace(_gps(packet, reader), type="address_request")


def _text(raw: bytes, encoding: str, frame: bytes) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        try:
            return raw.decode("utf-8")  # some firmware answers in UTF-8 whatever it declares
        except UnicodeDecodeError:
            raise FrameError(f"reply text is neither {encoding} nor UTF-8", frame) from None


_PARSERS = {
    LOGIN: _login,
    STATUS: _status,
    HEARTBEAT: _heartbeat,
    GPS: _location,
    GPS_LBS_LONG_CELL: _location,
    GPS_LBS: _location,
    GPS_PHONE: _location,
    GPS_LBS_2: _location,
    **dict.fromkeys(ALARM_PROTOCOLS, _alarm),
    LBS_STATUS: _lbs_alarm,
    LBS_PHONE: _lbs_phone,
    LBS_EXTEND: _lbs_multiple,
    LBS_MULTIPLE: _lbs_multiple,
    STRING: _string,
    STRING_INFO: _string_info,
    ADDRESS_REQUEST: _address_request,
}


# --- the command line


def describe(packet: Gt06Packet) -> dict[str, Any]:
    """A flat JSON-ready dict with the contract's field names (absent fields left out)."""
    out: dict[str, Any] = {"type": packet.type, "protocol": f"0x{packet.protocol:02X}", "serial": packet.serial}
    if packet.imei is not None:
        out["imei"] = packet.imei
    if packet.type_id is not None:
        out["type_id"] = f"0x{packet.type_id:04X}"
    if packet.timezone_minutes is not None:
        sign = "-" if packet.timezone_minutes < 0 else "+"
        out["timezone"] = "{}{:02d}:{:02d}".format(sign, *divmod(abs(packet.timezone_minutes), 60))
    if packet.fix_time is not None:
        out["fix_time"] = packet.fix_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in ("valid", "satellites", "speed_kmh", "course", "acc"):
        if getattr(packet, name) is not None:
            out[name] = getattr(packet, name)
    if packet.lat is not None and packet.lon is not None:
        out["lat"], out["lon"] = round(packet.lat, 6), round(packet.lon, 6)
    if packet.cell is not None:
        # An MNC of 0 is left out, as in the public test data this output is compared with; readings carry it.
        out["cell"] = {k: v for k, v in packet.cell.as_dict().items() if k != "mnc" or v}
    if packet.type in ("location", "alarm", "lbs"):
        out["archived"] = packet.archived
    if packet.status is not None:
        status = packet.status
        out.update(armed=status.armed, charging=status.charging, gps_tracking=status.gps_tracking,
                   oil_cut=status.oil_cut)
        out.setdefault("acc", status.acc)
        if status.voltage_level is not None:
            out["voltage_level"] = status.voltage_level
        if status.gsm is not None:
            out["gsm"] = status.gsm
    if packet.battery_v is not None:
        out["battery_v"] = packet.battery_v
    if packet.alarm is not None:
        out["alarm"] = packet.alarm
    if packet.alarm_code is not None:
        out["code"] = f"0x{packet.alarm_code:02X}"
    if packet.text is not None:
        out["text"] = packet.text
    if packet.server_flag is not None:
        out["server_flag"] = packet.server_flag
    answer = reply_for(packet)
    if answer is not None:
        out["reply"] = answer.hex()
    return out


def decode_for_cli(line: str) -> dict[str, Any]:
    """One frame in hex (spaces allowed) as a dict for `shaobing decode gt06`; FrameError for a refused frame."""
    return describe(parse_frame(frame_from_hex(line)))
