"""SAM frames: build, split from a byte stream, and check one. No I/O.

    AA AA AA 96 69 | LEN (2, big-endian) | CMD PARA DATA      | CHK      a request (host -> module)
    AA AA AA 96 69 | LEN (2, big-endian) | SW1 SW2 SW3 DATA   | CHK      a response (module -> host)

LEN counts everything after itself, CHK included; CHK is the XOR of every byte between the preamble and itself. A frame
says its own direction: a response begins with SW1 = 00, and no command byte is 00.

The framer takes any segmentation (a byte at a time, several frames at once). Bytes before a preamble are skipped and
reported once, as one error, when the next preamble arrives (or when they pile past the frame limit, so a stream of
garbage is reported and the buffer stays bounded). A length below the minimum or above `max_length` is reported and its
preamble dropped; scanning resumes right after it, so a real frame behind a corrupt length is still found.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import reduce
from operator import xor
from typing import Final

from drivers.idcard.commands import COMMANDS, Command
from drivers.idcard.status import STATUSES, Status
from shaobing.errors import FrameError

PREAMBLE: Final = bytes.fromhex("AAAAAA9669")
HEAD: Final = len(PREAMBLE) + 2
MIN_LENGTH: Final = 3  # a request's CMD PARA CHK
# the longest answer: SW1-3, three lengths, 256 text, 1024 photo, 1024 fingerprint, CHK
DEFAULT_MAX_LENGTH: Final = 3 + 6 + 256 + 1024 + 1024 + 1
_SHOWN_JUNK: Final = 64


def checksum(body: bytes) -> int:
    """XOR of LEN and everything after it up to CHK."""
    return reduce(xor, body, 0)


def _wrap(payload: bytes) -> bytes:
    body = struct.pack(">H", len(payload) + 1) + payload
    return PREAMBLE + body + bytes([checksum(body)])


def build_request(command: Command, data: bytes = b"") -> bytes:
    return _wrap(bytes([command.cmd, command.para]) + data)


def build_response(sw3: int, data: bytes = b"", *, sw1: int = 0, sw2: int = 0) -> bytes:
    return _wrap(bytes([sw1, sw2, sw3]) + data)


@dataclass(frozen=True, slots=True)
class SamRequest:
    command: Command
    data: bytes
    raw: bytes


@dataclass(frozen=True, slots=True)
class SamResponse:
    status: Status
    data: bytes
    raw: bytes


def unwrap(frame: bytes) -> SamRequest | SamResponse:
    """One complete frame checked: preamble, length, checksum, then its command or status word."""
    if not frame.startswith(PREAMBLE):
        raise FrameError("no AA AA AA 96 69 preamble", frame)
    if len(frame) < HEAD + MIN_LENGTH:
        raise FrameError(f"truncated: {len(frame)} bytes", frame)
    length = struct.unpack_from(">H", frame, len(PREAMBLE))[0]
    if HEAD + length != len(frame):
        raise FrameError(f"length {length} does not match a frame of {len(frame)} bytes", frame)
    said, computed = frame[-1], checksum(frame[len(PREAMBLE):-1])
    if said != computed:
        raise FrameError(f"checksum: frame says 0x{said:02X} computed 0x{computed:02X}", frame)
    payload = frame[HEAD:-1]
    if payload[0] != 0x00:
        command = COMMANDS.get((payload[0], payload[1]))
        if command is None:
            raise FrameError(f"unknown command {payload[0]:02X} {payload[1]:02X}", frame)
        return SamRequest(command=command, data=payload[2:], raw=frame)
    if len(payload) < 3:
        raise FrameError(f"truncated: response of {len(payload)} bytes before CHK, no SW3", frame)
    if payload[1] != 0x00:
        raise FrameError(f"status: SW1 SW2 {payload[0]:02X} {payload[1]:02X}, expected 00 00", frame)
    status = STATUSES.get(payload[2])
    if status is None:
        raise FrameError(f"status: unknown SW3 0x{payload[2]:02X}", frame)
    return SamResponse(status=status, data=payload[3:], raw=frame)


class SamFramer:
    """Split a byte stream into whole frames (checked later by `unwrap`) and errors, in stream order."""

    __slots__ = ("_buffer", "_junk", "_junk_count", "_quiet", "max_length")

    def __init__(self, max_length: int = DEFAULT_MAX_LENGTH) -> None:
        if max_length < MIN_LENGTH:
            raise ValueError("max_length too small for any frame")
        self.max_length = max_length
        self._buffer = bytearray()
        self._junk = bytearray()  # the first bytes of the garbage being skipped, for the report
        self._junk_count = 0
        self._quiet = False  # the garbage follows a reported bad length: count it, do not report it again

    @property
    def pending(self) -> int:
        """Bytes of a frame begun and not finished (what a timeout mid-frame reports); not garbage being skipped."""
        return len(self._buffer) if self._buffer.startswith(PREAMBLE) else 0

    def drain(self) -> list[FrameError]:
        """Give up on what is held (the module stopped mid-frame, or sent garbage and fell silent): the errors to
        report, and a clean start."""
        out: list[FrameError] = []
        if self._junk_count and not self._buffer.startswith(PREAMBLE):
            self._skip_all()  # what may have begun a preamble was the garbage's tail after all
        self._flush_junk(out)
        if self._buffer:
            out.append(FrameError(f"truncated: the frame stopped after {len(self._buffer)} bytes", bytes(self._buffer)))
        self._buffer.clear()
        return out

    def _skip_all(self) -> None:
        if len(self._junk) < _SHOWN_JUNK:
            self._junk += self._buffer[:_SHOWN_JUNK - len(self._junk)]
        self._junk_count += len(self._buffer)
        self._buffer.clear()

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        self._buffer += data
        out: list[bytes | FrameError] = []
        buffer = self._buffer
        while buffer:
            if not buffer.startswith(PREAMBLE):
                if not self._skip_to_preamble():
                    break  # no preamble yet; what is kept may begin one
                continue
            if self._junk_count:
                self._flush_junk(out)
            if len(buffer) < HEAD:
                break
            length = struct.unpack_from(">H", buffer, len(PREAMBLE))[0]
            if not MIN_LENGTH <= length <= self.max_length:
                what = "too short" if length < MIN_LENGTH else f"over {self.max_length}"
                out.append(FrameError(f"length {length} {what}", bytes(buffer[:HEAD])))
                del buffer[:1]
                self._quiet = True
                continue
            if len(buffer) < HEAD + length:
                break
            out.append(bytes(buffer[:HEAD + length]))
            del buffer[:HEAD + length]
        if self._junk_count >= self.max_length:
            self._flush_junk(out)
        return out

    def _skip_to_preamble(self) -> bool:
        """Drop bytes up to the next preamble; True if one now starts the buffer."""
        buffer = self._buffer
        found = buffer.find(PREAMBLE)
        if found < 0:
            keep = next((n for n in range(len(PREAMBLE) - 1, 0, -1) if buffer.endswith(PREAMBLE[:n])), 0)
            skip = len(buffer) - keep
        else:
            skip = found
        if skip:
            if len(self._junk) < _SHOWN_JUNK:
                self._junk += buffer[:min(skip, _SHOWN_JUNK - len(self._junk))]
            self._junk_count += skip
            del buffer[:skip]
        return found >= 0

    def _flush_junk(self, out: list[bytes | FrameError] | list[FrameError]) -> None:
        if self._junk_count and not self._quiet:
            shown = "" if self._junk_count <= len(self._junk) else f" (first {len(self._junk)} shown)"
            error = FrameError(f"garbage: {self._junk_count} bytes skipped before a preamble{shown}", bytes(self._junk))
            out.append(error)
        self._junk.clear()
        self._junk_count = 0
        self._quiet = False
