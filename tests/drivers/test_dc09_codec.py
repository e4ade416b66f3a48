"""DC-09 codec: conformance vectors, CRC, corruption, truncation, hostile input, encryption, replies, event data."""

from __future__ import annotations

import contextlib
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from drivers.dc09.builder import adm_cid_data, build_message, sia_dcs_data
from drivers.dc09.codec import decode_for_cli, decrypt_message, parse_frame
from drivers.dc09.crc import crc16_arc
from drivers.dc09.crypto import decrypt_region, encrypt_region, parse_key
from drivers.dc09.framing import Dc09Framer
from drivers.dc09.message import Dc09Message, SiaEvent
from drivers.dc09.payload import parse_adm_cid, parse_sia_dcs
from drivers.dc09.readings import readings_of, sia_event_reading
from drivers.dc09.replies import ack, duh, frame_body, nak, parse_reply
from shaobing.envelope import Kind
from shaobing.errors import FrameError
from tests.vectors import CONFORMANCE_DIR

CONFORMANCE = json.loads((CONFORMANCE_DIR / "dc09.json").read_text())
VECTORS = CONFORMANCE["vectors"]
GOOD = [vector for vector in VECTORS if vector["crc_ok"]]
NOW = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
KEYS = {128: bytes(range(16)), 192: bytes(range(24)), 256: bytes(range(32))}
# A frame from a public SIA test suite, encrypted with the ASCII key "AAAAAAAAAAAAAAAA" and a pad of zeros
EXTERNAL_ENCRYPTED = ('05BB0076"*SIA-DCS"7654L0#1111[C07DA1EB73C617857476EE5D79436CEE5E0084485E79EC56B0D5D1F3F6E648'
                      'B278050BBCCBC8FE5DCA7E3C80DBDD4945')


def _vector_id(vector: dict[str, Any]) -> str:
    return str(vector["frame"][8:30])


def test_crc_check_value() -> None:
    assert crc16_arc(b"123456789") == 0xBB3D
    assert crc16_arc(b"") == 0


@pytest.mark.parametrize("vector", GOOD, ids=_vector_id)
def test_crc_of_conformance_frames(vector: dict[str, Any]) -> None:
    frame = vector["frame"].encode()
    assert crc16_arc(frame[8:]) == int(frame[:4], 16)


@pytest.mark.parametrize("vector", VECTORS, ids=_vector_id)
def test_conformance_vectors_decode_as_documented(vector: dict[str, Any]) -> None:
    if not vector["crc_ok"]:
        with pytest.raises(FrameError) as refused:
            decode_for_cli(vector["frame"])
        assert "CRC (computed 9692" in refused.value.reason
        assert refused.value.reason == "CRC (computed 9692, frame says 87CD)"
        return
    decoded = decode_for_cli(vector["frame"])
    for name, value in vector["expect"].items():
        assert decoded[name] == value, name
    assert decoded["length_ok"] is vector["length_ok"]
    assert parse_frame(vector["frame"]).length_ok is vector["length_ok"]


@pytest.mark.parametrize("vector", GOOD, ids=_vector_id)
def test_framing_lf_and_cr_are_optional(vector: dict[str, Any]) -> None:
    bare = parse_frame(vector["frame"])
    framed = parse_frame("\n" + vector["frame"] + "\r")
    assert (bare.format, bare.account, bare.data, bare.timestamp) == (framed.format, framed.account, framed.data,
                                                                      framed.timestamp)


@pytest.mark.parametrize("vector", GOOD, ids=_vector_id)
def test_strict_length_refuses_a_wrong_length(vector: dict[str, Any]) -> None:
    if vector["length_ok"]:
        assert parse_frame(vector["frame"], strict_length=True).length_ok
    else:
        with pytest.raises(FrameError, match=r"^length \(frame says \d+, counted \d+\)"):
            parse_frame(vector["frame"], strict_length=True)


