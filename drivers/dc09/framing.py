"""Cut a TCP byte stream into DC-09 frames (LF ... CR), whatever the segmentation, with bounded memory.

Bytes outside a frame are gathered into one refusal per run (reported when the next frame completes or at `flush`),
so a flood of garbage costs one log line, not one per byte. A frame longer than `max_frame` without its CR is
refused once and the rest of it is skipped as bytes outside a frame. An LF inside a frame means the frame was cut
short: what came before it is refused and a new frame starts.
"""

from __future__ import annotations

import re

from shaobing.errors import FrameError

SAMPLE = 64  # bytes of a refused run kept for the log
_LF_RUN = re.compile(rb"\n+")


class Dc09Framer:
    def __init__(self, max_frame: int = 1024) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._in_frame = False
        self._junk_count = 0
        self._junk_sample = bytearray()

    @property
    def junk_pending(self) -> int:
        """Bytes outside a frame not yet reported (the receiver drops a connection that sends only these)."""
        return self._junk_count

    def _junk(self, chunk: bytes | memoryview) -> None:
        self._junk_count += len(chunk)
        room = SAMPLE - len(self._junk_sample)
        if room > 0:
            self._junk_sample += chunk[:room]

    def _junk_report(self, out: list[bytes | FrameError]) -> None:
        if self._junk_count:
            out.append(FrameError(f"framing: {self._junk_count} bytes outside a frame", bytes(self._junk_sample)))
            self._junk_count = 0
            self._junk_sample.clear()

    def _start_after_lf_run(self, data: bytes, lf: int) -> int:
        """Start a frame after the run of LFs at `lf`; all but the last LF of a run are bytes outside a frame."""
        run = _LF_RUN.match(data, lf)
        assert run is not None
        if run.end() - lf > 1:
            self._junk(data[lf:run.end() - 1])
        self._in_frame = True
        self._buffer.clear()
        return run.end()

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        """Frames completed by `data` (each with its LF and CR) and refusals, in the order they happened."""
        out: list[bytes | FrameError] = []
        pos, size = 0, len(data)
        while pos < size:
            if not self._in_frame:
                lf = data.find(b"\n", pos)
                if lf < 0:
                    self._junk(data[pos:])
                    break
                if lf > pos:
                    self._junk(data[pos:lf])
                pos = self._start_after_lf_run(data, lf)
                continue
            cr = data.find(b"\r", pos)
            lf = data.find(b"\n", pos)
            end = cr if lf < 0 or (0 <= cr < lf) else lf
            if end < 0:
                self._append(data[pos:], out)
                break
            self._append(data[pos:end], out)
            if not self._in_frame:  # the frame overflowed: the rest up to `end` was already skipped
                pos = end
                continue
            if data[end] == 0x0D:
                self._junk_report(out)
                out.append(b"\n" + bytes(self._buffer) + b"\r")
                self._in_frame = False
                self._buffer.clear()
                pos = end + 1
            else:
                if self._buffer:
                    out.append(FrameError(f"framing: frame cut short by a new LF after {len(self._buffer)} bytes",
                                          b"\n" + bytes(self._buffer[:SAMPLE])))
                else:
                    self._junk(b"\n")
                pos = self._start_after_lf_run(data, end)
        return out

    def _append(self, chunk: bytes, out: list[bytes | FrameError]) -> None:
        if len(self._buffer) + len(chunk) <= self.max_frame:
            self._buffer += chunk
            return
        # over-long: refuse once; what follows until the next LF is bytes outside a frame
        taken = self.max_frame - len(self._buffer)
        self._buffer += chunk[:taken]
        out.append(FrameError(f"framing: frame longer than {self.max_frame} bytes without CR",
                              b"\n" + bytes(self._buffer[:SAMPLE])))
        self._in_frame = False
        self._buffer.clear()
        self._junk(chunk[taken:])

    def flush(self) -> list[bytes | FrameError]:
        """At the end of the stream: an unfinished frame and unreported bytes outside a frame are refused."""
        out: list[bytes | FrameError] = []
        if self._in_frame and self._buffer:
            out.append(FrameError(f"framing: stream ended inside a frame after {len(self._buffer)} bytes",
                                  b"\n" + bytes(self._buffer[:SAMPLE])))
        self._in_frame = False
        self._buffer.clear()
        self._junk_report(out)
        return out
