"""Contact ID codec, event mapping and line framing: vectors, hostile input, and the mapping table."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from drivers.contact_id.codec import (
    ACCOUNT_DIGITS,
    DECIMAL,
    ContactIdMessage,
    checksum_digit,
    decode_for_cli,
    encode,
    parse,
)
from drivers.contact_id.events import contact_id_reading
from drivers.contact_id.framing import LineFramer, Overflow
from shaobing.envelope import Kind
from shaobing.errors import FrameError
from tests.vectors import CONFORMANCE_DIR

CONFORMANCE = CONFORMANCE_DIR / "contact-id.json"
VALID = "123418113101007C"


def _vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads(CONFORMANCE.read_text())["vectors"]
    return vectors


def _digit_sum(frame: str) -> int:
    return sum(10 if char == "0" else int(char, 16) for char in frame)


@pytest.mark.parametrize("vector", _vectors(), ids=lambda vector: vector["frame"])
def test_conformance_vector_through_cli_decoder(vector: dict[str, Any]) -> None:
    expect = vector["expect"]
    if isinstance(expect, str):
        assert expect.startswith("refused: ")
        with pytest.raises(FrameError) as caught:
            decode_for_cli(vector["frame"])
        assert caught.value.reason.startswith(expect.removeprefix("refused: "))
        return
    decoded = decode_for_cli(vector["frame"] + "\r\n")
    assert decoded["format"] == "contact-id"
    for key, value in expect.items():
        assert decoded[key] == value, key


def test_parse_known_frame() -> None:
    assert parse(VALID) == ContactIdMessage(account="1234", message_type=18, qualifier="new", event_code=131,
                                            partition=1, zone_or_user=7)
    assert parse(VALID.encode()) == parse(VALID)


def test_refused_checksum_names_both_digits() -> None:
    with pytest.raises(FrameError) as caught:
        parse("1234181131010070")
    assert caught.value.reason == "checksum: computed C, got 0"
    assert caught.value.frame_hex == b"1234181131010070".hex()


def test_cli_decoder_output() -> None:
    decoded = decode_for_cli("  0639183401010572 \r\n")
    assert decoded == {
        "format": "contact-id",
        "account": "0639",
        "message_type": 18,
        "qualifier": "restore",
        "event_code": 401,
        "partition": 1,
        "zone_or_user": 57,
        "kind": "arming",
        "data": {"state": "armed", "user": 57, "source": "contact_id", "partition": 1, "qualifier": "restore",
                 "code": 401, "account": "0639", "detail": "user"},
    }
    json.dumps(decoded)  # the CLI prints it as JSON


def test_cli_decoder_refuses_blank_line() -> None:
    with pytest.raises(FrameError, match=r"^length: 0, expected 16$"):
        decode_for_cli(" \r\n")


@pytest.mark.parametrize("position", range(16))
def test_every_position_corrupted_is_refused(position: int) -> None:
    allowed = ACCOUNT_DIGITS if position < 4 or position == 15 else DECIMAL
    for replacement in sorted(set("0123456789ABCDEFG*#") - {VALID[position]}):
        corrupted = VALID[:position] + replacement + VALID[position + 1:]
        with pytest.raises(FrameError) as caught:
            parse(corrupted)
        reason = caught.value.reason
        if replacement in allowed:
            assert reason.startswith("checksum: "), corrupted  # one changed digit always breaks the sum
        else:
            assert reason == f"bad digit: {replacement!r} at {position + 1}", corrupted


@pytest.mark.parametrize("length", range(16))
def test_truncated_frames(length: int) -> None:
    with pytest.raises(FrameError, match=rf"^length: {length}, expected 16$"):
        parse(VALID[:length])


@pytest.mark.parametrize("extra", ["0", "00", "\r", VALID])
def test_too_long_frames(extra: str) -> None:
    with pytest.raises(FrameError, match=rf"^length: {16 + len(extra)}, expected 16$"):
        parse(VALID + extra)


def test_reasons_for_bad_fields() -> None:
    body = "1234G8113101007"
    with pytest.raises(FrameError, match=r"^bad digit: 'G' at 5$"):
        parse(body + "1")
    body = "123442113101007"
    with pytest.raises(FrameError, match=r"^message type: 42, expected 18 or 98$"):
        parse(body + checksum_digit(body))
    body = "123418913101007"
    with pytest.raises(FrameError, match=r"^qualifier: 9, expected 1, 3 or 6$"):
        parse(body + checksum_digit(body))
    with pytest.raises(FrameError, match=r"^bad digit: 'A' at 1$"):
        parse("A234181131010079")
    with pytest.raises(FrameError, match=r"^bad digit: 'ß' at 16$"):
        parse(VALID[:15] + "ß")


def test_hex_account_and_lowercase() -> None:
    message = ContactIdMessage(account="BCDF", message_type=98, qualifier="repeat", event_code=302, partition=99,
                               zone_or_user=999)
    frame = encode(message)
    assert _digit_sum(frame) % 15 == 0
    assert parse(frame) == message
    assert parse(frame.lower()) == message


def test_check_digit_values_ten_and_fifteen() -> None:
    # 10 is sent as 0 and 15 as F; both complete the sum to a multiple of 15
    assert checksum_digit("123418113101009") == "0"
    assert checksum_digit("123418113101004") == "F"
    for frame in ("1234181131010090", "123418113101004F"):
        assert _digit_sum(frame) % 15 == 0
        assert parse(frame).zone_or_user in (9, 4)


def test_encode_round_trips() -> None:
    rng = random.Random(7)
    for _ in range(500):
        message = ContactIdMessage(
            account="".join(rng.choice("0123456789BCDEF") for _ in range(4)),
            message_type=rng.choice([18, 98]),
            qualifier=rng.choice(["new", "restore", "repeat"]),
            event_code=rng.randrange(1000),
            partition=rng.randrange(100),
            zone_or_user=rng.randrange(1000),
        )
        frame = encode(message)
        assert len(frame) == 16
        assert parse(frame) == message


@pytest.mark.parametrize(("field", "value"), [("account", "12345"), ("account", "12A4"), ("message_type", 42),
                                              ("qualifier", "open"), ("event_code", 1000), ("partition", -1),
                                              ("zone_or_user", 1000)])
def test_encode_refuses_unsendable_fields(field: str, value: Any) -> None:
    fields: dict[str, Any] = {"account": "1234", "message_type": 18, "qualifier": "new", "event_code": 130,
                              "partition": 1, "zone_or_user": 1}
    fields[field] = value
    with pytest.raises(ValueError, match=field.split("_")[0]):
        encode(ContactIdMessage(**fields))


def _parse_or_reason(frame: bytes | str) -> ContactIdMessage | str:
    try:
        return parse(frame)
    except FrameError as error:
        return error.reason


def test_hostile_input_only_ever_raises_frame_error() -> None:
    rng = random.Random(11)
    alphabet = "0123456789BCDEFAbcdef \r\n\0\x06é中ß"
    accepted = 0
    for _ in range(5000):
        length = rng.choice([16, 16, 16, rng.randrange(40)])
        candidates: list[bytes | str] = [rng.randbytes(length), "".join(rng.choice(alphabet) for _ in range(length))]
        for frame in candidates:
            message = _parse_or_reason(frame)
            if isinstance(message, str):
                assert message
                continue
            accepted += 1
            assert encode(message) == (frame.decode("ascii") if isinstance(frame, bytes) else frame).upper()
    assert accepted < 5000  # random input is overwhelmingly refused


# -- the event mapping ------------------------------------------------------------------------------------------


def _reading(code: int, qualifier: str = "new", zone_or_user: int = 5) -> tuple[Kind, dict[str, Any]]:
    return contact_id_reading(qualifier=qualifier, event_code=code, partition=2, zone_or_user=zone_or_user,
                              source="contact_id", account="1234")


@pytest.mark.parametrize(("code", "cls"), [(130, "burglary"), (120, "panic"), (121, "duress"), (110, "fire"),
                                          (100, "medical"), (137, "tamper"), (131, "burglary"), (151, "gas"),
                                          (140, "alarm"), (199, "alarm")])
def test_alarm_classes(code: int, cls: str) -> None:
    kind, data = _reading(code)
    assert kind is Kind.ALARM
    assert data["class"] == cls
    assert data["code"] == code
    assert data["source"] == "contact_id"
    assert data["partition"] == 2
    assert data["qualifier"] == "new"
    assert data["account"] == "1234"


def test_alarm_zone_user_and_details() -> None:
    _, burglary = _reading(130)
    assert (burglary["zone"], burglary["user"], burglary["24h"]) == (5, None, False)
    _, duress = _reading(121, zone_or_user=12)
    assert (duress["zone"], duress["user"], duress["24h"]) == (None, 12, True)
    _, silent = _reading(122)
    assert (silent["class"], silent["silent"], silent["24h"]) == ("panic", True, True)
    assert _reading(131)[1]["detail"] == "perimeter"
    assert _reading(132)[1]["detail"] == "interior"
    assert _reading(134)[1]["detail"] == "entry_exit"
    assert (_reading(133)[1]["class"], _reading(133)[1]["24h"]) == ("burglary", True)
    assert _reading(158)[1]["class"] == "high_temp"
    assert _reading(154)[1]["24h"] is True
    assert _reading(110)[1]["24h"] is True
    assert _reading(100)[1]["24h"] is True
    assert _reading(130, "restore")[1]["qualifier"] == "restore"


@pytest.mark.parametrize(("code", "cls"), [(301, "ac_loss"), (302, "low_battery"), (305, "reset"), (300, "system"),
                                          (309, "battery_test_fail"), (311, "battery_missing"), (321, "bell"),
                                          (344, "rf_jam"), (350, "comm_fail"), (354, "comm_fail"),
                                          (373, "fire_trouble"), (380, "sensor"), (383, "tamper")])
def test_trouble_classes(code: int, cls: str) -> None:
    kind, data = _reading(code)
    assert kind is Kind.TROUBLE
    assert data["class"] == cls
    assert (data["zone"], data["user"], data["code"]) == (5, None, code)


def test_open_close() -> None:
    kind, opening = _reading(401, "new", zone_or_user=7)
    assert kind is Kind.ARMING
    assert (opening["state"], opening["user"]) == ("disarmed", 7)
    kind, closing = _reading(401, "restore", zone_or_user=7)
    assert (kind, closing["state"]) == (Kind.ARMING, "armed")
    assert _reading(441, "restore")[1]["state"] == "armed"
    assert _reading(406)[1]["cancel"] is True
    assert _reading(403, "restore")[0] is Kind.ARMING
    assert _reading(454)[1]["state"] is None  # failed to close: nothing changed


def test_bypass_test_and_other_codes() -> None:
    kind, bypass = _reading(570)
    assert (kind, bypass["bypass"], bypass["zone"]) == (Kind.STATUS, True, 5)
    assert _reading(570, "restore")[1]["bypass"] is False
    kind, periodic = _reading(602)
    assert (kind, periodic["test"]) == (Kind.TEST, "periodic")
    kind, manual = _reading(601)
    assert (kind, manual["test"]) == (Kind.TEST, "manual")
    kind, other = _reading(411)
    assert (kind, other["code"]) == (Kind.STATUS, 411)
    assert _reading(250)[0] is Kind.STATUS


def test_adm_cid_source_is_kept() -> None:
    _, data = contact_id_reading(qualifier="new", event_code=130, partition=1, zone_or_user=3, source="adm_cid",
                                 account="BEEF")
    assert (data["source"], data["account"]) == ("adm_cid", "BEEF")


# -- line framing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n", b"\n\r"])
def test_framer_line_endings(ending: bytes) -> None:
    framer = LineFramer()
    assert framer.feed(VALID.encode() + ending + VALID.encode() + ending) == [VALID.encode()] * 2
    assert framer.pending == 0


def test_framer_one_byte_at_a_time_and_padding() -> None:
    framer = LineFramer()
    lines: list[bytes] = []
    for byte in b"\0 " + VALID.encode() + b" \0\r\n\r\n  \r":
        lines += framer.feed(bytes([byte]))
    assert lines == [VALID.encode()]


def test_framer_keeps_partial_line_until_terminator() -> None:
    framer = LineFramer()
    assert framer.feed(VALID[:9].encode()) == []
    assert framer.pending == 9
    assert framer.feed(VALID[9:].encode() + b"\r" + VALID[:3].encode()) == [VALID.encode()]
    assert framer.pending == 3


def test_framer_overflow_is_reported_once_and_bounded() -> None:
    framer = LineFramer(max_line=256)
    lines: list[bytes] = []
    for _ in range(100):
        lines += framer.feed(b"7" * 100)
        assert framer.pending <= 256
    assert len(lines) == 1
    assert isinstance(lines[0], Overflow)
    assert len(lines[0]) == 256
    # the rest of the run is dropped up to its terminator; the next line is framed normally
    assert framer.feed(b"77\r" + VALID.encode() + b"\r") == [VALID.encode()]


def test_framer_line_at_the_limit_is_a_line() -> None:
    framer = LineFramer(max_line=20)
    lines = framer.feed(b"x" * 20 + b"\r")
    assert lines == [b"x" * 20]
    assert not isinstance(lines[0], Overflow)


def test_intrusion_verifier_139_marks_the_burglary_verified() -> None:
    kind, data = contact_id_reading(qualifier="new", event_code=139, partition=1, zone_or_user=4,
                                    source="contact_id", account="1234")
    assert (kind, data["class"], data["verified"]) == (Kind.ALARM, "burglary", True)
    _, plain = contact_id_reading(qualifier="new", event_code=130, partition=1, zone_or_user=4,
                                  source="contact_id", account="1234")
    assert "verified" not in plain
