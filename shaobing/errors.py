"""The error every codec raises for input it refuses: a reason a person can act on, and the bytes as received."""

from __future__ import annotations


class FrameError(ValueError):
    """A frame refused by a codec. `reason` is short and stable enough to count by; `frame` is the raw input."""

    def __init__(self, reason: str, frame: bytes | str = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.frame = frame.encode("latin-1", "replace") if isinstance(frame, str) else bytes(frame)

    @property
    def frame_hex(self) -> str:
        return self.frame.hex()

    def __str__(self) -> str:
        return self.reason


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the key."""
