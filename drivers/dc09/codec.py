"""DC-09 frames as text, with no I/O: check, parse, decrypt, and decode for the command line.

A frame is `<LF><crc><length>"<id>"<seq>[R<rcvr>]L<prefix>#<acct>[<data>][<x-data>...][_HH:MM:SS,MM-DD-YYYY]<CR>`;
the LF and CR are optional here. Checks run in a fixed order so a refused frame gets the first reason that applies:
framing/characters, CRC, length, token, sequence, receiver/prefix, account, brackets, timestamp.

Length policy: the CRC already protects the frame, and many panels (and public test frames) carry a wrong length
(some write it in decimal), so a wrong length is accepted and flagged `length_ok=False` unless `strict_length` is set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from drivers.dc09.crc import crc16_arc
from drivers.dc09.crypto import decrypt_region
from drivers.dc09.message import FORMATS, Dc09Message
from drivers.dc09.readings import describe
from shaobing.errors import FrameError

LF = 0x0A
CR = 0x0D
HEADER_LEN = 8  # 4 hex digits of CRC, 4 of length
TIMESTAMP_FORMAT = "_%H:%M:%S,%m-%d-%Y"

_NOT_PRINTABLE = re.compile(rb"[^\x20-\x7e]")
_HEX4 = re.compile(rb"[0-9A-Fa-f]{4}")
_TOKEN = re.compile(r'"(\*?)([^"]{0,16})"')
_SEQUENCE = re.compile(r"\d{4}")
_RECEIVER = re.compile(r"R([0-9A-Fa-f]{1,6})")
_PREFIX = re.compile(r"L([0-9A-Fa-f]{1,6})")
_ACCOUNT = re.compile(r"#([0-9A-Fa-f]{3,16})")
# "L0A0" in the NAK: the prefix and the account placeholder must be matched together to split them
_REPLY_ADDRESS = re.compile(r"L([0-9A-Fa-f]{1,6})[#A]([0-9A-Fa-f]{1,16})(?=\[)")
_HEX_TEXT = re.compile(r"[0-9A-Fa-f]+")
_TIMESTAMP = re.compile(r"_(\d\d):(\d\d):(\d\d),(\d\d)-(\d\d)-(\d{4})")


def as_bytes(frame: bytes | bytearray | str) -> bytes:
    return frame.encode("utf-8") if isinstance(frame, str) else bytes(frame)


def strip_framing(frame: bytes) -> bytes:
    """Drop the LF that opens a frame and the CR that closes it, when present."""
    start = 1 if frame[:1] == b"\n" else 0
    end = len(frame) - 1 if frame[-1:] == b"\r" else len(frame)
    return frame[start:end]


def check_frame(raw: bytes, *, strict_length: bool = False) -> tuple[str, bool]:
    """Framing, characters, CRC and length: the body (from the opening quote) and whether the length was right."""
    frame = strip_framing(raw)
    bad = _NOT_PRINTABLE.search(frame)
    if bad:
        raise FrameError(f"characters: byte 0x{frame[bad.start()]:02X} at {bad.start()} is not printable ASCII",
                         raw)
    if len(frame) < HEADER_LEN + 1:
        raise FrameError(f"framing: {len(frame)} characters is too short for a DC-09 frame", raw)
    if not _HEX4.fullmatch(frame, 0, 4):
        raise FrameError(f"framing: CRC field {frame[:4].decode()!r} is not 4 hex digits", raw)
    if not _HEX4.fullmatch(frame, 4, 8):
        raise FrameError(f"framing: length field {frame[4:8].decode()!r} is not 4 hex digits", raw)
    if frame[8:9] != b'"':
        raise FrameError("framing: no opening quote after CRC and length", raw)
    body = frame[HEADER_LEN:]
    computed = crc16_arc(body)
    declared = frame[:4].decode()
    if computed != int(declared, 16):
        raise FrameError(f"CRC (computed {computed:04X}, frame says {declared.upper()})", raw)
    length_ok = int(frame[4:8], 16) == len(body)
    if not length_ok and strict_length:
        raise FrameError(f"length (frame says {int(frame[4:8], 16)}, counted {len(body)})", raw)
    return body.decode("ascii"), length_ok


@dataclass(frozen=True, slots=True)
class Header:
    encrypted: bool
    token: str
    sequence: str
    receiver: str | None
    prefix: str
    account: str
    end: int  # index in the body where the data region (`[`) starts


def parse_header(body: str, raw: bytes, *, tokens: tuple[str, ...], reply: bool = False) -> Header:
    """Token, sequence, receiver, prefix and account; replies may carry `A0` in place of `#<acct>` (the NAK)."""
    token_match = _TOKEN.match(body)
    if token_match is None:
        raise FrameError("token: no closing quote", raw)
    star, token = token_match.groups()
    if token not in tokens:
        raise FrameError(f"token: {star + token!r} is not one of {', '.join(tokens)}", raw)
    pos = token_match.end()
    if not _SEQUENCE.fullmatch(body, pos, pos + 4):
        raise FrameError(f"sequence: {body[pos:pos + 4]!r} is not 4 digits", raw)
    sequence = body[pos:pos + 4]
    pos += 4
    receiver = None
    receiver_match = _RECEIVER.match(body, pos)
    if receiver_match:
        receiver = receiver_match.group(1)
        pos = receiver_match.end()
    if reply:
        address = _REPLY_ADDRESS.match(body, pos)
        if address is None:
            raise FrameError(f"account: expected L<prefix>#<account>[ at {body[pos:pos + 20]!r}", raw)
        prefix, account, end = address.group(1), address.group(2), address.end()
    else:
        prefix_match = _PREFIX.match(body, pos)
        if prefix_match is None:
            raise FrameError(f"prefix: expected L<1-6 hex digits> at {body[pos:pos + 8]!r}", raw)
        account_match = _ACCOUNT.match(body, prefix_match.end())
        if account_match is None or body[account_match.end():account_match.end() + 1] != "[":
            raise FrameError(f"account: expected #<3-16 hex digits>[ at {body[prefix_match.end():][:20]!r}", raw)
        prefix, account, end = prefix_match.group(1), account_match.group(1), account_match.end()
    return Header(encrypted=bool(star), token=token, sequence=sequence, receiver=receiver, prefix=prefix,
                  account=account, end=end)


def parse_timestamp(text: str, raw: bytes = b"") -> datetime:
    """`_HH:MM:SS,MM-DD-YYYY` (UTC, as DC-09 prescribes)."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise FrameError(f"timestamp: {text[:24]!r} is not _HH:MM:SS,MM-DD-YYYY", raw)
    hour, minute, second, month, day, year = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise FrameError(f"timestamp: {text[1:]!r}: {exc}", raw) from None


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_data_region(text: str, raw: bytes = b"") -> tuple[str, list[str], datetime | None]:
    """`[data][x-data]..._timestamp` -> data, x-data, timestamp (the timestamp is optional)."""
    if not text.startswith("["):
        raise FrameError("brackets: data must start with '['", raw)
    items: list[str] = []
    pos = 0
    while pos < len(text) and text[pos] == "[":
        close = text.find("]", pos + 1)
        if close < 0:
            raise FrameError(f"brackets: no ']' closes the {'x-data' if items else 'data'} at {pos}", raw)
        item = text[pos + 1:close]
        if "[" in item:
            raise FrameError(f"brackets: '[' inside {'x-data' if items else 'data'} {item[:24]!r}", raw)
        items.append(item)
        pos = close + 1
    rest = text[pos:]
    if rest and not rest.startswith("_"):
        raise FrameError(f"brackets: unexpected {rest[:24]!r} after the data", raw)
    return items[0], items[1:], parse_timestamp(rest, raw) if rest else None


