"""SAM frames: the public vectors, building, the framer under any segmentation, and refused frames."""

from __future__ import annotations

import pytest

from drivers.idcard.commands import Command
from drivers.idcard.frame import (
    DEFAULT_MAX_LENGTH,
    PREAMBLE,
    SamFramer,
    SamRequest,
    SamResponse,
    build_request,
    build_response,
    checksum,
    unwrap,
)
from drivers.idcard.status import STATUSES
from shaobing.errors import FrameError
from tests.vectors import load_vectors

VECTORS = load_vectors("idcard-sam.json")["vectors"]
REQUESTS = {"reset SAM": Command.RESET, "read SAM id": Command.SAM_ID, "find card": Command.FIND_CARD,
            "select card": Command.SELECT_CARD, "read text + photo": Command.READ}
FIND_OK = bytes.fromhex("AAAAAA9669000800009F0000000097")


@pytest.mark.parametrize("vector", VECTORS, ids=[v["expect"] for v in VECTORS])
def test_public_vectors(vector: dict[str, str]) -> None:
    frame = bytes.fromhex(vector["frame"])
    parsed = unwrap(frame)
    direction, what = vector["expect"].split(": ", 1)
    if direction == "request":
        assert isinstance(parsed, SamRequest)
        assert parsed.command is REQUESTS[what]
        assert build_request(parsed.command) == frame
    else:
        assert isinstance(parsed, SamResponse)
        sw3 = int(what.rsplit("SW3 ", 1)[1].rstrip(")"), 16)
        assert parsed.status.sw3 == sw3
        assert build_response(sw3, parsed.data) == frame
    assert frame[-1] == checksum(frame[5:-1])


def test_every_command_round_trips() -> None:
    for command in Command:
        parsed = unwrap(build_request(command))
        assert isinstance(parsed, SamRequest) and parsed.command is command


def test_every_status_round_trips_with_its_name() -> None:
    names = {sw3: unwrap(build_response(sw3)) for sw3 in STATUSES}
    assert {sw3: parsed.status.name for sw3, parsed in names.items() if isinstance(parsed, SamResponse)} == {
        0x90: "ok", 0x91: "no_content", 0x9F: "find_ok", 0x10: "checksum_error", 0x11: "length_error",
        0x21: "command_error", 0x23: "not_permitted", 0x24: "unrecognised_error", 0x31: "card_auth_failed",
        0x32: "reader_auth_failed", 0x33: "verify_failed", 0x40: "unknown_card_type", 0x41: "read_failed",
        0x47: "random_failed", 0x60: "sam_self_test_failed", 0x66: "sam_not_authorised", 0x80: "find_failed",
        0x81: "select_failed"}


def test_a_public_wrong_checksum_is_refused() -> None:
    # some published code sends find card with CHK 21: the module would answer checksum error
    with pytest.raises(FrameError, match=r"checksum: frame says 0x21 computed 0x22"):
        unwrap(bytes.fromhex("AAAAAA96690003200121"))


@pytest.mark.parametrize(("hex_frame", "reason"), [
    ("AAAAAA9669000310", "truncated"),
    ("BBAAAA96690003200122", "preamble"),
    ("AAAAAA96690004200122", "length 4 does not match"),
    ("AAAAAA96690003777703", "unknown command 77 77"),
    ("AAAAAA96690003000003", "no SW3"),
    ("AAAAAA966900040001909586", "length 4 does not match"),
    ("AAAAAA9669000400019095", "SW1 SW2 00 01"),
    ("AAAAAA9669000400007773", "unknown SW3 0x77"),
])
def test_malformed_frames_are_refused_with_their_bytes(hex_frame: str, reason: str) -> None:
    frame = bytes.fromhex(hex_frame)
    with pytest.raises(FrameError, match=reason) as caught:
        unwrap(frame)
    assert caught.value.frame == frame


def test_framer_takes_a_byte_at_a_time_and_many_frames_at_once() -> None:
    stream = b"".join(bytes.fromhex(v["frame"]) for v in VECTORS)
    framer = SamFramer()
    got = [item for index in range(len(stream)) for item in framer.feed(stream[index:index + 1])]
    assert got == [bytes.fromhex(v["frame"]) for v in VECTORS]
    assert SamFramer().feed(stream) == got
    assert framer.pending == 0


def test_garbage_is_reported_once_then_the_frame_is_found() -> None:
    framer = SamFramer()
    assert framer.feed(b"\x01\x02\xAA\xAA") == []  # the tail may begin a preamble: kept
    out = framer.feed(b"\x03" + FIND_OK)
    assert len(out) == 2
    assert isinstance(out[0], FrameError) and out[0].reason.startswith("garbage: 5 bytes")
    assert out[0].frame == b"\x01\x02\xAA\xAA\x03"
    assert out[1] == FIND_OK


def test_a_stream_of_garbage_is_reported_and_the_buffer_stays_bounded() -> None:
    framer = SamFramer(max_length=64)
    out = [item for _ in range(100) for item in framer.feed(b"\x55" * 50)]
    assert out and all(isinstance(item, FrameError) and item.reason.startswith("garbage") for item in out)
    assert framer.pending == 0


def test_a_huge_length_is_refused_and_a_frame_behind_it_still_found() -> None:
    framer = SamFramer()
    out = framer.feed(PREAMBLE + b"\xFF\xFF" + b"\x00" * 10 + FIND_OK)
    assert isinstance(out[0], FrameError) and out[0].reason == f"length 65535 over {DEFAULT_MAX_LENGTH}"
    assert out[1:] == [FIND_OK]  # the bytes between were reported with the bad length, not again as garbage


def test_a_length_too_short_is_refused() -> None:
    out = SamFramer().feed(PREAMBLE + b"\x00\x01\x00")
    assert isinstance(out[0], FrameError) and out[0].reason == "length 1 too short"


def test_drain_reports_a_frame_cut_off_mid_way() -> None:
    framer = SamFramer()
    assert framer.feed(FIND_OK[:9]) == []
    assert framer.pending == 9
    errors = framer.drain()
    assert [e.reason for e in errors] == ["truncated: the frame stopped after 9 bytes"]
    assert errors[0].frame == FIND_OK[:9]
    assert framer.pending == 0
    assert framer.feed(FIND_OK) == [FIND_OK]


def test_drain_reports_garbage_not_yet_reported() -> None:
    framer = SamFramer()
    framer.feed(b"\x13\x37")
    assert [e.reason for e in framer.drain()] == ["garbage: 2 bytes skipped before a preamble"]
    assert framer.drain() == []
    framer.feed(b"\x13\x37\xAA\xAA")  # the tail might have begun a preamble; drained, it is garbage too
    errors = framer.drain()
    assert [(e.reason, e.frame) for e in errors] == [("garbage: 4 bytes skipped before a preamble",
                                                      b"\x13\x37\xAA\xAA")]
