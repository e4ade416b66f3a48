"""Reading a contactless card's UID through PC/SC, with no I/O: the command, and the checks on the card's answer.

`FF CA 00 00 00` is PC/SC part 3's GET DATA pseudo-APDU: the reader itself answers with the UID of the card in its
field (4, 7 or 10 bytes for ISO 14443 A, 8 for ISO 15693 and FeliCa), followed by the status word 90 00.
"""

from __future__ import annotations

from typing import Any

from shaobing.errors import FrameError

GET_UID = bytes.fromhex("FFCA000000")
MIN_UID = 4
MAX_UID = 10
SW_OK = 0x9000

# The status words a reader or card gives instead of 90 00 (PC/SC part 3 and ISO 7816-4), named for the log.
STATUS_WORDS: dict[int, str] = {
    0x6281: "part of the data may be corrupted",
    0x6282: "end of data before Le bytes",
    0x6300: "the reader could not read the card",
    0x6581: "memory failure",
    0x6700: "wrong length",
    0x6882: "secure messaging not supported",
    0x6981: "command incompatible with the card",
    0x6982: "security status not satisfied",
    0x6985: "conditions of use not satisfied",
    0x6986: "command not allowed",
    0x6A81: "function not supported",
    0x6A82: "not found",
    0x6A86: "wrong P1 P2",
    0x6B00: "wrong parameters",
    0x6D00: "instruction not supported",
    0x6E00: "class not supported",
    0x6F00: "no precise diagnosis",
}


def status_text(sw: int) -> str:
    """What a status word means: `function not supported`; `6Cxx` and `61xx` name their length byte."""
    if sw >> 8 == 0x6C:
        return f"wrong Le, the card has {sw & 0xFF} bytes"
    if sw >> 8 == 0x61:
        return f"{sw & 0xFF} more bytes available"
    return STATUS_WORDS.get(sw, "unknown status word")


def parse_uid_response(response: bytes) -> bytes:
    """The UID in a response to `GET_UID`; FrameError (with the response as the frame) when there is none."""
    if len(response) < 2:
        size = f"{len(response)} byte{'' if len(response) == 1 else 's'}"
        raise FrameError(f"too short: {size}, no status word", response)
    sw = int.from_bytes(response[-2:], "big")
    uid = response[:-2]
    if sw != SW_OK:
        raise FrameError(f"status {sw:04X}: {status_text(sw)}", response)
    if not uid:
        raise FrameError("empty UID: status 9000 with no data", response)
    if not MIN_UID <= len(uid) <= MAX_UID:
        raise FrameError(f"UID length: {len(uid)} bytes ({MIN_UID} to {MAX_UID} expected)", response)
    return uid


def card_name(uid: bytes) -> str:
    """The canonical name of a contactless card: its UID as upper-case hex without separators ("04A1B2C3")."""
    return uid.hex().upper()


def decode_for_cli(line: str) -> dict[str, Any]:
    """`shaobing decode pcsc`: a captured response to `FF CA 00 00 00` in hex (spaces and colons allowed)."""
    text = "".join(line.split()).replace(":", "")
    try:
        response = bytes.fromhex(text)
    except ValueError:
        raise FrameError("not hex", line) from None
    uid = parse_uid_response(response)
    return {"card": card_name(uid), "uid_length": len(uid), "sw": f"{SW_OK:04X}"}