def parse_frame(frame: bytes | bytearray | str, *, strict_length: bool = False) -> Dc09Message:
    """Parse one DC-09 message frame; an encrypted message comes back with its `ciphertext` still to decrypt."""
    raw = as_bytes(frame)
    body, length_ok = check_frame(raw, strict_length=strict_length)
    header = parse_header(body, raw, tokens=FORMATS)
    region = body[header.end:]
    fields: dict[str, Any] = {
        "format": header.token, "encrypted": header.encrypted, "sequence": header.sequence,
        "receiver": header.receiver, "prefix": header.prefix, "account": header.account,
        "length_ok": length_ok, "raw": raw,
    }
    if header.encrypted:
        hex_text = region[1:]
        if not _HEX_TEXT.fullmatch(hex_text) or len(hex_text) % 32:
            raise FrameError("brackets: encrypted region is not hex text in whole 16-byte blocks", raw)
        return Dc09Message(data="", x_data=[], timestamp=None, ciphertext=hex_text, **fields)
    data, x_data, timestamp = parse_data_region(region, raw)
    return Dc09Message(data=data, x_data=x_data, timestamp=timestamp, **fields)


def decrypt_message(message: Dc09Message, key: bytes) -> Dc09Message:
    """The message with its data, x-data and timestamp decrypted; FrameError("decryption failed: ...") otherwise."""
    if message.ciphertext is None:
        return message
    clear = decrypt_region(message.ciphertext, key, message.raw)
    try:
        data, x_data, timestamp = parse_data_region("[" + clear, message.raw)
    except FrameError as exc:
        raise FrameError(f"decryption failed: {exc.reason}", message.raw) from None
    if timestamp is None:
        raise FrameError("timestamp: missing from an encrypted message", message.raw)
    return replace(message, data=data, x_data=x_data, timestamp=timestamp, ciphertext=None)


def decode_for_cli(line: str) -> dict[str, Any]:
    """One frame as a flat JSON-ready dict for `shaobing decode dc09`; FrameError for a refused frame."""
    return describe(parse_frame(line.strip("\n")))