def test_decoded_fields_of_sia_and_adm_cid() -> None:
    adm = decode_for_cli(VECTORS[0]["frame"])
    assert (adm["receiver"], adm["prefix"], adm["kind"], adm["data"]["state"]) == ("4F39", "4F39", "arming", "armed")
    panic = decode_for_cli(VECTORS[2]["frame"])
    assert panic["x_data"] == ["X006E07.7777777", "Y49N06.6666666"]
    assert panic["timestamp"] == "2021-04-22T20:45:46.000Z"
    assert panic["kind"] == "alarm"
    assert panic["data"] == {"class": "panic", "source": "dc09", "zone": 501, "partition": 1, "user": None,
                             "qualifier": "new", "code": "PA", "account": "1111"}
    assert panic["events"] == [{"code": "PA", "zone": 501, "partition": 1, "user": None}]
    closing = decode_for_cli(VECTORS[1]["frame"])
    assert closing["data"]["state"] == "armed"
    assert closing["data"]["user"] == 501
    unknown = decode_for_cli(VECTORS[3]["frame"])
    assert unknown["kind"] == "status"
    assert unknown["data"]["code"] == "JC"
    assert unknown["partition"] == 2
    poll = decode_for_cli(VECTORS[4]["frame"])
    assert poll["kind"] == "test"
    assert poll["data"] == {"source": "dc09", "test": "poll", "account": "7890"}
    power_up = decode_for_cli(VECTORS[5]["frame"])
    assert power_up["text"] == "test"
    assert power_up["data"]["status"] == "power_up"


def _good_frame() -> bytes:
    return build_message("SIA-DCS", 42, "1234", "#1234|Nri1/BA003", receiver="5", prefix="6",
                         x_data=["X1"], timestamp=NOW)


def _parse_or_refusal(frame: bytes) -> Dc09Message | FrameError:
    try:
        return parse_frame(frame)
    except FrameError as exc:
        return exc


def test_every_corrupted_byte_is_refused_or_flagged_in_the_length() -> None:
    frame = _good_frame()
    assert parse_frame(frame).length_ok
    inner = range(1, len(frame) - 1)  # the LF and CR are framing, not content
    for index in inner:
        for replacement in {frame[index] ^ 0x01, frame[index] ^ 0x20, 0x00, 0xFF} - {frame[index]}:
            corrupted = frame[:index] + bytes([replacement]) + frame[index + 1:]
            message = _parse_or_refusal(corrupted)
            if isinstance(message, FrameError):
                assert message.reason
                assert message.frame == corrupted
                continue
            if corrupted.upper() == frame.upper() and index <= 8:
                continue  # a hex digit of the CRC or length in the other letter case: same value
            # only a hex digit changed into another one in the length field may pass, and it is flagged
            assert 5 <= index <= 8, (index, corrupted)
            assert not message.length_ok
            with pytest.raises(FrameError, match=r"^length"):
                parse_frame(corrupted, strict_length=True)


def test_truncated_frames_at_every_length_are_refused() -> None:
    frame = _good_frame().strip(b"\n\r")
    for size in range(len(frame)):
        for candidate in (frame[:size], b"\n" + frame[:size] + b"\r"):
            with pytest.raises(FrameError):
                parse_frame(candidate)


@pytest.mark.parametrize(("body", "reason"), [
    ('"SIA-DCS"0001L0#1234#1234|NBA01]', "account"),
    ('"SIA-DCS"0001L0#1234[#1234|NBA01', "brackets"),
    ('"SIA-DCS"0001L0#1234[#12[34|NBA01]', "brackets"),
    ('"SIA-DCS"0001L0#1234[#1234|NBA01]]', "brackets"),
    ('"SIA-DCS"0001L0#1234[#1234|NBA01]x', "brackets"),
    ('"SIA-DCS"0001L0#1234[#1234|NBA01][X1', "brackets"),
    ('"SIA-DCS"0001L0#1234[#1234|NBA01][X[1]', "brackets"),
    ('"SIA-DCS"0001L0#1234]#1234|NBA01[', "account"),
    ('"SIA-XYZ"0001L0#1234[#1234|NBA01]', "token"),
    ('"SIA-DCS0001L0#1234[#1234|NBA01]', "token"),
    ('"ACK"0001L0#1234[]', "token"),
    ('"SIA-DCS"00A1L0#1234[#1234|NBA01]', "sequence"),
    ('"SIA-DCS"001L0#1234[#1234|NBA01]', "sequence"),
    ('"SIA-DCS"0001#1234[#1234|NBA01]', "prefix"),
    ('"SIA-DCS"0001L0#12[#1234|NBA01]', "account"),
    ('"SIA-DCS"0001L0#12345678901234567[]', "account"),
    ('"SIA-DCS"0001L0#12G4[#1234|NBA01]', "account"),
    ('"SIA-DCS"0001R1234567L0#1234[#1234|NBA01]', "prefix"),
    ('"SIA-DCS"0001L0#1234[#1234|NBA01]_25:00:00,01-01-2024', "timestamp"),
    ('"SIA-DCS"0001L0#1234[#1234|NBA01]_12:00:00,13-01-2024', "timestamp"),
    ('"SIA-DCS"0001L0#1234[#1234|NBA01]_12:00:00,02-30-2024', "timestamp"),
    ('"SIA-DCS"0001L0#1234[#1234|NBA01]_12:00:00', "timestamp"),
    ('"*SIA-DCS"0001L0#1234[ABCDEF', "brackets"),
    ('"*SIA-DCS"0001L0#1234[' + "Z" * 32, "brackets"),
])
def test_malformed_fields_are_refused_with_their_reason(body: str, reason: str) -> None:
    frame = frame_body(body)  # CRC and length right, so the field check is what refuses
    with pytest.raises(FrameError) as refused:
        parse_frame(frame)
    assert refused.value.reason.startswith(reason), refused.value.reason
    assert refused.value.frame == frame


