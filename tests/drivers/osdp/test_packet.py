"""OSDP packets as a bus capture shows them: every conformance vector, checks, and malformed and hostile input."""

from __future__ import annotations

import random

import pytest

from drivers.osdp.packet import checksum, crc16, decode_for_cli, parse_packet
from shaobing.errors import FrameError
from tests.vectors import load_vectors

FRAMES = [v for v in load_vectors("osdp-wiegand.json")["vectors"] if "frame" in v]


def test_every_frame_vector_is_used() -> None:
    assert len(FRAMES) == 3


@pytest.mark.parametrize("vector", FRAMES, ids=lambda v: v["frame"])
def test_conformance_frames(vector: dict[str, str]) -> None:
    expect = vector["expect"]  # e.g. "CP -> PD 0x65: osdp_POLL, CRC"
    packet = parse_packet(bytes.fromhex(vector["frame"]))
    assert f"0x{packet.address:02x}" in expect.lower()
    assert f"osdp_{packet.name}," in expect
    assert not packet.reply and expect.startswith("CP -> PD")
    assert packet.check == ("crc" if expect.endswith("CRC") else "checksum")


def test_crc_and_checksum_check_values() -> None:
    assert crc16(b"123456789") == 0xE5CC
    assert checksum(bytes.fromhex("536507000060")) == 0xE1


def test_mark_byte_and_data() -> None:
    packet = parse_packet(bytes.fromhex("FF53650900046100D97A"))
    assert (packet.name, packet.data, packet.sequence, packet.security_block) == ("ID", b"\x00", 0, None)


def test_reply_direction_and_name() -> None:
    body = bytes([0x53, 0x80 | 0x65, 0x08, 0x00, 0x05, 0x40])
    packet = parse_packet(body + crc16(body).to_bytes(2, "little"))
    assert (packet.reply, packet.name, packet.sequence) == (True, "ACK", 1)


def test_security_block_and_mac_are_split_off() -> None:
    body = bytes([0x53, 0x65, 0x00, 0x00, 0x0D, 0x02, 0x15, 0x60, 1, 2, 3, 4])
    body = body[:2] + (len(body) + 2).to_bytes(2, "little") + body[4:]
    packet = parse_packet(body + crc16(body).to_bytes(2, "little"))
    assert (packet.security_block, packet.name, packet.data) == (b"\x02\x15", "POLL", b"")


@pytest.mark.parametrize(("frame", "reason"), [
    ("5365080004606091", "crc"),
    ("536507000060E2", "checksum"),
    ("53650800046060", "length"),
    ("536508", "truncated"),
    ("5465080004606090", "start"),
    ("5365090004606090", "length"),
    ("53650800746060" "90", "ctrl"),
    ("FFFF5365080004606090", "start"),
])
def test_refused_frames_say_why(frame: str, reason: str) -> None:
    with pytest.raises(FrameError, match=reason) as caught:
        parse_packet(bytes.fromhex(frame))
    assert caught.value.frame_hex == frame.lower()


def test_decode_for_cli() -> None:
    assert decode_for_cli("53 65 08 00 04 60 60 90") == {
        "format": "osdp", "address": 0x65, "direction": "cp_to_pd", "sequence": 0, "check": "crc", "code": "60",
        "type": "POLL", "security_block": None, "data": ""}
    with pytest.raises(FrameError, match="hex"):
        decode_for_cli("53 65 0g")


def test_hostile_input_raises_only_frame_errors() -> None:
    rng = random.Random(11)
    accepted = refused = 0
    for _ in range(3000):
        frame = rng.randbytes(rng.randint(0, 40))
        if rng.random() < 0.5 and len(frame) > 6:  # give half of them a plausible header and a valid check
            frame = b"\x53" + frame[1:2] + len(frame).to_bytes(2, "little") + bytes([frame[4] & 0x0F]) + frame[5:-2]
            frame += crc16(frame).to_bytes(2, "little")
        try:
            packet = parse_packet(frame)
        except FrameError:
            refused += 1
            continue
        accepted += 1
        assert packet.address == frame[1] & 0x7F and len(packet.data) < len(frame)
    assert accepted > 100 and refused > 1000
