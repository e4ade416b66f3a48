"""Door supervision from the door contact, the controller's own grants and exit requests. No I/O, no clock: the
caller passes monotonic seconds and publishes what comes back.

OSDP has no "forced" or "held open" event: a door that opens outside an unlock window (a grant or an exit request,
`unlock_seconds` long, one opening each) is forced; one open longer than `held_open_after` is held. Each is alarmed
once per opening and restored when the door closes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shaobing.envelope import Kind


@dataclass(frozen=True, slots=True)
class DoorNews:
    kind: Kind
    data: dict[str, Any]


class DoorMonitor:
    def __init__(self, door: str, *, unlock_seconds: float, held_open_after: float) -> None:
        self.door = door
        self.unlock_seconds = unlock_seconds
        self.held_open_after = held_open_after
        self.is_open: bool | None = None  # None until the reader first reports its inputs
        self._window_until = float("-inf")
        self._opened_at = 0.0
        self._forced = False
        self._held = False

    def allow_opening(self, now: float) -> None:
        """A grant or an exit request: the next opening within `unlock_seconds` is not forced."""
        self._window_until = now + self.unlock_seconds

    def contact(self, is_open: bool, now: float) -> list[DoorNews]:
        if is_open == self.is_open:
            return []
        first = self.is_open is None
        self.is_open = is_open
        if not is_open:
            news = [self._door("closed")]
            if self._forced:
                news.append(self._alarm("forced_door", "restore"))
            if self._held:
                news.append(self._alarm("held_door", "restore"))
            self._forced = self._held = False
            return news
        self._opened_at = now
        if first or now <= self._window_until:
            # a door found open when supervision starts has no known cause: reported, not alarmed
            self._window_until = float("-inf")
            return [self._door("open")]
        self._forced = True
        return [self._door("forced"), self._alarm("forced_door", "new")]

    def tick(self, now: float) -> list[DoorNews]:
        if self.is_open and not self._held and now - self._opened_at >= self.held_open_after:
            self._held = True
            return [self._door("held"), self._alarm("held_door", "new")]
        return []

    def next_check(self) -> float | None:
        """When `tick` may next have news: the held-open deadline of an open door."""
        if self.is_open and not self._held:
            return self._opened_at + self.held_open_after
        return None

    def _door(self, state: str) -> DoorNews:
        return DoorNews(Kind.DOOR, {"door": self.door, "state": state})

    def _alarm(self, alarm_class: str, qualifier: str) -> DoorNews:
        return DoorNews(Kind.ALARM, {"class": alarm_class, "source": "door", "zone": self.door, "door": self.door,
                                     "qualifier": qualifier})