@pytest.mark.parametrize("frame", [
    b"\n5715\x0047\"ADM-CID\"0247R4F39L4F39#4F39[#4F39|3401 01 057]\r",
    "\n0000002A\"SIA-DCS\"0001L0#1234[#1234|N哨兵BA01]\r".encode(),
    b"\xff" * 40,
    b"",
    b"\n\r",
    b"0000",
    b"zzzz0010\"SIA-DCS\"",
    b"5715zz47\"ADM-CID\"",
    b"57150047ADM-CID\"0247",
])
def test_hostile_frames_are_refused(frame: bytes) -> None:
    with pytest.raises(FrameError) as refused:
        parse_frame(frame)
    assert refused.value.reason.split(":")[0] in {"characters", "framing"}


def test_random_bytes_never_raise_anything_but_frame_error() -> None:
    rng = random.Random(9)
    good = _good_frame()
    for _ in range(3000):
        size = rng.randrange(0, 160)
        junk = bytes(rng.randrange(256) for _ in range(size))
        mixed = bytearray(good)
        for _ in range(rng.randrange(1, 4)):
            mixed[rng.randrange(len(mixed))] = rng.randrange(256)
        for candidate in (junk, bytes(mixed), b"\n" + junk + b"\r"):
            with contextlib.suppress(FrameError):
                parse_frame(candidate)


def test_framer_reassembles_any_segmentation() -> None:
    frames = [_good_frame(), frame_body('"NULL"0000L0#7890[]')]
    stream = b"".join(frames)
    for cut in range(1, len(stream)):
        framer = Dc09Framer()
        out = framer.feed(stream[:cut]) + framer.feed(stream[cut:])
        assert out == frames
    framer = Dc09Framer()
    one_by_one = [item for byte in stream for item in framer.feed(bytes([byte]))]
    assert one_by_one == frames
    assert framer.flush() == []


def test_framer_refuses_bytes_outside_frames_once_per_run() -> None:
    framer = Dc09Framer()
    frame = _good_frame()
    out = framer.feed(b"\x00\x01garbage" + frame + b"more" + frame)
    assert [type(item) for item in out] == [FrameError, bytes, FrameError, bytes]
    assert isinstance(out[0], FrameError)
    assert out[0].reason == "framing: 9 bytes outside a frame"
    assert out[0].frame == b"\x00\x01garbage"


def test_framer_refuses_an_over_long_frame_once_and_recovers() -> None:
    framer = Dc09Framer(max_frame=1024)
    out = framer.feed(b"\n" + b"A" * 100_000)
    assert len(out) == 1
    assert isinstance(out[0], FrameError)
    assert out[0].reason == "framing: frame longer than 1024 bytes without CR"
    assert len(out[0].frame) <= 65  # the LF and a sample of 64 bytes
    out = framer.feed(b"A" * 5000 + _good_frame())
    assert out[-1] == _good_frame()
    assert isinstance(out[0], FrameError)
    assert out[0].reason.startswith("framing: ")


def test_framer_a_million_lfs_cost_one_refusal() -> None:
    framer = Dc09Framer()
    assert framer.feed(b"\n" * 1_000_000) == []
    assert framer.junk_pending == 999_999
    out = framer.feed(_good_frame()[1:])  # the last LF of the flood opens this frame
    assert [type(item) for item in out] == [FrameError, bytes]
    assert isinstance(out[0], FrameError)
    assert out[0].reason == "framing: 999999 bytes outside a frame"
    parse_frame(out[1])  # type: ignore[arg-type]


