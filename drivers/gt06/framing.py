"""Split a GT06 TCP byte stream into frames, with no I/O, and check one frame's envelope.

    78 78 <len:1> <protocol> <content> <serial:2> <crc:2> 0D 0A      len counts protocol .. crc
    79 79 <len:2> <protocol> <content> <serial:2> <crc:2> 0D 0A

TCP delivers any segmentation: a frame a byte at a time, many frames in one segment. The framer keeps only the bytes
of the frame it has not finished (so a connection costs a few dozen bytes between frames) and answers each `feed`
with the complete frames and the errors found, in stream order.

Resynchronisation: bytes before a start marker are skipped and reported once, as one error, when the next marker
arrives (or when they pile past the limit, so a stream of garbage is reported and the buffer stays bounded). A frame
whose length is absurd, or longer than `max_frame`, or whose length does not end in 0D 0A, is reported and its start
marker dropped; scanning resumes right after it, so a real frame hidden behind a corrupt length is still found.
`junk_pending` counts bytes skipped since the last good frame, for the driver's garbage limit.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from drivers.gt06.crc import crc16_x25
from drivers.gt06.message import START_LONG, START_SHORT, STOP
from shaobing.errors import FrameError

MIN_LENGTH = 5  # protocol, serial, CRC
DEFAULT_MAX_FRAME = 1024
_SHOWN_JUNK = 64  # bytes of skipped garbage kept for the log line


class Gt06Framer:
    __slots__ = ("_buffer", "_junk", "_junk_count", "_quiet", "junk_pending", "max_frame")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if max_frame < 2 + 1 + MIN_LENGTH + 2:
            raise ValueError("max_frame too small for any frame")
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._junk = bytearray()  # the first bytes of the garbage being skipped, for the report
        self._junk_count = 0  # garbage bytes skipped and not yet reported
        self._quiet = False  # the garbage being skipped follows a reported bad frame: count it, do not report it
        self.junk_pending = 0

    @property
    def partial(self) -> bool:
        """A frame has begun and not ended: what a slow-loris timeout watches. Garbage being skipped is not a frame
        (stray bytes after a good frame must not get a quiet tracker closed); it counts towards `junk_pending`."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        self._buffer += data
        out: list[bytes | FrameError] = []
        buffer = self._buffer
        while buffer:
            if not (buffer.startswith(START_SHORT) or buffer.startswith(START_LONG)):
                self._skip_to_marker()
                if not buffer.startswith(START_SHORT) and not buffer.startswith(START_LONG):
                    break  # no marker yet (at most one byte kept: it may start one)
                continue
            if self._junk_count:
                self._flush_junk(out)  # the garbage ended at this marker
            long_frame = buffer[0] == 0x79
            head = 4 if long_frame else 3
            if len(buffer) < head:
                break
            length = struct.unpack_from(">H", buffer, 2)[0] if long_frame else buffer[2]
            total = head + length + 2
            if length < MIN_LENGTH or total > self.max_frame:
                reason = "frame length too short" if length < MIN_LENGTH else "frame longer than max_frame"
                out.append(FrameError(f"{reason}: length {length}", bytes(buffer[:head])))
                self._drop_marker()
                continue
            if len(buffer) < total:
                break
            if buffer[total - 2:total] != STOP:
                out.append(FrameError(f"no 0D 0A where length {length} ends", bytes(buffer[:total])))
                self._drop_marker()
                continue
            out.append(bytes(buffer[:total]))
            del buffer[:total]
            self.junk_pending = 0
        if self._junk_count >= self.max_frame:
            self._flush_junk(out)  # report a long run of garbage now rather than hold it
        return out

    def _skip_to_marker(self) -> None:
        buffer = self._buffer
        found = [i for i in (buffer.find(START_SHORT), buffer.find(START_LONG)) if i >= 0]
        skip = min(found) if found else len(buffer) - (1 if buffer[-1] in (0x78, 0x79) else 0)
        if skip == 0:
            return
        if len(self._junk) < _SHOWN_JUNK:
            self._junk += buffer[:min(skip, _SHOWN_JUNK - len(self._junk))]
        self._junk_count += skip
        self.junk_pending += skip
        del buffer[:skip]

    def _flush_junk(self, out: list[bytes | FrameError]) -> None:
        if self._junk_count and not self._quiet:
            shown = "" if self._junk_count <= len(self._junk) else f" (first {len(self._junk)} shown)"
            out.append(FrameError(f"garbage skipped: {self._junk_count} bytes before a start marker{shown}",
                                  bytes(self._junk)))
        self._junk.clear()
        self._junk_count = 0
        self._quiet = False

    def _drop_marker(self) -> None:
        """After a bad frame: drop its start marker and skip the rest quietly (it was reported with the frame)."""
        del self._buffer[:2]
        self.junk_pending += 2
        self._quiet = True


@dataclass(frozen=True, slots=True)
class Envelope:
    """A frame's envelope checked: protocol, content between protocol and serial, serial, CRC verdict."""

    protocol: int
    content: bytes
    serial: int
    long_frame: bool
    crc_ok: bool
    crc_said: int
    crc_computed: int

    @property
    def crc_problem(self) -> str:
        return f"CRC mismatch: frame says 0x{self.crc_said:04X} computed 0x{self.crc_computed:04X}"


def unwrap(frame: bytes, *, check_crc: bool = True) -> Envelope:
    """Check start, length, stop and (with `check_crc`) the CRC of one complete frame."""
    if frame.startswith(START_SHORT):
        long_frame, head = False, 3
    elif frame.startswith(START_LONG):
        long_frame, head = True, 4
    else:
        raise FrameError("no 78 78 / 79 79 start marker", frame)
    if len(frame) < head + MIN_LENGTH + 2:
        raise FrameError(f"frame truncated: {len(frame)} bytes", frame)
    length = struct.unpack_from(">H", frame, 2)[0] if long_frame else frame[2]
    if length < MIN_LENGTH:
        raise FrameError(f"frame length too short: length {length}", frame)
    if head + length + 2 != len(frame):
        raise FrameError(f"length {length} does not match a frame of {len(frame)} bytes", frame)
    if frame[-2:] != STOP:
        raise FrameError("no 0D 0A at the end", frame)
    said = struct.unpack_from(">H", frame, len(frame) - 4)[0]
    computed = crc16_x25(frame[2:-4])
    envelope = Envelope(protocol=frame[head], content=frame[head + 1:-6],
                        serial=struct.unpack_from(">H", frame, len(frame) - 6)[0], long_frame=long_frame,
                        crc_ok=said == computed, crc_said=said, crc_computed=computed)
    if check_crc and not envelope.crc_ok:
        raise FrameError(envelope.crc_problem, frame)
    return envelope
