"""The device's memory of unacknowledged reports: what GT06 trackers keep in flash until the server replies.

A report is kept from the moment it is made until the server's reply carries its serial number. Reports made while
the network is down, and reports sent without a reply (the connection dropped, the server stayed silent), wait in the
backlog and are sent again as archived re-uploads once the device is back: a gateway restart loses nothing, at the
price of a possible duplicate (which the server side recognises by IMEI and fix time).

Re-uploads come out of order, as real devices send them: alarms first, then positions by the `order` policy —
"newest_first", "oldest_first" or "chunks" (the newest group of `chunk` positions first, each group oldest first:
a device walking its flash pages backwards). The backlog is bounded: past `limit`, the oldest position is dropped
and counted; alarms are never dropped for positions.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Literal, Protocol, TypeVar

ReuploadOrder = Literal["newest_first", "oldest_first", "chunks"]


class Buffered(Protocol):
    @property
    def fix_time(self) -> datetime: ...

    @property
    def is_alarm(self) -> bool: ...


R = TypeVar("R", bound=Buffered)


@dataclass(slots=True)
class InFlight(Generic[R]):
    """A frame sent and not yet answered: what it carried (None for a login or heartbeat) and when it left."""

    kind: str
    sent_at: float
    report: R | None


@dataclass(slots=True)
class DeviceBuffer(Generic[R]):
    order: ReuploadOrder = "chunks"
    chunk: int = 10
    limit: int = 5000
    dropped: int = 0
    _backlog: list[R] = field(default_factory=list)  # positions, by fix time
    # Lists, not deques: both stay short, and an empty deque costs ten times an empty list in every tracker.
    _alarms: list[R] = field(default_factory=list)
    _chunk_left: list[R] = field(default_factory=list)  # the group being re-uploaded
    _in_flight: dict[int, InFlight[R]] = field(default_factory=dict)

    def __len__(self) -> int:
        """Reports kept: waiting in the backlog or sent and unanswered."""
        reports = sum(1 for sent in self._in_flight.values() if sent.report is not None)
        return len(self._backlog) + len(self._alarms) + len(self._chunk_left) + reports

    @property
    def waiting(self) -> int:
        """Reports waiting to be (re-)sent."""
        return len(self._backlog) + len(self._alarms) + len(self._chunk_left)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def keep(self, report: R) -> None:
        """Keep a report to send later (made while offline, or sent and never answered)."""
        if report.is_alarm:
            self._alarms.append(report)
            return
        bisect.insort(self._backlog, report, key=lambda kept: kept.fix_time)
        if self.waiting - len(self._alarms) > self.limit:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        if self._backlog:
            self._backlog.pop(0)
        else:
            self._chunk_left.pop(0)
        self.dropped += 1

    def next_to_send(self) -> R | None:
        """The next report to re-upload, in the device's order; None when nothing waits."""
        if self._alarms:
            return self._alarms.pop(0)
        if self._chunk_left:
            return self._chunk_left.pop(0)
        if not self._backlog:
            return None
        if self.order == "newest_first":
            return self._backlog.pop()
        if self.order == "oldest_first":
            return self._backlog.pop(0)
        cut = max(0, len(self._backlog) - self.chunk)
        self._chunk_left = self._backlog[cut:]
        del self._backlog[cut:]
        return self._chunk_left.pop(0)

    def sent(self, serial: int, kind: str, at: float, report: R | None = None) -> None:
        """A frame left with `serial`; a report in it stays kept until `answered(serial)`."""
        replaced = self._in_flight.pop(serial, None)
        if replaced is not None and replaced.report is not None:
            self.keep(replaced.report)  # the serial wrapped round a frame still unanswered: keep what it carried
        self._in_flight[serial] = InFlight(kind, at, report)

    def answered(self, serial: int) -> InFlight[R] | None:
        """The server replied to `serial`: forget what it carried and return it (None: no such frame in flight)."""
        return self._in_flight.pop(serial, None)

    def expired(self, now: float, timeout: float) -> list[InFlight[R]]:
        """Frames unanswered for `timeout` seconds: their reports go back to the backlog."""
        late = [serial for serial, sent in self._in_flight.items() if now - sent.sent_at >= timeout]
        return [self._forget(serial) for serial in late]

    def connection_lost(self) -> list[InFlight[R]]:
        """Everything in flight is unanswered for good on this connection: keep its reports for re-upload."""
        return [self._forget(serial) for serial in list(self._in_flight)]

    def _forget(self, serial: int) -> InFlight[R]:
        sent = self._in_flight.pop(serial)
        if sent.report is not None:
            self.keep(sent.report)
        return sent

    def unanswered(self) -> list[InFlight[R]]:
        """The reports sent and not answered yet (logins and heartbeats left out)."""
        return [sent for sent in self._in_flight.values() if sent.report is not None]

    def oldest_in_flight(self) -> float | None:
        return min((sent.sent_at for sent in self._in_flight.values()), default=None)

    def reports(self) -> Iterator[R]:
        """Every report kept, for inspection (alarms, the group in progress, the backlog, those in flight)."""
        yield from self._alarms
        yield from self._chunk_left
        yield from self._backlog
        yield from (sent.report for sent in self._in_flight.values() if sent.report is not None)