def test_framer_lf_inside_a_frame_refuses_the_cut_frame() -> None:
    framer = Dc09Framer()
    frame = _good_frame()
    out = framer.feed(frame[:20] + frame)
    assert isinstance(out[0], FrameError)
    assert out[0].reason.startswith("framing: frame cut short")
    assert out[1] == frame
    framer.feed(b"\nhalf a frame")
    flushed = framer.flush()
    assert len(flushed) == 1
    assert isinstance(flushed[0], FrameError)
    assert flushed[0].reason.startswith("framing: stream ended inside a frame")


@pytest.mark.parametrize("bits", sorted(KEYS))
def test_encryption_round_trip(bits: int) -> None:
    key = KEYS[bits]
    frame = build_message("ADM-CID", 7, "12AB", adm_cid_data("new", 130, 1, 3, account="12AB"),
                          x_data=["X114E03.9"], timestamp=NOW, key=key)
    assert b'"*ADM-CID"0007L0#12AB[' in frame
    message = parse_frame(frame)
    assert message.encrypted
    assert message.ciphertext
    assert message.data == ""
    assert message.timestamp is None
    assert len(message.ciphertext) % 32 == 0
    clear = decrypt_message(message, key)
    assert clear.data == "#12AB|1130 01 003"
    assert clear.x_data == ["X114E03.9"]
    assert clear.timestamp == NOW
    assert clear.encrypted
    assert clear.decrypted
    wrong = bytes(len(key))
    with pytest.raises(FrameError, match=r"^decryption failed"):
        decrypt_message(message, wrong)


def test_encryption_pad_fills_whole_blocks_and_never_uses_reserved_characters() -> None:
    key = KEYS[128]
    seen_pad_lengths = set()
    for size in range(0, 40):
        clear = "x" * size + "]"
        hex_text = encrypt_region(clear, key)
        assert len(hex_text) % 32 == 0
        assert decrypt_region(hex_text, key) == clear
        pad_length = len(hex_text) // 2 - len(clear) - 1
        assert 1 <= pad_length <= 16
        seen_pad_lengths.add(pad_length)
    assert 16 in seen_pad_lengths  # a region already whole gets a full block of pad
    with pytest.raises(ValueError, match="pad"):
        encrypt_region("x", key, pad=lambda count: "|" * count)


def test_an_external_encrypted_frame_decrypts() -> None:
    message = decrypt_message(parse_frame(EXTERNAL_ENCRYPTED), b"A" * 16)
    assert message.data == "Nri1/WA000"
    assert message.timestamp == datetime(2020, 7, 9, 16, 4, 2, tzinfo=UTC)
    readings = readings_of(message, device="dc09:1111", rx=NOW)
    assert [(r.kind, r.data["class"], r.data["zone"]) for r in readings] == [(Kind.ALARM, "water", 0)]


def test_garbage_ciphertext_fails_to_decrypt() -> None:
    rng = random.Random(3)
    for _ in range(200):
        hex_text = bytes(rng.randrange(256) for _ in range(rng.choice((16, 32, 48)))).hex()
        message = parse_frame(frame_body(f'"*SIA-DCS"0001L0#1234[{hex_text}'))
        with pytest.raises(FrameError, match=r"^decryption failed"):
            decrypt_message(message, KEYS[256])


def test_encrypted_frame_decodes_for_the_cli_without_its_data() -> None:
    decoded = decode_for_cli(EXTERNAL_ENCRYPTED)
    assert decoded["encrypted"] is True
    assert decoded["kind"] is None
    assert decoded["account"] == "1111"


@pytest.mark.parametrize("text", ["", "00", "zz" * 16, "00" * 17])
def test_bad_keys_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="key"):
        parse_key(text)


def test_replies_parse_back_with_correct_crc_and_length() -> None:
    message = parse_frame(VECTORS[5]["frame"])
    for frame, token in ((ack(message), "ACK"), (duh(message), "DUH")):
        assert frame.startswith(b"\n")
        assert frame.endswith(b"\r")
        reply = parse_reply(frame)  # strict on length
        assert (reply.token, reply.sequence, reply.receiver, reply.prefix, reply.account) == (
            token, "0001", "F3", "77", "1234")
        assert crc16_arc(frame[9:-1]) == int(frame[1:5], 16)
    assert ack(message) == b'\n61DB0016"ACK"0001RF3L77#1234[]\r'
    refused = parse_reply(nak(NOW))
    assert (refused.token, refused.timestamp, refused.account) == ("NAK", NOW, "0")
    documented = parse_reply(CONFORMANCE["replies"][0]["frame"])
    assert documented.token == "NAK"
    assert documented.timestamp == datetime(2025, 9, 24, 16, 20, 1, tzinfo=UTC)


