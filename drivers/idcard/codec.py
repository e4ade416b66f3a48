"""Frames to meaning, with no I/O: a read answer into a `CardRead`, any frame into the `shaobing decode idcard` output.

A read answer (30 01, or 30 10 with fingerprints) with SW3 90 carries, after the status word: the text length (2,
big-endian, 256), the photo length (2, 1024), with 30 10 the fingerprint length (2), then the text block, the photo
(WLT, compressed by a proprietary scheme: kept as the reader gives it, never decompressed here) and the fingerprints.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from drivers.hex_frames import frame_from_hex
from drivers.idcard import gb11643
from drivers.idcard.commands import Command
from drivers.idcard.frame import HEAD, PREAMBLE, SamRequest, SamResponse, build_response, checksum, unwrap
from drivers.idcard.status import FIND_FAILED, FIND_OK, OK, READ_FAILED, SELECT_FAILED
from drivers.idcard.text import LAYOUTS, TEXT_SIZE, CardText, card_type_of, encode_text, parse_text
from shaobing.errors import FrameError

PHOTO_SIZE: Final = 1024
MAX_FINGERPRINT: Final = 1024
_STATUS_LENGTH = 3


@dataclass(frozen=True, slots=True)
class CardRead:
    text: CardText
    photo: bytes
    fingerprint: bytes | None  # None: read without fingerprints (30 01)


def parse_read(response: SamResponse) -> CardRead:
    """The card in a read answer; FrameError when the answer is not a successful read or its contents are refused."""
    frame, data = response.raw, response.data
    if response.status.sw3 != OK:
        raise FrameError(f"read answer: status {response.status.name}, not ok", frame)
    if len(data) < 4:
        raise FrameError(f"read answer: {len(data)} bytes of data, too short for its lengths", frame)
    text_length, photo_length = struct.unpack_from(">HH", data)
    if text_length != TEXT_SIZE or photo_length > PHOTO_SIZE:
        raise FrameError(f"read answer: text length {text_length}, photo length {photo_length}, expected "
                         f"{TEXT_SIZE} and at most {PHOTO_SIZE}", frame)
    fingerprint_length: int | None = None
    start = 4
    if len(data) != start + text_length + photo_length:
        if len(data) < 6:
            raise FrameError("read answer: lengths do not match its data", frame)
        fingerprint_length = struct.unpack_from(">H", data, 4)[0]
        start = 6
        if fingerprint_length > MAX_FINGERPRINT or len(data) != start + text_length + photo_length + \
                fingerprint_length:
            raise FrameError(f"read answer: lengths {text_length}+{photo_length}+{fingerprint_length} do not match "
                             f"{len(data) - start} bytes of data", frame)
    text = parse_text(data[start:start + text_length], frame)
    photo = data[start + text_length:start + text_length + photo_length]
    fingerprint = None if fingerprint_length is None else data[start + text_length + photo_length:]
    return CardRead(text=text, photo=photo, fingerprint=fingerprint)


def is_read_answer(response: SamResponse) -> bool:
    """Whether a successful answer's data has the shape of a card read (its first length says 256)."""
    return response.status.sw3 == OK and len(response.data) >= 4 and response.data[:2] == b"\x01\x00"


def answers(command: Command, response: SamResponse) -> bool:
    """Whether `response` can be the module's answer to `command`. An error status (checksum_error,
    sam_self_test_failed, ...) answers anything; find, select and read each have their own. A late answer to an
    earlier command does not fit, which is how the driver tells it from the one it waits for."""
    sw3 = response.status.sw3
    if sw3 not in (OK, FIND_OK, FIND_FAILED, SELECT_FAILED, READ_FAILED):
        return True
    if command is Command.FIND_CARD:
        return sw3 in (FIND_OK, FIND_FAILED)
    if command is Command.SELECT_CARD:
        return sw3 == SELECT_FAILED or (sw3 == OK and not is_read_answer(response))
    if command in (Command.READ, Command.READ_FINGERPRINT):
        return sw3 == READ_FAILED or is_read_answer(response)
    return sw3 == OK and not is_read_answer(response)


