"""Receiver replies: ACK, NAK and DUH frames, built and parsed (the simulated dialler reads them back).

ACK  "ACK"<seq>[R<rcvr>]L<pref>#<acct>[]              when a message is taken (after its readings are durable)
NAK  "NAK"0000R0L0A0[]_HH:MM:SS,MM-DD-YYYY            timestamp outside the window or decryption failed; carries
                                                       the receiver's time so the panel can correct its clock
DUH  "DUH"<seq>[R<rcvr>]L<pref>#<acct>[]              understood but not processed (unknown account, no key, ...)
An ACK to an encrypted message is encrypted: "*ACK" and the region `[` + hex(pad|]_timestamp). NAK and DUH are sent
in clear (the receiver may not hold, or not trust, a key for them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from drivers.dc09.codec import (
    as_bytes,
    check_frame,
    format_timestamp,
    parse_data_region,
    parse_header,
)
from drivers.dc09.crc import crc16_arc
from drivers.dc09.crypto import decrypt_region, encrypt_region, random_pad
from drivers.dc09.message import Dc09Message
from shaobing.errors import FrameError

REPLY_TOKENS = ("ACK", "NAK", "DUH")


def frame_body(body: str) -> bytes:
    """Wrap a body (from its opening quote) in LF, CRC, length and CR."""
    encoded = body.encode("ascii")
    return b"\n%04X%04X%s\r" % (crc16_arc(encoded), len(encoded), encoded)


def _address(message: Dc09Message) -> str:
    receiver = f"R{message.receiver}" if message.receiver is not None else ""
    return f"{message.sequence}{receiver}L{message.prefix}#{message.account}"


def ack(message: Dc09Message, *, key: bytes | None = None, now: datetime | None = None,
        pad: Callable[[int], str] = random_pad) -> bytes:
    """ACK for `message`; encrypted (with `key` and the receiver time `now`) when the message was encrypted."""
    if not message.encrypted:
        return frame_body(f'"ACK"{_address(message)}[]')
    if key is None or now is None:
        raise ValueError("an ACK to an encrypted message needs the key and the current time")
    region = encrypt_region("]" + format_timestamp(now), key, pad=pad)
    return frame_body(f'"*ACK"{_address(message)}[{region}')


def nak(now: datetime) -> bytes:
    return frame_body(f'"NAK"0000R0L0A0[]{format_timestamp(now)}')


def duh(message: Dc09Message) -> bytes:
    return frame_body(f'"DUH"{_address(message)}[]')


@dataclass(frozen=True, slots=True)
class Dc09Reply:
    token: str
    encrypted: bool
    sequence: str
    receiver: str | None
    prefix: str
    account: str
    timestamp: datetime | None
    length_ok: bool
    raw: bytes


def parse_reply(frame: bytes | str, *, key: bytes | None = None) -> Dc09Reply:
    """Parse an ACK, NAK or DUH; an encrypted ACK needs `key` (FrameError("decryption failed: ...") otherwise)."""
    raw = as_bytes(frame)
    body, length_ok = check_frame(raw, strict_length=True)
    header = parse_header(body, raw, tokens=REPLY_TOKENS, reply=True)
    region = body[header.end:]
    if header.encrypted:
        if key is None:
            raise FrameError("decryption failed: an encrypted reply needs the account's key", raw)
        region = "[" + decrypt_region(region[1:], key, raw)
    data, x_data, timestamp = parse_data_region(region, raw)
    if data or x_data:
        raise FrameError(f"brackets: a reply carries no data, got {data[:24]!r}", raw)
    return Dc09Reply(token=header.token, encrypted=header.encrypted, sequence=header.sequence,
                     receiver=header.receiver, prefix=header.prefix, account=header.account, timestamp=timestamp,
                     length_ok=length_ok, raw=raw)