def test_ack_without_receiver_echoes_what_the_message_had() -> None:
    message = parse_frame(VECTORS[1]["frame"])
    reply = parse_reply(ack(message))
    assert (reply.receiver, reply.prefix, reply.account, reply.sequence) == (None, "0", "AAA", "6002")


def test_encrypted_ack_is_encrypted_and_needs_the_key() -> None:
    key = KEYS[192]
    message = decrypt_message(parse_frame(build_message("SIA-DCS", 9, "1234", "#1234|NBA1", timestamp=NOW,
                                                        key=key)), key)
    frame = ack(message, key=key, now=NOW)
    assert b'"*ACK"0009L0#1234[' in frame
    assert b"]" not in frame
    reply = parse_reply(frame, key=key)
    assert (reply.token, reply.encrypted, reply.timestamp) == ("ACK", True, NOW)
    with pytest.raises(FrameError, match=r"^decryption failed"):
        parse_reply(frame)
    with pytest.raises(FrameError, match=r"^decryption failed"):
        parse_reply(frame, key=KEYS[128])
    with pytest.raises(ValueError, match="key"):
        ack(message)


def test_sia_data_with_several_events_and_modifiers() -> None:
    data = parse_sia_dcs("#1234|Nri1/BA01/BA02|Nri2FA3/id7/OP")
    assert data.account == "1234"
    assert [(e.code, e.address, e.partition, e.user) for e in data.events] == [
        ("BA", 1, 1, None), ("BA", 2, 1, None), ("FA", 3, 2, None), ("OP", None, 2, 7)]
    message = parse_frame(frame_body('"SIA-DCS"0001L0#1234[#1234|Nri1/BA01/TA02/OP5/RP/YT/ZZ9]'))
    readings = readings_of(message, device="dc09:1234", rx=NOW)
    assert next((r.kind, r.device, r.ts) for r in readings) == (Kind.ALARM, "dc09:1234", NOW)
    burglary = readings[0].data
    assert burglary == {"class": "burglary", "source": "dc09", "zone": 1, "partition": 1, "user": None,
                        "qualifier": "new", "code": "BA", "account": "1234"}
    assert readings[1].data["class"] == "tamper"
    assert (readings[2].kind, readings[2].data["state"], readings[2].data["user"]) == (Kind.ARMING, "disarmed", 5)
    assert (readings[3].kind, readings[3].data["test"]) == (Kind.TEST, "automatic")
    assert (readings[4].kind, readings[4].data["class"]) == (Kind.TROUBLE, "low_battery")
    assert (readings[5].kind, readings[5].data["code"], readings[5].data["zone"]) == (Kind.STATUS, "ZZ", 9)


@pytest.mark.parametrize(("code", "kind", "label", "qualifier"), [
    ("BA", Kind.ALARM, "burglary", "new"), ("BR", Kind.ALARM, "burglary", "restore"),
    ("PA", Kind.ALARM, "panic", "new"), ("HA", Kind.ALARM, "holdup", "new"), ("HR", Kind.ALARM, "holdup", "restore"),
    ("FA", Kind.ALARM, "fire", "new"), ("MA", Kind.ALARM, "medical", "new"), ("TA", Kind.ALARM, "tamper", "new"),
    ("GA", Kind.ALARM, "gas", "new"), ("WR", Kind.ALARM, "water", "restore"), ("KA", Kind.ALARM, "heat", "new"),
    ("AT", Kind.TROUBLE, "ac_loss", "new"), ("AR", Kind.TROUBLE, "ac_loss", "restore"),
    ("YT", Kind.TROUBLE, "low_battery", "new"), ("YC", Kind.TROUBLE, "comm_fail", "new"),
    ("YK", Kind.TROUBLE, "comm_fail", "restore"), ("BT", Kind.TROUBLE, "zone_trouble", "new"),
])
def test_sia_alarm_and_trouble_codes(code: str, kind: Kind, label: str, qualifier: str) -> None:
    message = parse_frame(frame_body(f'"SIA-DCS"0001L0#1234[#1234|Nri3/{code}12]'))
    (reading,) = readings_of(message, device="d", rx=NOW)
    assert reading.kind is kind
    assert {key: reading.data[key] for key in ("class", "qualifier", "zone", "partition", "code", "source")} == {
        "class": label, "qualifier": qualifier, "zone": 12, "partition": 3, "code": code, "source": "dc09"}


