"""The GT06 CRC and framer: check value, any TCP segmentation, resynchronisation after garbage and bad lengths."""

from __future__ import annotations

import random

import pytest

from drivers.gt06.crc import crc16_x25
from drivers.gt06.framing import Gt06Framer, unwrap
from drivers.gt06.replies import encode_frame
from shaobing.errors import FrameError
from tests.vectors import load_vectors

FRAMES = [bytes.fromhex(case["frame"]) for case in load_vectors("gt06.json")["vectors"]]
LONG_FRAME = encode_frame(0x21, b"\0\0\0\x07\x01" + b"x" * 300, 9, long_frame=True)  # 79 79, length > 255


def frames_of(items: list[bytes | FrameError]) -> list[bytes]:
    return [item for item in items if isinstance(item, bytes)]


def errors_of(items: list[bytes | FrameError]) -> list[FrameError]:
    return [item for item in items if isinstance(item, FrameError)]


def test_crc_check_value_and_a_vector() -> None:
    assert crc16_x25(b"123456789") == 0x906E
    assert crc16_x25(b"") == 0x0000
    frame = FRAMES[0]
    assert crc16_x25(frame[2:-4]) == int.from_bytes(frame[-4:-2], "big")


def test_every_vector_and_a_long_frame_whole() -> None:
    framer = Gt06Framer()
    for frame in [*FRAMES, LONG_FRAME]:
        assert framer.feed(frame) == [frame]
        assert not framer.partial
    assert len(LONG_FRAME) > 300 and LONG_FRAME.startswith(b"\x79\x79")


def test_one_byte_at_a_time() -> None:
    framer = Gt06Framer()
    out: list[bytes | FrameError] = []
    for byte in b"".join([*FRAMES, LONG_FRAME]):
        out += framer.feed(bytes([byte]))
    assert out == [*FRAMES, LONG_FRAME]


def test_many_frames_in_one_segment() -> None:
    assert Gt06Framer().feed(b"".join(FRAMES * 3)) == FRAMES * 3


@pytest.mark.parametrize("seed", range(20))
def test_random_segmentation_yields_exactly_the_frames(seed: int) -> None:
    rng = random.Random(seed)
    stream_frames = [rng.choice([*FRAMES, LONG_FRAME]) for _ in range(40)]
    stream = b"".join(stream_frames)
    framer = Gt06Framer()
    out: list[bytes | FrameError] = []
    position = 0
    while position < len(stream):
        step = rng.randint(1, 200)
        out += framer.feed(stream[position:position + step])
        position += step
    assert out == stream_frames
    assert not framer.partial and framer.junk_pending == 0


def test_garbage_before_a_frame_is_reported_once_and_the_frame_still_comes() -> None:
    framer = Gt06Framer()
    out = framer.feed(b"\x00garbage\xff" + FRAMES[2])
    assert frames_of(out) == [FRAMES[2]]
    [error] = errors_of(out)
    assert error.reason.startswith("garbage skipped: 9 bytes")
    assert error.frame == b"\x00garbage\xff"
    assert framer.junk_pending == 0  # reset by the good frame


def test_garbage_trickled_byte_by_byte_is_one_report() -> None:
    framer = Gt06Framer()
    out: list[bytes | FrameError] = []
    for byte in b"hello, server" + FRAMES[0]:
        out += framer.feed(bytes([byte]))
    assert frames_of(out) == [FRAMES[0]]
    assert [error.reason.split(":")[0] for error in errors_of(out)] == ["garbage skipped"]


def test_a_lone_marker_byte_is_kept_until_the_next_byte_decides() -> None:
    framer = Gt06Framer()
    assert framer.feed(b"zz\x78") == []
    assert framer.partial
    out = framer.feed(FRAMES[0][1:])  # 78 + 78 0D ... : the kept byte was the start of the frame
    assert frames_of(out) == [FRAMES[0]]


