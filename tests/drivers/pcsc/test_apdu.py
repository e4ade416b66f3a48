"""The UID response checks, with no I/O: good UIDs, named status words, truncated and hostile answers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from drivers.pcsc.apdu import GET_UID, card_name, decode_for_cli, parse_uid_response, status_text
from shaobing.errors import FrameError


def test_get_uid_is_the_pc_sc_get_data_pseudo_apdu() -> None:
    assert GET_UID.hex().upper() == "FFCA000000"


@pytest.mark.parametrize(("response", "card"), [
    ("04A1B2C39000", "04A1B2C3"),  # MIFARE Classic: 4 bytes
    ("04112233445566" "9000", "04112233445566"),  # MIFARE Ultralight / DESFire: 7 bytes
    ("E004010012345678" "9000", "E004010012345678"),  # ISO 15693: 8 bytes
    ("0411223344556677889A" "9000", "0411223344556677889A"),  # triple-size: 10 bytes
    ("0a0b0c0d9000", "0A0B0C0D"),
])
def test_a_uid_is_named_in_upper_case_hex(response: str, card: str) -> None:
    assert card_name(parse_uid_response(bytes.fromhex(response))) == card


@pytest.mark.parametrize(("response", "reason"), [
    ("", "too short: 0 bytes, no status word"),
    ("90", "too short: 1 byte, no status word"),
    ("6A81", "status 6A81: function not supported"),
    ("6300", "status 6300: the reader could not read the card"),
    ("6E00", "status 6E00: class not supported"),
    ("6C07", "status 6C07: wrong Le, the card has 7 bytes"),
    ("6110", "status 6110: 16 more bytes available"),
    ("04A1B2C36A81", "status 6A81: function not supported"),  # data with a failure status is still a failure
    ("04A1B2C39001", "status 9001: unknown status word"),
    ("9000", "empty UID: status 9000 with no data"),
    ("0102039000", "UID length: 3 bytes (4 to 10 expected)"),
    ("00" * 11 + "9000", "UID length: 11 bytes (4 to 10 expected)"),
    ("00" * 200 + "9000", "UID length: 200 bytes (4 to 10 expected)"),
    ("FF" * 256 + "9000", "UID length: 256 bytes (4 to 10 expected)"),
])
def test_an_answer_without_a_usable_uid_is_refused_with_its_bytes(response: str, reason: str) -> None:
    with pytest.raises(FrameError) as caught:
        parse_uid_response(bytes.fromhex(response))
    assert caught.value.reason == reason
    assert caught.value.frame_hex == response.lower()


def test_every_named_status_word_has_its_own_text() -> None:
    texts = [status_text(sw) for sw in (0x6281, 0x6282, 0x6300, 0x6700, 0x6A81, 0x6A82, 0x6B00, 0x6D00, 0x6E00)]
    assert len(set(texts)) == len(texts) and "unknown status word" not in texts


def test_decode_takes_the_hex_as_logged_or_spaced() -> None:
    want = {"card": "04A1B2C3", "uid_length": 4, "sw": "9000"}
    assert decode_for_cli("04a1b2c39000") == want
    assert decode_for_cli(" 04 A1 B2 C3 90 00 ") == want
    assert decode_for_cli("04:A1:B2:C3:90:00") == want


@pytest.mark.parametrize(("line", "reason"), [
    ("zz", "not hex"), ("04A1B", "not hex"), ("6A81", "status 6A81: function not supported"), ("", "too short"),
])
def test_decode_refuses_what_is_no_uid(line: str, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        decode_for_cli(line)


def test_shaobing_decode_pcsc_prints_one_line_a_response_and_exits_2_on_a_refusal() -> None:
    done = subprocess.run([sys.executable, "-m", "shaobing", "decode", "pcsc"], input="04a1b2c39000\n6a81\n",
                          capture_output=True, text=True, timeout=60, check=False)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines == [{"card": "04A1B2C3", "uid_length": 4, "sw": "9000"},
                     {"error": "status 6A81: function not supported", "frame": "6a81"}]
    assert done.returncode == 2
