"""Wiegand card reads named as the allow-list names them: every conformance vector, round trips, parity errors, and
malformed and hostile input."""

from __future__ import annotations

import random

import pytest

from drivers.osdp.wiegand import MAX_BITS, decode_bit_string, decode_card, decode_for_cli, encode_wiegand
from shaobing.errors import FrameError
from tests.vectors import load_vectors

VECTORS = load_vectors("osdp-wiegand.json")["vectors"]


@pytest.mark.parametrize("vector", [v for v in VECTORS if "wiegand26" in v], ids=lambda v: v["wiegand26"])
def test_conformance_wiegand26(vector: dict[str, object]) -> None:
    expect = vector["expect"]
    assert isinstance(expect, dict)
    read = decode_bit_string(str(vector["wiegand26"]))
    assert (read.facility, read.number) == (expect["facility"], expect["card"])
    assert read.card == f"W26:{expect['facility']}:{expect['card']}"
    assert (read.format, read.bits) == ("wiegand26", 26)


def test_the_vector_as_bytes_is_what_a_reader_sends() -> None:
    assert encode_wiegand(90, 324).hex() == "2d00a200"
    assert decode_card(bytes.fromhex("2D00A200"), 26).card == "W26:90:324"


@pytest.mark.parametrize(("facility", "number"), [(0, 0), (255, 65535), (1, 1), (128, 32768), (90, 324)])
def test_w26_round_trip(facility: int, number: int) -> None:
    assert decode_card(encode_wiegand(facility, number), 26).card == f"W26:{facility}:{number}"


@pytest.mark.parametrize(("facility", "number"), [(0, 0), (65535, 65535), (1000, 4242), (32768, 1)])
def test_w34_round_trip(facility: int, number: int) -> None:
    read = decode_card(encode_wiegand(facility, number, 34), 34)
    assert (read.card, read.format, read.bits) == (f"W34:{facility}:{number}", "wiegand34", 34)


@pytest.mark.parametrize("bits", [26, 34])
def test_every_single_bit_error_is_refused_as_parity(bits: int) -> None:
    good = int.from_bytes(encode_wiegand(200 if bits == 26 else 60000, 12345, bits), "big")
    size = (bits + 7) // 8
    for position in range(bits):
        flipped = (good ^ (1 << (size * 8 - 1 - position))).to_bytes(size, "big")
        with pytest.raises(FrameError, match="parity") as caught:
            decode_card(flipped, bits)
        assert caught.value.frame == flipped  # kept for the log, as hex


def test_whole_bytes_are_a_uid_in_upper_case_hex() -> None:
    assert decode_card(bytes.fromhex("04a1b2c3"), 32).card == "04A1B2C3"
    read = decode_card(bytes.fromhex("04a1b2c3d4e5f6"), 56)
    assert (read.card, read.format, read.bits, read.facility) == ("04A1B2C3D4E5F6", "raw", 56, None)


def test_other_lengths_are_kept_raw() -> None:
    read = decode_card(bytes.fromhex("A5A5A5A5E0"), 37)
    assert (read.card, read.format, read.bits) == ("RAW37:A5A5A5A5E0", "raw", 37)


@pytest.mark.parametrize(("data", "bits", "reason"), [
    (b"", 0, "bit count"),
    (b"\x00", -1, "bit count"),
    (b"\x00" * 65, MAX_BITS + 8, "bit count"),
    (b"\x2d\x00\xa2", 26, "length"),  # truncated
    (b"\x2d\x00\xa2\x00\x00", 26, "length"),  # trailing junk
    (b"\x00\x00", 26, "length"),
])
def test_malformed_reads_are_refused(data: bytes, bits: int, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        decode_card(data, bits)


@pytest.mark.parametrize("text", ["", "   ", "0012", "abc", "1" * (MAX_BITS + 1)])
def test_malformed_bit_strings_are_refused(text: str) -> None:
    with pytest.raises(FrameError):
        decode_bit_string(text)


def test_hostile_input_raises_only_frame_errors() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        bits = rng.randint(-5, MAX_BITS + 20)
        data = rng.randbytes(rng.randint(0, 70))
        try:
            read = decode_card(data, bits)
        except FrameError:
            continue
        assert read.bits == bits and len(data) == (bits + 7) // 8


def test_decode_for_cli_takes_bits_or_count_and_hex() -> None:
    assert decode_for_cli("00101101000000001010001000\r\n") == decode_for_cli("26:2D00A200")
    assert decode_for_cli("26:2D00A200") == {"card": "W26:90:324", "format": "wiegand26", "bits": 26,
                                             "facility": 90, "number": 324}
    for bad in ("26:zz", "x:2D00A200", "26:2D00A240"):
        with pytest.raises(FrameError):
            decode_for_cli(bad)


def test_encode_refuses_values_out_of_range() -> None:
    with pytest.raises(ValueError, match="facility"):
        encode_wiegand(256, 1)
    with pytest.raises(ValueError, match="26 or 34"):
        encode_wiegand(1, 1, 37)