def test_bypass_and_power_up_are_status() -> None:
    message = parse_frame(frame_body('"SIA-DCS"0001L0#1234[#1234|NBB4/BU4/RR]'))
    bypass, unbypass, power_up = readings_of(message, device="d", rx=NOW)
    assert (bypass.kind, bypass.data["bypass"], unbypass.data["bypass"]) == (Kind.STATUS, True, False)
    assert power_up.data["status"] == "power_up"


@pytest.mark.parametrize("data", ["", "#1234|", "#1234", "#1234|Q12", "#1234|N1234", "#1234|Nri1", "#1|#2|NBA1",
                                  "#1234|Nri1/b@"])
def test_unreadable_sia_data_is_a_data_error(data: str) -> None:
    with pytest.raises(FrameError, match=r"^data: "):
        parse_sia_dcs(data)


@pytest.mark.parametrize("data", ["", "#1234|9130 01 001", "#1234|113 01 001", "#1234|1130 1 001",
                                  "#1234|1130 01 0011", "#1234 1130 01 001", "1130 01 001"])
def test_unreadable_adm_cid_data_is_a_data_error(data: str) -> None:
    with pytest.raises(FrameError, match=r"^data: "):
        parse_adm_cid(data)


def test_adm_cid_reading_uses_the_contact_id_table() -> None:
    message = parse_frame(build_message("ADM-CID", 3, "1234", adm_cid_data("new", 130, 2, 15), timestamp=NOW))
    (reading,) = readings_of(message, device="dc09:1234", rx=NOW + timedelta(seconds=1))
    assert reading.kind is Kind.ALARM
    assert reading.ts == NOW
    assert {key: reading.data[key] for key in ("class", "zone", "partition", "qualifier", "code", "account")} == {
        "class": "burglary", "zone": 15, "partition": 2, "qualifier": "new", "code": 130, "account": "1234"}


def test_readings_of_a_message_with_bad_data_carry_the_frame() -> None:
    frame = frame_body('"ADM-CID"0001L0#1234[#1234|hello]')
    with pytest.raises(FrameError) as refused:
        readings_of(parse_frame(frame), device="d", rx=NOW)
    assert refused.value.frame == frame
    assert refused.value.reason.startswith("data: ")


def test_builder_helpers() -> None:
    assert sia_dcs_data("BA", 3, partition=1, account="1234") == "#1234|Nri1/BA003"
    assert sia_dcs_data("CL", 7, partition=None, user=7) == "|Nid7/CL007"
    assert adm_cid_data("restore", 401, 1, 57, account="4F39") == "#4F39|3401 01 057"
    with pytest.raises(ValueError, match="timestamp"):
        build_message("NULL", 1, "123", key=KEYS[128])


@pytest.mark.parametrize(
    ("code", "kind", "klass", "qualifier"),
    [
        ("UA", Kind.ALARM, "alarm", "new"),  # untyped zone alarm: listed
        ("ZA", Kind.ALARM, "alarm", "new"),  # not listed: SIA's second letter A still makes it an alarm
        ("ZH", Kind.ALARM, "alarm", "restore"),
        ("ZT", Kind.TROUBLE, "trouble", "new"),
        ("DF", Kind.ALARM, "forced_door", "new"),
        ("SA", Kind.ALARM, "fire", "new"),
    ],
)
def test_alarm_codes_outside_the_table_are_never_demoted_to_status(code: str, kind: Kind, klass: str,
                                                                    qualifier: str) -> None:
    got_kind, data = sia_event_reading(SiaEvent(code=code, address=4, partition=1), account="1234")
    assert (got_kind, data["class"], data["qualifier"]) == (kind, klass, qualifier)


def test_a_verified_burglary_says_so() -> None:
    kind, data = sia_event_reading(SiaEvent(code="BV", address=2, partition=1), account="1234")
    assert (kind, data["class"], data.get("verified")) == (Kind.ALARM, "burglary", True)
    _, plain = sia_event_reading(SiaEvent(code="BA", address=2, partition=1), account="1234")
    assert "verified" not in plain


def test_a_code_with_no_meaning_at_all_is_kept_as_status_with_its_code() -> None:
    kind, data = sia_event_reading(SiaEvent(code="ZZ", address=1, partition=1), account="1234")
    assert (kind, data["code"], data["known_code"]) == (Kind.STATUS, "ZZ", False)
