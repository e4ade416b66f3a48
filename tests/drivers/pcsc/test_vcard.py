"""The virtual card's side of vpcd's protocol, with no I/O: message framing and what the card answers."""

from __future__ import annotations

import pytest
from firmware_sim.vcard.card import DEFAULT_ATR, GET_UID, CardBehaviour, answer
from firmware_sim.vcard.protocol import ApduMessage, Control, ControlMessage, MessageReader, encode

UID = bytes.fromhex("04A1B2C3")


def test_messages_are_split_from_any_chunking() -> None:
    stream = encode(bytes([Control.GET_ATR])) + encode(GET_UID) + encode(bytes([Control.POWER_OFF]))
    for size in (1, 2, 3, len(stream)):
        reader = MessageReader()
        got = [message for start in range(0, len(stream), size) for message in reader.feed(stream[start:start + size])]
        assert got == [ControlMessage(Control.GET_ATR), ApduMessage(GET_UID), ControlMessage(Control.POWER_OFF)]


def test_a_partial_message_waits_for_the_rest() -> None:
    reader = MessageReader()
    assert reader.feed(b"\x00\x05\xff\xca") == []
    assert reader.feed(b"\x00\x00\x00" + b"\x00\x01\x01") == [ApduMessage(GET_UID), ControlMessage(Control.POWER_ON)]


def test_a_message_longer_than_the_length_field_is_refused() -> None:
    assert encode(b"\x01" * 0xFFFF)[:2] == b"\xff\xff"
    with pytest.raises(ValueError, match="at most 65535"):
        encode(b"\x01" * 0x10000)


def test_the_card_answers_get_uid_with_its_uid_and_9000() -> None:
    card = CardBehaviour(uid=UID)
    assert card.atr == DEFAULT_ATR
    assert answer(card, GET_UID) == UID + b"\x90\x00"
    assert answer(card, bytes.fromhex("FFCA000004")) == UID + b"\x90\x00"


@pytest.mark.parametrize(("apdu", "reply"), [
    ("FFCA000007", "6C04"),  # wrong Le: the card names the right one
    ("FFCA010000", "6A81"),  # ATS / historical bytes: not this card
    ("00A4040000", "6D00"),
    ("FFCA", "6700"),
    ("", "6700"),
])
def test_the_card_answers_other_apdus_as_a_card_would(apdu: str, reply: str) -> None:
    got = answer(CardBehaviour(uid=UID), bytes.fromhex(apdu))
    assert got is not None and got.hex().upper() == reply


def test_misbehaviours() -> None:
    assert answer(CardBehaviour(uid=UID, status_word=bytes.fromhex("6300")), GET_UID) == bytes.fromhex("6300")
    assert answer(CardBehaviour(uid=UID, reply=b"\x01"), GET_UID) == b"\x01"
    assert answer(CardBehaviour(uid=UID, silent=True), GET_UID) is None
