"""Card reads as a reader reports them (a bit count and the bits, first bit in the top of the first byte) turned into
the canonical card names of the allow-list (see `AccessDecider` in `drivers/base.py`). No I/O.

- 26 bits, H10301: even parity over bits 1-12, 8-bit facility, 16-bit number, odd parity over bits 13-24 -> "W26:F:N";
- 34 bits: even parity over bits 1-16, 16-bit facility, 16-bit number, odd parity over bits 17-32 -> "W34:F:N";
- a whole number of bytes (a contactless UID) -> upper-case hex, "04A1B2C3";
- any other length is kept as raw -> "RAW{bits}:{hex}" (the bits as received, padded with zeros to whole bytes).
A 26- or 34-bit read whose parity does not hold is a misread and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shaobing.errors import FrameError

MAX_BITS = 512  # libosdp's card-read buffer is 64 bytes; a longer claim is hostile or broken

WIEGAND26 = "wiegand26"
WIEGAND34 = "wiegand34"
RAW = "raw"


@dataclass(frozen=True, slots=True)
class CardRead:
    card: str  # the canonical name the allow-list is keyed by
    format: str  # wiegand26, wiegand34 or raw
    bits: int
    facility: int | None = None
    number: int | None = None


def decode_card(data: bytes, bits: int) -> CardRead:
    """Name the card in `bits` bits of `data`; `FrameError` for a bad length or a parity error."""
    if not 0 < bits <= MAX_BITS:
        raise FrameError(f"bit count: {bits} is not 1..{MAX_BITS}", data)
    if len(data) != (bits + 7) // 8:
        raise FrameError(f"length: {bits} bits need {(bits + 7) // 8} bytes, got {len(data)}", data)
    value = int.from_bytes(data, "big") >> (len(data) * 8 - bits)  # drop the padding after the last bit
    if bits == 26:
        return _wiegand(value, data, bits=26, half=12, tag="W26", fmt=WIEGAND26)
    if bits == 34:
        return _wiegand(value, data, bits=34, half=16, tag="W34", fmt=WIEGAND34)
    if bits % 8 == 0:
        return CardRead(card=data.hex().upper(), format=RAW, bits=bits)
    return CardRead(card=f"RAW{bits}:{data.hex().upper()}", format=RAW, bits=bits)


def decode_bit_string(text: str) -> CardRead:
    """Name the card written as a string of 0 and 1, as a logic analyser or a vector file shows a Wiegand read."""
    bits = text.strip()
    if not bits or any(c not in "01" for c in bits):
        raise FrameError("bits: write the read as 0 and 1 only", text)
    if len(bits) > MAX_BITS:
        raise FrameError(f"bit count: {len(bits)} is more than {MAX_BITS}", text)
    count = len(bits)
    padded = bits + "0" * (-count % 8)
    return decode_card(int(padded, 2).to_bytes(len(padded) // 8, "big"), count)


def _wiegand(value: int, data: bytes, *, bits: int, half: int, tag: str, fmt: str) -> CardRead:
    # bit 0 is the leading (even) parity bit, bit bits-1 the trailing (odd) one; the payload is in between
    payload = (value >> 1) & ((1 << (bits - 2)) - 1)
    leading = value >> (bits - 1)
    trailing = value & 1
    first_half = payload >> half
    second_half = payload & ((1 << half) - 1)
    if (leading + first_half.bit_count()) % 2 != 0:
        raise FrameError(f"parity: {tag} leading even parity does not hold", data)
    if (trailing + second_half.bit_count()) % 2 != 1:
        raise FrameError(f"parity: {tag} trailing odd parity does not hold", data)
    number_bits = 16
    facility = payload >> number_bits
    number = payload & ((1 << number_bits) - 1)
    return CardRead(card=f"{tag}:{facility}:{number}", format=fmt, bits=bits, facility=facility, number=number)


def encode_wiegand(facility: int, number: int, bits: int = 26) -> bytes:
    """The bytes of a Wiegand 26 or 34 read with both parities set (what a reader sends); for simulators and tests."""
    facility_bits = {26: 8, 34: 16}.get(bits)
    if facility_bits is None:
        raise ValueError("Wiegand bits must be 26 or 34")
    if not 0 <= facility < 1 << facility_bits or not 0 <= number < 1 << 16:
        raise ValueError(f"W{bits}: facility must be 0..{(1 << facility_bits) - 1} and number 0..65535")
    half = (bits - 2) // 2
    payload = facility << 16 | number
    leading = (payload >> half).bit_count() % 2
    trailing = 1 - (payload & ((1 << half) - 1)).bit_count() % 2
    value = (leading << (bits - 1) | payload << 1 | trailing) << (-bits % 8)
    return value.to_bytes((bits + 7) // 8, "big")


def decode_for_cli(line: str) -> dict[str, Any]:
    """`shaobing decode wiegand`: a read as 0/1 bits ("00101101000000001010001000") or as BITS:HEX ("26:2D00A200")."""
    text = line.strip()
    if ":" in text:
        count, _, hex_data = text.partition(":")
        try:
            bits = int(count)
            data = bytes.fromhex(hex_data)
        except ValueError:
            raise FrameError("syntax: write BITS:HEX, e.g. 26:2D00A200, or the bits as 0 and 1", text) from None
        read = decode_card(data, bits)
    else:
        read = decode_bit_string(text)
    return {"card": read.card, "format": read.format, "bits": read.bits, "facility": read.facility,
            "number": read.number}
