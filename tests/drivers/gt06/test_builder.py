"""The device-side frame builder: byte for byte where the public vectors overlap, and round trips through the codec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from drivers.gt06.builder import (
    Cell,
    alarm_frame,
    command_reply_frame,
    heartbeat_frame,
    lbs_frame,
    location_frame,
    login_frame,
    parse_command,
)
from drivers.gt06.codec import parse_frame
from drivers.gt06.message import ALARM_CODES
from drivers.gt06.replies import build_command, encode_frame
from shaobing.errors import FrameError
from tests.vectors import load_vectors

FRAMES = [bytes.fromhex(case["frame"]) for case in load_vectors("gt06.json")["vectors"]]
FIX = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)


def test_login_with_a_western_time_zone_is_the_vector() -> None:
    assert login_frame("864717003664467", 2, type_id=0x100F, tz_minutes=-240) == FRAMES[1]


def test_archived_location_is_the_0x22_vector() -> None:
    frame = location_frame(8, fix_time=datetime(2015, 12, 29, 2, 51, 5, tzinfo=UTC), lat=0x027AC818 / 1_800_000,
                           lon=0x0C465860 / 1_800_000, satellites=9, cell=Cell(460, 0, 10365, 8049), archived=True,
                           acc=False)
    assert frame == FRAMES[7]


def test_command_reply_is_the_0x15_vector() -> None:
    assert command_reply_frame(0x13B, server_flag=0, text="Cut off the fuel supply: Success!") == FRAMES[9]


def test_parse_command_reads_the_encode_vector_and_refuses_other_frames() -> None:
    assert parse_command(build_command("Relay,1#", 0, 0)) == (0, "Relay,1#")
    assert parse_command(build_command("Relay,0#", 0xCAFEBABE, 12)) == (0xCAFEBABE, "Relay,0#")
    with pytest.raises(FrameError, match="not a command: protocol 0x01"):
        parse_command(FRAMES[0])
    with pytest.raises(FrameError, match="command length"):
        parse_command(encode_frame(0x80, b"\x20\0\0\0\0ab", 1))
    with pytest.raises(FrameError, match="not ASCII"):
        parse_command(encode_frame(0x80, b"\x06\0\0\0\0\xff\xfe", 1))
    with pytest.raises(FrameError, match="CRC mismatch"):
        parse_command(build_command("Relay,1#", 0, 0)[:-4] + b"\0\0\r\n")


def test_login_round_trip() -> None:
    packet = parse_frame(login_frame("359710049095095", 77))
    assert (packet.type, packet.imei, packet.serial, packet.type_id, packet.timezone_minutes) == (
        "login", "359710049095095", 77, 0x3608, 480)
    assert parse_frame(login_frame("359710049095095", 1, tz_minutes=None)).timezone_minutes is None
    assert parse_frame(login_frame("359710049095095", 1, tz_minutes=330)).timezone_minutes == 330


@pytest.mark.parametrize(("lat", "lon"), [(22.543096, 114.057865), (-33.8688, 151.2093), (40.7128, -74.006),
                                          (-22.9068, -43.1729), (0.0, 0.0), (90.0, 180.0)])
def test_location_round_trip_in_every_hemisphere(lat: float, lon: float) -> None:
    frame = location_frame(300, fix_time=FIX, lat=lat, lon=lon, speed_kmh=23, course=271, satellites=11)
    packet = parse_frame(frame)
    assert packet.protocol == 0x12 and packet.type == "location" and packet.valid is True
    assert packet.lat is not None and packet.lon is not None
    assert abs(packet.lat - lat) < 1e-6 and abs(packet.lon - lon) < 1e-6
    assert (packet.fix_time, packet.speed_kmh, packet.course, packet.satellites) == (FIX, 23, 271, 11)
    assert packet.cell == Cell(460, 0, 0x2866, 0x0EEE) and not packet.archived and packet.acc is None


def test_location_with_acc_or_archived_is_0x22() -> None:
    live = parse_frame(location_frame(1, fix_time=FIX, lat=1.0, lon=2.0, acc=True))
    assert (live.protocol, live.acc, live.archived) == (0x22, True, False)
    kept = parse_frame(location_frame(2, fix_time=FIX, lat=1.0, lon=2.0, archived=True, valid=False))
    assert (kept.protocol, kept.acc, kept.archived, kept.valid) == (0x22, False, True, False)


def test_a_non_utc_datetime_is_written_as_utc() -> None:
    beijing = FIX.astimezone(timezone(timedelta(hours=8)))
    assert parse_frame(location_frame(1, fix_time=beijing, lat=1.0, lon=2.0)).fix_time == FIX


def test_heartbeat_round_trip() -> None:
    packet = parse_frame(heartbeat_frame(9, voltage_level=2, gsm=1, charging=False, acc=True, armed=True,
                                         gps_tracking=False))
    assert packet.type == "status" and packet.protocol == 0x13 and packet.serial == 9 and packet.alarm is None
    assert packet.status is not None
    assert (packet.status.voltage_level, packet.status.gsm, packet.status.charging, packet.status.acc,
            packet.status.armed, packet.status.gps_tracking) == (2, 1, False, True, True, False)


@pytest.mark.parametrize("alarm", sorted(ALARM_CODES))
def test_alarm_round_trip_for_every_class(alarm: str) -> None:
    packet = parse_frame(alarm_frame(40, alarm=alarm, fix_time=FIX, lat=22.5, lon=114.0, speed_kmh=12, course=45,
                                     armed=True, voltage_level=3, gsm=2))
    assert packet.type == "alarm" and packet.protocol == 0x16
    assert packet.alarm == alarm and packet.alarm_code == ALARM_CODES[alarm]
    assert packet.fix_time == FIX and packet.speed_kmh == 12 and packet.course == 45
    assert packet.status is not None and packet.status.armed and packet.status.voltage_level == 3


def test_lbs_round_trips() -> None:
    cell = Cell(460, 1, 0x5A5A, 0x123456)
    plain = parse_frame(lbs_frame(3, fix_time=FIX, cell=cell))
    assert (plain.type, plain.protocol, plain.cell, plain.fix_time, plain.alarm) == ("lbs", 0x28, cell, FIX, None)
    alarmed = parse_frame(lbs_frame(4, fix_time=FIX, cell=cell, alarm="sos"))
    assert (alarmed.type, alarmed.protocol, alarmed.cell, alarmed.alarm) == ("lbs", 0x19, cell, "sos")


def test_builder_refuses_what_the_protocol_cannot_carry() -> None:
    with pytest.raises(ValueError, match="15 digits"):
        login_frame("12345", 1)
    with pytest.raises(ValueError, match="out of range"):
        location_frame(1, fix_time=FIX, lat=91.0, lon=0.0)
    with pytest.raises(ValueError, match="timezone-aware"):
        location_frame(1, fix_time=datetime(2026, 1, 1), lat=0.0, lon=0.0)
    with pytest.raises(ValueError, match="unknown alarm class"):
        alarm_frame(1, alarm="meteor", fix_time=FIX, lat=0.0, lon=0.0)
    with pytest.raises(ValueError, match="serial"):
        heartbeat_frame(70000)
    with pytest.raises(ValueError, match="voltage_level"):
        heartbeat_frame(1, voltage_level=7)
    with pytest.raises(ValueError, match="too long"):
        command_reply_frame(1, server_flag=1, text="x" * 300)
