"""The text block at the offsets the conformance notes give, read answers, the decode output, and refused contents."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import subprocess
import sys
from datetime import date
from typing import Any

import pytest
from firmware_sim.idreader import cards

from drivers.idcard.codec import answers, card_fields, decode_for_cli, parse_read, photo_fields, read_answer, redact
from drivers.idcard.commands import Command
from drivers.idcard.frame import SamResponse, build_response, unwrap
from drivers.idcard.status import OK, STATUSES
from drivers.idcard.text import CardText, encode_text, parse_text
from shaobing.errors import FrameError
from tests.vectors import load_vectors

TODAY = date(2026, 11, 24)
PHOTO = bytes(range(256)) * 4


def ucs2(text: str, size: int) -> bytes:
    encoded = text.encode("utf-16-le")
    assert len(encoded) <= size
    return encoded + " ".encode("utf-16-le") * ((size - len(encoded)) // 2)


def resident_block(**change: str) -> bytearray:
    """A resident card's block laid out by hand at the offsets of the conformance notes."""
    fields = {"name": "张三", "gender": "2", "nation": "01", "birth": "19491231", "address": "北京市东城区景山前街4号",
              "id": "11010519491231002X", "authority": "北京市公安局东城分局", "from": "20100101", "to": "长期",
              "flag": " "} | change
    block = bytearray(
        ucs2(fields["name"], 30) + ucs2(fields["gender"], 2) + ucs2(fields["nation"], 4) + ucs2(fields["birth"], 16)
        + ucs2(fields["address"], 70) + ucs2(fields["id"], 36) + ucs2(fields["authority"], 30)
        + ucs2(fields["from"], 16) + ucs2(fields["to"], 16) + ucs2("", 28) + ucs2(fields["flag"], 2) + ucs2("", 6))
    assert len(block) == 256
    return block


def answer_for(block: bytes, photo: bytes = PHOTO) -> bytes:
    return build_response(OK, struct.pack(">HH", len(block), len(photo)) + block + photo)


def read(frame: bytes) -> CardText:
    parsed = unwrap(frame)
    assert isinstance(parsed, SamResponse)
    return parse_read(parsed).text


def test_a_hand_laid_resident_block_reads_field_by_field() -> None:
    frame = answer_for(bytes(resident_block()))
    assert len(frame) == 1295  # the conformance notes' read answer
    card = read(frame)
    assert card == CardText(card_type="resident", name="张三", gender="female", birth_date=date(1949, 12, 31),
                            id_number="11010519491231002X", valid_from=date(2010, 1, 1), valid_to=None,
                            nation_code="01", address="北京市东城区景山前街4号", authority="北京市公安局东城分局")
    assert card.nation == "汉" and card.long_term
    assert encode_text(card) == bytes(resident_block())


def test_the_decode_output_of_a_real_layout_read() -> None:
    out = decode_for_cli(answer_for(bytes(resident_block())).hex())
    assert out == {
        "type": "response", "status": "ok", "sw3": "90", "meaning": "operation succeeded", "card_type": "resident",
        "id_number": "11010519491231002X", "name": "张三", "gender": "female", "nation": "汉",
        "birth_date": "1949-12-31", "address": "北京市东城区景山前街4号", "authority": "北京市公安局东城分局",
        "valid_from": "2010-01-01", "valid_to": None, "long_term": True, "id_number_valid": True, "nation_code": "01",
        "photo_len": 1024, "photo_sha256": hashlib.sha256(PHOTO).hexdigest()}