def test_garbage_without_any_marker_is_bounded_and_reported() -> None:
    framer = Gt06Framer(max_frame=256)
    out: list[bytes | FrameError] = []
    for _ in range(10):
        out += framer.feed(b"\x00" * 100)
    assert framer.junk_pending == 1000
    errors = errors_of(out)
    assert errors and all(len(error.frame) <= 64 for error in errors)
    assert sum(int(error.reason.split()[2]) for error in errors) <= 1000
    assert len(framer._buffer) <= 1


def test_wrong_stop_bytes_are_refused_and_the_next_frame_is_found() -> None:
    bad = FRAMES[0][:-2] + b"\x0d\x0b"
    out = Gt06Framer().feed(bad + FRAMES[1])
    assert frames_of(out) == [FRAMES[1]]
    assert [error.reason for error in errors_of(out)] == ["no 0D 0A where length 13 ends"]


def test_a_corrupt_length_does_not_swallow_the_frame_behind_it() -> None:
    # A length byte of 0x40 would reach into the next frame: the stop check fails and scanning resumes after the
    # marker, finding the real frame.
    bad = b"\x78\x78\x40\x01\x02\x03"
    out = Gt06Framer().feed(bad + FRAMES[4] + FRAMES[5] + FRAMES[6] + FRAMES[7])
    assert frames_of(out) == [FRAMES[4], FRAMES[5], FRAMES[6], FRAMES[7]]
    assert len(errors_of(out)) == 1


@pytest.mark.parametrize(("head", "reason"), [
    (b"\x78\x78\x00", "frame length too short: length 0"),
    (b"\x78\x78\x04", "frame length too short: length 4"),
    (b"\x79\x79\xff\xff", "frame longer than max_frame: length 65535"),
    (b"\x79\x79\x04\x00", "frame longer than max_frame: length 1024"),
])
def test_absurd_lengths_are_refused_at_once(head: bytes, reason: str) -> None:
    framer = Gt06Framer()
    out = framer.feed(head)
    assert [error.reason for error in errors_of(out)] == [reason]
    assert frames_of(framer.feed(FRAMES[0])) == [FRAMES[0]]


def test_partial_says_a_frame_is_unfinished() -> None:
    framer = Gt06Framer()
    assert not framer.partial
    framer.feed(FRAMES[0] + b"\r\n")  # stray bytes after a frame: garbage, not a frame begun
    assert not framer.partial and framer.junk_pending == 2
    framer.feed(FRAMES[3][:7])
    assert framer.partial
    framer.feed(FRAMES[3][7:])
    assert not framer.partial


def test_max_frame_must_hold_a_frame() -> None:
    with pytest.raises(ValueError, match="max_frame"):
        Gt06Framer(max_frame=9)


def test_unwrap_checks_the_envelope() -> None:
    envelope = unwrap(FRAMES[2])
    assert (envelope.protocol, envelope.serial, envelope.long_frame, envelope.crc_ok) == (0x12, 3, False, True)
    assert len(envelope.content) == 0x1F - 5
    long_envelope = unwrap(LONG_FRAME)
    assert long_envelope.long_frame and long_envelope.protocol == 0x21 and long_envelope.serial == 9
    bad_crc = FRAMES[0][:-4] + b"\x8c\xde\x0d\x0a"
    with pytest.raises(FrameError, match=r"^CRC mismatch: frame says 0x8CDE computed 0x8CDD$"):
        unwrap(bad_crc)
    lenient = unwrap(bad_crc, check_crc=False)
    assert not lenient.crc_ok and lenient.crc_said == 0x8CDE and lenient.crc_computed == 0x8CDD
    for frame, reason in [(b"\x77" + FRAMES[0][1:], "no 78 78"), (FRAMES[0][:8], "truncated"),
                          (FRAMES[0][:-1] + b"\x0b", "no 0D 0A"), (FRAMES[0][:-3] + FRAMES[0][-2:], "length 13")]:
        with pytest.raises(FrameError, match=reason):
            unwrap(frame)
