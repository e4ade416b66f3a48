"""The GT06 codec against the public vectors, and against corrupted, truncated and hostile frames."""

from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from drivers.gt06.builder import Cell, location_frame
from drivers.gt06.codec import UnsupportedProtocol, decode_for_cli, parse_frame, reply_for
from drivers.gt06.crc import crc16_x25
from drivers.gt06.replies import build_command, encode_frame
from shaobing.errors import FrameError
from tests.vectors import load_vectors

DOCUMENT = load_vectors("gt06.json")
VECTORS: list[dict[str, Any]] = DOCUMENT["vectors"]
FRAMES = [bytes.fromhex(case["frame"]) for case in VECTORS]


def reseal(frame: bytes) -> bytes:
    """The frame with its CRC recomputed: what a device with the same (odd) content would send."""
    return frame[:-4] + struct.pack(">H", crc16_x25(frame[2:-4])) + frame[-2:]


def matches(got: Any, want: Any) -> bool:
    """`want` is in `got`: floats to the vectors' precision, strings without case, dicts key by key."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(key in got and matches(got[key], value) for key, value in want.items())
    if isinstance(want, float):
        return isinstance(got, float) and abs(got - want) < 1e-5
    if isinstance(want, str):
        return isinstance(got, str) and got.lower() == want.lower()
    return bool(got == want) and type(got) is type(want)


@pytest.mark.parametrize("case", VECTORS, ids=[f"{i}-{case['expect']['type']}" for i, case in enumerate(VECTORS)])
def test_every_vector_decodes_as_expected(case: dict[str, Any]) -> None:
    decoded = decode_for_cli(case["frame"])
    for key, value in case["expect"].items():
        assert matches(decoded.get(key), value), (key, decoded.get(key), value)


def test_decoded_values_beyond_the_vectors() -> None:
    login = parse_frame(FRAMES[1])
    assert (login.imei, login.type_id, login.timezone_minutes) == ("864717003664467", 0x100F, -240)
    location = parse_frame(FRAMES[3])
    assert location.acc is True and location.course == 200 and location.cell == Cell(404, 70, 211, 49301)
    assert location.fix_time == datetime(2017, 8, 25, 17, 2, 22, tzinfo=UTC)
    status = parse_frame(FRAMES[4])
    assert status.status is not None
    assert (status.status.voltage_level, status.status.gsm, status.status.charging, status.status.armed,
            status.status.gps_tracking, status.status.oil_cut) == (6, 4, True, False, True, True)
    assert status.alarm is None
    alarm = parse_frame(FRAMES[5])
    assert (alarm.alarm, alarm.alarm_code, alarm.valid, alarm.speed_kmh) == ("power_cut", 0x02, True, 7)
    assert alarm.lat is not None and alarm.lat < 0 and alarm.lon is not None and alarm.lon < 0  # south, west
    vibration = parse_frame(FRAMES[6])
    assert vibration.cell == Cell(460, 0, 10342, 3822) and vibration.valid is False
    archived = parse_frame(FRAMES[7])
    assert archived.archived and archived.protocol == 0x22 and archived.acc is False
    lbs = parse_frame(FRAMES[8])
    assert lbs.fix_time is None and lbs.lat is None and lbs.alarm == "sos"
    text = parse_frame(FRAMES[9])
    assert (text.server_flag, text.text, text.serial) == (0, "Cut off the fuel supply: Success!", 0x13B)


def test_replies_as_traccar_sends_them() -> None:
    replies = {case["expect"]["type"] + str(i): reply_for(parse_frame(frame))
               for i, (case, frame) in enumerate(zip(VECTORS, FRAMES, strict=True))}
    assert replies["login0"] == bytes.fromhex("787805010001d9dc0d0a")
    assert replies["location2"] == bytes.fromhex("787805120003903f0d0a")
    assert replies["status4"] == bytes.fromhex("7878051301295d630d0a")
    for name, answer in replies.items():  # every packet of the vectors is answered, with its protocol and serial
        frame = FRAMES[int(name[-1])]
        assert answer is not None and answer[3] == frame[3] and answer[4:6] == frame[-6:-4], name


def test_the_encode_vector_byte_for_byte() -> None:
    [case] = DOCUMENT["encode"]
    assert build_command("Relay,1#", 0, 0) == bytes.fromhex(case["frame"])


@pytest.mark.parametrize("index", range(len(FRAMES)))
def test_every_byte_flipped_is_refused_with_a_reason(index: int) -> None:
    frame = FRAMES[index]
    for position in range(len(frame)):
        corrupt = bytearray(frame)
        corrupt[position] ^= 0xFF
        with pytest.raises(FrameError) as refused:
            parse_frame(bytes(corrupt))
        reason = refused.value.reason
        assert reason.startswith(("CRC mismatch", "no 78 78", "no 0D 0A", "length", "frame length")), reason
        assert refused.value.frame == bytes(corrupt)


@pytest.mark.parametrize("index", range(len(FRAMES)))
def test_every_truncation_is_refused(index: int) -> None:
    frame = FRAMES[index]
    for length in range(len(frame)):
        with pytest.raises(FrameError):
            parse_frame(frame[:length])


def test_a_bad_crc_says_both_values_and_lenient_parsing_takes_it() -> None:
    frame = FRAMES[2][:-4] + b"\x00\x00\x0d\x0a"
    with pytest.raises(FrameError, match=r"^CRC mismatch: frame says 0x0000 computed 0x5F24$"):
        parse_frame(frame)
    packet = parse_frame(frame, check_crc=False)
    assert packet.type == "location" and not packet.crc_ok


@pytest.mark.parametrize(("change", "reason"), [
    ({5: 0x0D}, "impossible date-time"),  # month 13 (bytes: 78 78 len proto YY MM DD hh mm ss sats lat lon)
    ({6: 0x20}, "impossible date-time"),  # day 32
    ({7: 0x18}, "impossible date-time"),  # hour 24
    ({9: 0x3C}, "impossible date-time"),  # second 60
    ({5: 0x00}, "impossible date-time"),  # month 0: a tracker that never had a fix
    ({11: 0xFF}, "position out of range: lat"),
    ({15: 0xFF}, "position out of range"),
])
def test_range_checks_refuse_a_well_sealed_frame(change: dict[int, int], reason: str) -> None:
    frame = bytearray(FRAMES[2])
    for position, value in change.items():
        frame[position] = value
    with pytest.raises(FrameError, match=reason):
        parse_frame(reseal(bytes(frame)))


def test_content_too_short_for_its_protocol_names_what_is_missing() -> None:
    with pytest.raises(FrameError, match="content too short for the longitude"):
        parse_frame(encode_frame(0x12, bytes.fromhex("0f0a140e150bc505e51e7802"), 1))
    with pytest.raises(FrameError, match="content too short for the IMEI"):
        parse_frame(encode_frame(0x01, bytes.fromhex("0123"), 1))
    with pytest.raises(FrameError, match="IMEI is not BCD"):
        parse_frame(encode_frame(0x01, bytes.fromhex("0a23456789012345"), 1))
    with pytest.raises(FrameError, match="leaves no room for the server flag"):
        parse_frame(encode_frame(0x15, b"\x02ab", 1))
    with pytest.raises(FrameError, match="content too short for the reply text"):
        parse_frame(encode_frame(0x15, b"\x30\0\0\0\0abc", 1))


def test_unknown_protocols_are_refused_but_say_whether_they_were_intact() -> None:
    frame = encode_frame(0x94, b"\x00\x01\x02", 77)
    with pytest.raises(UnsupportedProtocol, match=r"^unsupported protocol 0x94$") as refused:
        parse_frame(frame)
    assert refused.value.envelope.serial == 77 and refused.value.envelope.crc_ok
    with pytest.raises(UnsupportedProtocol, match="0x12"):  # a location in a 79 79 frame: not a known layout
        parse_frame(encode_frame(0x12, FRAMES[2][4:-6], 3, long_frame=True))


def test_hostile_content_in_sealed_frames_is_refused_or_decoded_never_a_crash() -> None:
    rng = random.Random(7)
    protocols = [0x01, 0x10, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x22, 0x23, 0x26, 0x27, 0x28,
                 0x2A, 0x94]
    decoded = refused = 0
    refusals: list[tuple[FrameError, bytes]] = []
    for _ in range(3000):
        protocol = rng.choice(protocols)
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 80)))
        frame = encode_frame(protocol, body, rng.randrange(65536))
        try:
            packet = parse_frame(frame)
        except FrameError as error:
            refusals.append((error, frame))
            refused += 1
        else:
            decoded += 1
            assert packet.protocol == protocol
            if packet.lat is not None and packet.lon is not None:
                assert abs(packet.lat) <= 90 and abs(packet.lon) <= 180
    assert decoded > 0 and refused > 0
    assert all(error.reason and error.frame == frame for error, frame in refusals)


def test_cell_with_a_two_byte_mnc_and_the_long_cell_of_0x11() -> None:
    fix = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    frame = location_frame(5, fix_time=fix, lat=1.0, lon=2.0, cell=Cell(310, 410, 0x1234, 0xABCDEF))
    assert parse_frame(frame).cell == Cell(310, 410, 0x1234, 0xABCDEF)
    gps = frame[4:4 + 18]
    long_cell = struct.pack(">HHHI", 460, 11, 0x2866, 0x0EEE0EEE)
    packet = parse_frame(encode_frame(0x11, gps + long_cell, 6))
    assert packet.cell == Cell(460, 11, 0x2866, 0x0EEE0EEE) and packet.fix_time == fix


def test_multi_cell_lbs_takes_the_first_cell_with_a_lac() -> None:
    cells = struct.pack(">H", 0) + bytes(4) + struct.pack(">H", 0x2866) + (0x0EEE).to_bytes(3, "big") + b"\x40"
    body = bytes([24, 1, 2, 3, 4, 5]) + struct.pack(">HB", 460, 0) + cells + bytes(5 * 6) + b"\x00\x00\x02"
    packet = parse_frame(encode_frame(0x28, body, 9))
    assert packet.type == "lbs" and packet.cell == Cell(460, 0, 0x2866, 0x0EEE)
    assert packet.fix_time == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_the_long_command_reply_and_the_heartbeat_of_0x23() -> None:
    reply = parse_frame(encode_frame(0x21, struct.pack(">I", 0xDEADBEEF) + b"\x01Relay OK", 4, long_frame=True))
    assert (reply.type, reply.server_flag, reply.text) == ("command_reply", 0xDEADBEEF, "Relay OK")
    assert reply_for(reply) is None  # Traccar does not answer 0x21
    utf16 = parse_frame(encode_frame(0x21, b"\0\0\0\1\x02" + "断油".encode("utf-16-be"), 5, long_frame=True))
    assert utf16.text == "断油"
    heartbeat = parse_frame(encode_frame(0x23, bytes([0x05]) + struct.pack(">H", 412) + b"\x03\x00\x02", 6))
    assert heartbeat.type == "status" and heartbeat.battery_v == 4.12
    assert heartbeat.status is not None and heartbeat.status.gsm == 3 and heartbeat.status.armed


def test_address_request_0x2a_gets_the_long_no_address_answer() -> None:
    packet = parse_frame(encode_frame(0x2A, FRAMES[2][4:4 + 18] + b"+8613800000000".ljust(21, b"\0") + b"\0\2", 7))
    assert packet.type == "address_request" and packet.lat is not None
    answer = reply_for(packet)
    assert answer is not None and answer.startswith(b"\x79\x79") and b"NA&&NA&&0##" in answer


def test_decode_for_cli_takes_spaced_hex_and_refuses_garbage() -> None:
    spaced = " ".join(VECTORS[0]["frame"][i:i + 2] for i in range(0, len(VECTORS[0]["frame"]), 2))
    assert decode_for_cli(spaced)["imei"] == "123456789012345"
    for line, reason in [("zz", "not hex"), ("", "empty frame"), ("7878", "truncated")]:
        with pytest.raises(FrameError, match=reason):
            decode_for_cli(line)


def test_shaobing_decode_gt06_prints_every_vector_and_refuses_a_bad_crc() -> None:
    bad = VECTORS[0]["frame"][:-8] + "0000" + "0d0a"
    frames = [case["frame"] for case in VECTORS] + [bad]
    done = subprocess.run([sys.executable, "-m", "shaobing", "decode", "gt06"], input="\n".join(frames) + "\n",
                          capture_output=True, text=True, timeout=60, check=False)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 2
    assert len(lines) == len(frames)
    for case, line in zip(VECTORS, lines, strict=False):
        for key, value in case["expect"].items():
            assert matches(line[key], value), key
    assert lines[-1]["error"] == "CRC mismatch: frame says 0x0000 computed 0x8CDD"
    good = subprocess.run([sys.executable, "-m", "shaobing", "decode", "gt06", *frames[:-1]], capture_output=True,
                          text=True, timeout=60, check=False)
    assert good.returncode == 0 and len(good.stdout.splitlines()) == len(VECTORS)
