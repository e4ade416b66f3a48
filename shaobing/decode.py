"""`shaobing decode PROTOCOL [FRAME ...]`: decode captured frames for troubleshooting, one JSON object a line.

Decoders are found through the `shaobing.decoders` entry points; each takes one line (hex for binary protocols, text as
is) and returns a dict, or raises `FrameError`. A refused frame prints `{"error": ...}` and makes the exit status 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from typing import Any, TextIO

from shaobing.errors import FrameError

Decoder = Callable[[str], dict[str, Any]]

EXIT_REFUSED = 2


def decoder_names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group="shaobing.decoders"))


def load_decoder(protocol: str) -> Decoder | None:
    for ep in entry_points(group="shaobing.decoders", name=protocol):
        decoder: Decoder = ep.load()
        return decoder
    return None


def _frames(arguments: Iterable[str], stdin: TextIO | None) -> Iterable[str]:
    if stdin is None:
        yield from arguments
        return
    for line in stdin:
        stripped = line.strip("\r\n")
        if stripped.strip():
            yield stripped


def decode_frames(decoder: Decoder, frames: Iterable[str], out: TextIO) -> int:
    """Decode each frame to one line of JSON on `out`; return 0, or 2 if any frame was refused."""
    status = 0
    for frame in frames:
        try:
            result: dict[str, Any] = decoder(frame)
        except FrameError as error:
            result = {"error": error.reason, "frame": frame}
            status = EXIT_REFUSED
        except Exception as error:  # a decoder bug must still not lose the other frames
            result = {"error": f"decoder failed: {type(error).__name__}: {error}", "frame": frame}
            status = EXIT_REFUSED
        out.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
        out.flush()
    return status


def run_decode(protocol: str, frames: list[str], stdin: TextIO, out: TextIO) -> int:
    decoder = load_decoder(protocol)
    if decoder is None:
        known = ", ".join(decoder_names())
        out.write(json.dumps({"error": f"unknown protocol {protocol!r} (known: {known})"}) + "\n")
        return EXIT_REFUSED
    return decode_frames(decoder, _frames(frames, None if frames else stdin), out)