def card_fields(card: CardText, *, today: date | None = None) -> dict[str, Any]:
    """The contract's `id_read` fields for one card, with `id_number_valid` (GB 11643; None for the 15-character
    2017 foreigner's number, which GB 11643 does not cover) and the layout's own fields when present."""
    out: dict[str, Any] = {
        "card_type": card.card_type, "id_number": card.id_number, "name": card.name, "gender": card.gender,
        "nation": card.nation, "birth_date": card.birth_date.isoformat(), "address": card.address,
        "authority": card.authority, "valid_from": card.valid_from.isoformat(),
        "valid_to": None if card.valid_to is None else card.valid_to.isoformat(), "long_term": card.long_term,
    }
    if card.card_type == "foreigner" and len(card.id_number) == 15:
        out["id_number_valid"] = None
    else:
        verdict = gb11643.check(card.id_number, today=today)
        out["id_number_valid"] = verdict.valid
        if not verdict.valid:
            out["id_number_problem"] = verdict.problem
        elif verdict.birth_date != card.birth_date:
            out["id_number_valid"] = False
            out["id_number_problem"] = "birth date differs from the card's"
    if card.nation_code is not None:
        out["nation_code"] = card.nation_code
    for key in ("name_en", "nationality", "pass_number", "issue_count", "card_version", "authority_code",
                "renewal_count"):
        value = getattr(card, key)
        if value is not None:
            out[key] = value
    return out


def photo_fields(photo: bytes, *, embed: bool) -> dict[str, Any]:
    """The photo as a reading keeps it: its length and SHA-256, and (with `embed`) the WLT bytes in base64."""
    out: dict[str, Any] = {"photo_len": len(photo), "photo_sha256": hashlib.sha256(photo).hexdigest()}
    if embed:
        out["photo_wlt"] = base64.b64encode(photo).decode("ascii")
    return out


def describe(frame: bytes, *, today: date | None = None) -> dict[str, Any]:
    """One frame as `shaobing decode idcard` prints it; FrameError when refused."""
    parsed = unwrap(frame)
    if isinstance(parsed, SamRequest):
        out: dict[str, Any] = {"type": "request", "command": parsed.command.label,
                               "code": f"{parsed.command.cmd:02X}{parsed.command.para:02X}"}
        if parsed.data:
            out["data"] = parsed.data.hex()
        return out
    out = {"type": "response", "status": parsed.status.name, "sw3": f"{parsed.status.sw3:02X}",
           "meaning": parsed.status.meaning}
    if is_read_answer(parsed):
        card = parse_read(parsed)
        out.update(card_fields(card.text, today=today))
        out.update(photo_fields(card.photo, embed=False))
        if card.fingerprint is not None:
            out["fingerprint_len"] = len(card.fingerprint)
    elif parsed.data:
        out["data"] = parsed.data.hex()
    return out


def decode_for_cli(line: str) -> dict[str, Any]:
    """One frame in hex (spaces allowed) as a dict for `shaobing decode idcard`; FrameError for a refused frame."""
    return describe(frame_from_hex(line))


def redact(frame: bytes) -> bytes:
    """A read answer as it may be logged: the ID number's birth date and sequence starred, the photo and fingerprints
    zeroed, the checksum redone only if it was right (so the copy is refused for the same reason as the original).
    Any other frame is returned as is."""
    offset = HEAD + _STATUS_LENGTH + 4
    if not frame.startswith(PREAMBLE) or len(frame) < offset + TEXT_SIZE + 1 or frame[HEAD] != 0:
        return frame
    if frame[HEAD + _STATUS_LENGTH:HEAD + _STATUS_LENGTH + 2] != b"\x01\x00":
        return frame
    checksum_was_right = checksum(frame[len(PREAMBLE):-1]) == frame[-1]
    copy = bytearray(frame)
    if len(frame) - offset - 1 != TEXT_SIZE + struct.unpack_from(">H", frame, HEAD + _STATUS_LENGTH + 2)[0]:
        offset += 2  # a fingerprint length comes first
    block = bytes(copy[offset:offset + TEXT_SIZE])
    try:
        card_type = card_type_of(block)
    except FrameError:
        card_type = "resident"
    id_offset, id_size = LAYOUTS[card_type]["id_number"]
    start = offset + id_offset + 12  # keep the six-character region, star the rest but the last four
    end = offset + id_offset + id_size - 8
    for at in range(start, end, 2):
        if copy[at:at + 2] != b" \x00":  # padding stays padding: an empty number is refused as missing either way
            copy[at:at + 2] = b"*\x00"
    copy[offset + TEXT_SIZE:-1] = bytes(len(copy) - 1 - offset - TEXT_SIZE)
    if checksum_was_right:
        copy[-1] = checksum(bytes(copy[len(PREAMBLE):-1]))
    return bytes(copy)


def read_answer(card: CardText, photo: bytes = bytes(PHOTO_SIZE), fingerprint: bytes | None = None) -> bytes:
    """The module's answer to a read of this card (what a simulated reader sends)."""
    block = encode_text(card)
    lengths = struct.pack(">HH", len(block), len(photo))
    if fingerprint is not None:
        lengths += struct.pack(">H", len(fingerprint))
    return build_response(OK, lengths + block + photo + (fingerprint or b""))