@pytest.mark.parametrize("card", [
    cards.resident("李四", nation="蒙古", valid_to=date(2030, 1, 1)),
    cards.resident("阿依古丽", gender="female", nation="维吾尔", valid_to=None),
    cards.residence_permit("陈美玲", origin="macao"),
    cards.foreigner("SMITH, JOHN"),
    cards.foreigner("MÜLLER, ANNA MARIA", name="安娜", gender="female", nationality="DEU"),
    CardText(card_type="foreigner_2023", name="王约翰", gender="male", birth_date=date(1980, 2, 29),
             id_number=cards.id_number("931124", date(1980, 2, 29), 1, "male"), valid_from=date(2023, 12, 1),
             valid_to=date(2033, 12, 1), name_en="WANG, JOHN ALEXANDER CHRISTOPHER MAXIMILIAN",
             nationality="USA", renewal_count="00"),
], ids=["resident", "long-term", "permit", "foreigner", "foreigner-cn-name", "foreigner-2023"])
def test_every_card_type_round_trips(card: CardText) -> None:
    assert read(read_answer(card, PHOTO)) == card
    fields = card_fields(card, today=TODAY)
    assert fields["card_type"] == card.card_type
    assert fields["id_number_valid"] is (None if card.card_type == "foreigner" else True)


def test_type_flags_at_offset_248() -> None:
    block = encode_text(cards.residence_permit("陈美玲"))
    assert block[248:250].decode("utf-16-le") == "J"
    assert block[220:238].decode("utf-16-le") == "H60123456".ljust(9)
    assert block[122:158].decode("utf-16-le").startswith("810000")
    block = encode_text(cards.foreigner("SMITH, JOHN"))
    assert block[248:250].decode("utf-16-le") == "I"
    assert block[0:120].decode("utf-16-le").rstrip() == "SMITH, JOHN"
    assert block[152:158].decode("utf-16-le") == "CAN"


def test_a_read_with_fingerprints() -> None:
    frame = read_answer(cards.resident("王五"), PHOTO, bytes(512))
    parsed = unwrap(frame)
    assert isinstance(parsed, SamResponse)
    card = parse_read(parsed)
    assert card.fingerprint == bytes(512) and card.photo == PHOTO
    assert decode_for_cli(frame.hex())["fingerprint_len"] == 512


def test_the_photo_is_kept_as_given() -> None:
    fields = photo_fields(PHOTO, embed=True)
    assert base64.b64decode(fields["photo_wlt"]) == PHOTO
    assert "photo_wlt" not in photo_fields(PHOTO, embed=False)


def test_an_id_number_that_fails_gb11643_is_read_but_flagged() -> None:
    card = read(answer_for(bytes(resident_block(id="110105194912310021"))))
    fields = card_fields(card, today=TODAY)
    assert fields["id_number_valid"] is False and "check character" in fields["id_number_problem"]


def test_an_id_number_whose_birth_date_is_not_the_cards_is_flagged() -> None:
    fields = card_fields(read(answer_for(bytes(resident_block(birth="19491230")))), today=TODAY)
    assert fields["id_number_valid"] is False
    assert fields["id_number_problem"] == "birth date differs from the card's"


def _with_bytes(block: bytearray, offset: int, raw: bytes) -> bytes:
    block[offset:offset + len(raw)] = raw
    return bytes(block)


