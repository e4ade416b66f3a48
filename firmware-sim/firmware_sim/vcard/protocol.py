"""The vpcd wire protocol (virtual card side), with no I/O.

pcscd's vpcd driver listens on a TCP port (35963 by default); a virtual card connects to it, which is the card being
put on the reader, and closes the connection to be taken off. Each message either way is a 2-byte big-endian length
then that many bytes. From vpcd, a 1-byte message is a control code; anything longer is a command APDU. The card
answers the ATR request and every APDU; power off, power on and reset get no answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

DEFAULT_PORT = 35963
MAX_MESSAGE = 0xFFFF


class Control(IntEnum):
    POWER_OFF = 0
    POWER_ON = 1
    RESET = 2
    GET_ATR = 4


@dataclass(frozen=True, slots=True)
class ControlMessage:
    code: int  # a `Control` value, or an unknown code as received


@dataclass(frozen=True, slots=True)
class ApduMessage:
    apdu: bytes


Message = ControlMessage | ApduMessage


def encode(payload: bytes) -> bytes:
    """One message: the length on two bytes, big-endian, then the payload."""
    if len(payload) > MAX_MESSAGE:
        raise ValueError(f"a vpcd message holds at most {MAX_MESSAGE} bytes, not {len(payload)}")
    return len(payload).to_bytes(2, "big") + payload


class MessageReader:
    """Splits the byte stream from vpcd into messages; `feed` takes any chunking."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        messages: list[Message] = []
        while len(self._buffer) >= 2:
            size = int.from_bytes(self._buffer[:2], "big")
            if len(self._buffer) < 2 + size:
                break
            payload = bytes(self._buffer[2:2 + size])
            del self._buffer[:2 + size]
            messages.append(ControlMessage(payload[0]) if size == 1 else ApduMessage(payload))
        return messages
