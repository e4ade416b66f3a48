"""Build DC-09 message frames (what a panel sends): used by the simulated dialler and by tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from drivers.dc09.codec import format_timestamp
from drivers.dc09.crypto import encrypt_region, random_pad
from drivers.dc09.message import FORMATS
from drivers.dc09.replies import frame_body


def sia_dcs_data(code: str, number: int | None = None, *, partition: int | None = None, account: str | None = None,
                 user: int | None = None) -> str:
    """`#1234|Nri1/BA003`-style SIA-DCS data for one event."""
    modifiers = []
    if user is not None:
        modifiers.append(f"id{user}")
    if partition is not None:
        modifiers.append(f"ri{partition}")
    event = code + (f"{number:03d}" if number is not None else "")
    block = "N" + "/".join([*modifiers, event])
    return (f"#{account}" if account else "") + "|" + block


def adm_cid_data(qualifier: str, event_code: int, partition: int, zone_or_user: int, *,
                 account: str | None = None) -> str:
    """`#1234|1130 01 015`: Contact ID as DC-09 carries it."""
    digit = {"new": "1", "restore": "3", "repeat": "6"}[qualifier]
    return (f"#{account}" if account else "") + f"|{digit}{event_code:03d} {partition:02d} {zone_or_user:03d}"


def build_message(fmt: str, sequence: int, account: str, data: str = "", *, prefix: str = "0",
                  receiver: str | None = None, x_data: Sequence[str] = (), timestamp: datetime | None = None,
                  key: bytes | None = None, pad: Callable[[int], str] = random_pad) -> bytes:
    """One framed message (LF, CRC, length, body, CR); encrypted when `key` is given (a timestamp is then required)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    if not 0 <= sequence <= 9999:
        raise ValueError("sequence must be 0..9999")
    region = data + "]" + "".join(f"[{item}]" for item in x_data)
    if timestamp is not None:
        region += format_timestamp(timestamp)
    token = fmt
    if key is not None:
        if timestamp is None:
            raise ValueError("an encrypted message needs a timestamp")
        token = "*" + fmt
        region = encrypt_region(region, key, pad=pad)
    rcvr = f"R{receiver}" if receiver is not None else ""
    return frame_body(f'"{token}"{sequence:04d}{rcvr}L{prefix}#{account}[{region}')