@pytest.mark.parametrize(("block", "reason"), [
    (_with_bytes(resident_block(), 2, b"\x00\xD8"), "bad UCS-2 in name"),  # a lone high surrogate
    (_with_bytes(resident_block(), 0, "\x07".encode("utf-16-le")), "control character in name"),
    (bytes(resident_block(nation="77")), "unknown nation code '77'"),
    (bytes(resident_block(nation="")), "unknown nation code None"),
    (bytes(resident_block(gender="3")), "unknown gender code '3'"),
    (bytes(resident_block(birth="19490231")), "bad date: birth date 19490231 impossible"),
    (bytes(resident_block(birth="1949123A")), "bad date: birth date"),
    (bytes(resident_block(to="20000101")), "bad date: valid to 2000-01-01 before valid from"),
    (bytes(resident_block(to="短期")), "bad date: valid to"),
    (bytes(resident_block(birth="20200101")), "born 2020-01-01 after the card was issued"),
    (bytes(resident_block(flag="Z")), "unknown card type flag 'Z'"),
    (bytes(resident_block(id="")), "missing field: id_number"),
    (bytes(resident_block(name="")), "missing field: name"),
    (bytes(resident_block(id="1101051949123100 X")), "bad ID number"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_refused_contents(block: bytes, reason: str) -> None:
    frame = answer_for(block)
    with pytest.raises(FrameError, match=reason.replace("(", r"\(")) as caught:
        read(frame)
    assert caught.value.frame == frame
    with pytest.raises(FrameError, match=reason.replace("(", r"\(")):
        read(redact(frame))  # the logged copy is refused for the same reason


def test_a_text_block_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(FrameError, match="text block of 255 bytes"):
        parse_text(bytes(255))


@pytest.mark.parametrize(("data", "reason"), [
    (b"\x01", "too short for its lengths"),
    (struct.pack(">HH", 255, 1024) + bytes(1279), "text length 255"),
    (struct.pack(">HH", 256, 2048) + bytes(2304), "photo length 2048"),
    (struct.pack(">HH", 256, 1024) + bytes(1000), "do not match"),
    (struct.pack(">HHH", 256, 1024, 4000) + bytes(1280), "do not match"),
])
def test_read_answers_with_lengths_that_do_not_add_up(data: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        parse_read(SamResponse(status=STATUSES[OK], data=data, raw=build_response(OK, data)))


def test_redact_hides_the_number_and_photo_and_keeps_the_checksum_right() -> None:
    frame = answer_for(bytes(resident_block()))
    logged = redact(frame)
    assert len(logged) == len(frame)
    assert logged[14 + 122:14 + 158].decode("utf-16-le") == "110105********002X"
    with pytest.raises(FrameError, match="bad ID number"):
        read(logged)  # only refused frames are logged, and a starred number keeps it refused
    assert b"\x00\x01\x02\x03" not in logged[7 + 7 + 256:]
    broken = frame[:-1] + bytes([frame[-1] ^ 1])
    with pytest.raises(FrameError, match="checksum"):
        unwrap(redact(broken))
    find_ok = bytes.fromhex("AAAAAA9669000800009F0000000097")
    assert redact(find_ok) == find_ok


def test_which_answers_fit_which_command() -> None:
    find_ok, find_failed = unwrap(build_response(0x9F, bytes(4))), unwrap(build_response(0x80))
    select_ok, read_ok = unwrap(build_response(OK, bytes(8))), unwrap(read_answer(cards.resident("甲"), PHOTO))
    sam_failed = unwrap(build_response(0x60))
    fits = {command: [isinstance(r, SamResponse) and answers(command, r)
                      for r in (find_ok, find_failed, select_ok, read_ok, sam_failed)] for command in Command}
    assert fits == {
        Command.FIND_CARD: [True, True, False, False, True],
        Command.SELECT_CARD: [False, False, True, False, True],
        Command.READ: [False, False, False, True, True],
        Command.READ_FINGERPRINT: [False, False, False, True, True],
        Command.RESET: [False, False, True, False, True],
        Command.SAM_STATUS: [False, False, True, False, True],
        Command.SAM_ID: [False, False, True, False, True],
    }


@pytest.mark.parametrize("line", ["", "zz", "AAAAAA96690003200122ff", "AA" * 3000, "AAAAAA966900"])
def test_decode_refuses_hostile_lines(line: str) -> None:
    with pytest.raises(FrameError):
        decode_for_cli(line)


def run_decode(*frames: str, stdin: str | None = None) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run([sys.executable, "-m", "shaobing", "decode", "idcard", *frames], input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_shaobing_decode_idcard_prints_the_vectors_and_a_card_in_order() -> None:
    vectors = load_vectors("idcard-sam.json")["vectors"]
    card = answer_for(bytes(resident_block())).hex()
    status, lines = run_decode(stdin="".join(v["frame"] + "\n" for v in vectors) + card + "\n")
    assert status == 0
    assert [line["type"] for line in lines] == [v["expect"].split(":")[0] for v in vectors] + ["response"]
    assert lines[-1]["id_number"] == "11010519491231002X"


def test_shaobing_decode_idcard_refusal_exits_2() -> None:
    status, lines = run_decode("AAAAAA96690003200121", "AAAAAA96690003200122")
    assert status == 2
    assert lines[0]["error"] == "checksum: frame says 0x21 computed 0x22"
    assert lines[1] == {"type": "request", "command": "find_card", "code": "2001"}
