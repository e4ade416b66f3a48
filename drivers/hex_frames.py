"""A captured binary frame as `shaobing decode` takes it: one line of hex, spaces allowed."""

from __future__ import annotations

from shaobing.errors import FrameError


def frame_from_hex(line: str) -> bytes:
    """The frame's bytes; FrameError "not hex" or "empty frame" for a line that holds none."""
    text = "".join(line.split())
    try:
        frame = bytes.fromhex(text)
    except ValueError:
        raise FrameError("not hex", text) from None
    if not frame:
        raise FrameError("empty frame", frame)
    return frame
