"""Contact ID over a serial line: one message a line, answered by one byte. No I/O.

The panel (or a dialler receiver's computer port) sends sixteen digits then CR; an LF may follow, and spaces and NULs
around the digits are ignored. The receiver answers ACK (the kiss-off) once the reading is committed, or NAK so the
panel sends the message again. A run of bytes longer than the buffer without a terminator is cut off and reported once,
so a noisy line cannot grow memory without bound.
"""

from __future__ import annotations

from typing import Final

ACK: Final = b"\x06"
NAK: Final = b"\x15"
TERMINATORS: Final = b"\r\n"
PADDING: Final = b" \t\0"
MAX_LINE: Final = 256


class Overflow(bytes):
    """The first bytes of a run longer than the line limit; the rest of it, up to the next terminator, is dropped."""


class LineFramer:
    """Split a byte stream into lines on CR or LF, dropping empty lines and the padding around each line."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        if max_line < 1:
            raise ValueError("max_line must be positive")
        self._max_line = max_line
        self._buffer = bytearray()
        self._discarding = False  # inside an over-long run: drop bytes until the next terminator

    @property
    def pending(self) -> int:
        """Bytes held while waiting for a terminator (never more than the line limit)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        start = 0
        for index, byte in enumerate(data):
            if byte in TERMINATORS:
                self._take(data[start:index], lines)
                self._end_line(lines)
                start = index + 1
        self._take(data[start:], lines)
        return lines

    def _take(self, chunk: bytes, lines: list[bytes]) -> None:
        if self._discarding or not chunk:
            return
        room = self._max_line - len(self._buffer)
        if len(chunk) <= room:
            self._buffer += chunk
            return
        # over the limit: report the first bytes once, then ignore everything up to the next terminator
        self._buffer += chunk[:room]
        lines.append(Overflow(self._buffer))
        self._buffer.clear()
        self._discarding = True

    def _end_line(self, lines: list[bytes]) -> None:
        if self._discarding:
            self._discarding = False
            return
        line = bytes(self._buffer).strip(PADDING)
        self._buffer.clear()
        if line:
            lines.append(line)
