"""The uplink: drains the outbox to `shaobing/v1/{site}/event/{kind}` with QoS 1, alarms first.

Up to `window` publishes are in flight at once. With `confirm_timeout` set (`[mqtt] confirm = "central"`), a row whose
publish got its PUBACK is not deleted yet: it stays claimed, awaiting central's `stored` confirmation (`confirm`), and
only that deletes it, so a reading the broker loses after its PUBACK (killed before its autosave) is sent again. A row
awaiting confirmation is sent again when a row PUBACKed more than `CONFIRM_GRACE` later is confirmed first (the broker
delivers one publisher's messages in order: the earlier one was lost), or when it has waited `confirm_timeout`; each
re-send doubles that row's timeout, up to `CONFIRM_TIMEOUT_MAX`, so a long central outage does not flood the broker.
Rows awaiting confirmation do not count against the window; at `max_awaiting` of them, fetching pauses. Without
`confirm_timeout` (`confirm = "broker"`) a row is deleted on its PUBACK.

A publish that fails (connection lost) puts its row back into the drain, so it goes out again after the reconnect, in
drain order. A PUBACK saying "no matching subscribers" means the broker dropped the message: the row is kept, and the
uplink holds off a moment before trying again (see docs/edge.md). The window is refilled from the outbox in small
steps (a quarter of it at a time), and every commit wakes the uplink, so an alarm committed while thousands of
positions drain is fetched at the next refill: it waits behind at most one window of messages already handed over.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from edge.outbox import Outbox, OutboxRow
from shaobing.mqtt import NO_MATCHING_SUBSCRIBERS, MqttLink, PublishFailed, PublishRefused
from shaobing.stored import SeqRange

# A row the broker refused (e.g. not authorized) waits this long before it is tried again; the rest flow on.
REFUSED_RETRY_DELAY = 5.0
# With nobody subscribed to the site's events (central away and its subscription gone, e.g. after a broker restart:
# Mosquitto 2.0 does not restore shared subscriptions from its database), the uplink holds off this long, doubling.
UNROUTED_HOLD_MIN = 0.2
UNROUTED_HOLD_MAX = 5.0
# A row confirmed this much later (by PUBACK time) than one still awaiting shows the earlier one lost.
CONFIRM_GRACE = 2.0
CONFIRM_TIMEOUT_MAX = 1800.0
# Rows sent and awaiting confirmation, at most; at this many the uplink stops fetching until confirmations come.
# Enough for a second of a fast drain ahead of central, small enough to keep the agent within its memory budget.
MAX_AWAITING = 10_000
SHOWN_SEQS = 10
# Re-sends are said at WARNING at most this often (the rest at DEBUG): a central outage must not flood the log.
RESEND_LOG_INTERVAL = 30.0


@dataclass(frozen=True)
class UplinkStats:
    in_flight: int
    sent: int
    failed: int
    refused: int
    unrouted: int
    awaiting: int = 0  # PUBACKed, awaiting central's confirmation
    confirmed: int = 0
    resent: int = 0  # sent again for want of a confirmation


@dataclass(frozen=True, slots=True)
class _Awaiting:
    acked_at: float  # loop time of its PUBACK
    deadline: float


class Uplink:
    def __init__(self, outbox: Outbox, link: MqttLink, *, window: int, log: logging.Logger,
                 confirm_timeout: float | None = None, max_awaiting: int = MAX_AWAITING,
                 confirm_grace: float = CONFIRM_GRACE) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        if confirm_timeout is not None and confirm_timeout <= 0:
            raise ValueError("confirm_timeout must be positive")
        self._confirm_timeout = confirm_timeout
        self.max_awaiting = max_awaiting
        self._confirm_grace = confirm_grace
        self._awaiting: dict[int, _Awaiting] = {}  # in PUBACK order
        self._deadlines: list[tuple[float, int]] = []  # heap; entries of confirmed rows linger until compacted
        self._timeouts: dict[int, float] = {}  # a re-sent row's own (doubled) timeout
        self._confirmed_in_flight: set[int] = set()  # confirmed while a re-send of it was still unacknowledged
        self._resend_logged_at: float | None = None
        self._resent_unlogged = 0
        self._outbox = outbox
        self._link = link
        self.window = window
        self._refill = max(1, window // 4)
        self._log = log
        self._in_flight: set[int] = set()
        self._wake = asyncio.Event()
        self._counts: Counter[str] = Counter()
        self._parked: dict[int, asyncio.TimerHandle] = {}
        self._hold = 0.0  # seconds to hold off after "no matching subscribers"; 0 when deliveries succeed
        self._hold_until = 0.0
        outbox.add_listener(self._on_outbox_change)

    def stats(self) -> UplinkStats:
        return UplinkStats(
            in_flight=len(self._in_flight),
            sent=self._counts["sent"],
            failed=self._counts["failed"],
            refused=self._counts["refused"],
            unrouted=self._counts["unrouted"],
            awaiting=len(self._awaiting),
            confirmed=self._counts["confirmed"],
            resent=self._counts["resent"],
        )

    @property
    def confirms(self) -> bool:
        """Rows leave the outbox on central's confirmation (not on the PUBACK)."""
        return self._confirm_timeout is not None

    def _on_outbox_change(self, priority: int) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()
                self._expire()
                if not self._link.connected:
                    await self._link.wait_connected()
                    continue
                pause = self._hold_until - asyncio.get_running_loop().time()
                if pause > 0:
                    await asyncio.sleep(pause)
                    continue
                free = min(self.window, self._link.send_quota) - len(self._in_flight)
                room = len(self._awaiting) < self.max_awaiting
                if room and (free >= self._refill or (free > 0 and not self._in_flight)):
                    rows = await self._outbox.fetch(free)
                    if rows:
                        self._send(rows)
                        continue
                await self._wait()
        finally:
            for handle in self._parked.values():
                handle.cancel()
            self._outbox.release(self._parked)
            self._parked.clear()

    def _send(self, rows: list[OutboxRow]) -> None:
        link = self._link
        for row in rows:
            try:
                future = link.start_publish(row.topic, row.payload, qos=1)
            except PublishFailed:
                self._outbox.release(row.seq for row in rows if row.seq not in self._in_flight)
                return
            self._in_flight.add(row.seq)
            future.add_done_callback(functools.partial(self._published, row.seq))

    async def _wait(self) -> None:
        """Until woken, or until the earliest confirmation deadline."""
        timeout = None
        if self._deadlines:
            timeout = max(0.0, self._deadlines[0][0] - asyncio.get_running_loop().time())
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass

    def _published(self, seq: int, future: asyncio.Future[int]) -> None:
        self._in_flight.discard(seq)
        error = None if future.cancelled() else future.exception()
        if seq in self._confirmed_in_flight:
            self._confirmed_in_flight.discard(seq)  # central has it already, and the row is deleted
        elif future.cancelled():
            self._outbox.release([seq])
        elif error is None and future.result() == NO_MATCHING_SUBSCRIBERS:
            self._counts["unrouted"] += 1
            self._outbox.release([seq])
            self._hold_off()
        elif error is None:
            self._counts["sent"] += 1
            self._hold = 0.0
            if self._confirm_timeout is None:
                self._outbox.remove([seq])
            else:
                self._await_confirmation(seq)
        elif isinstance(error, PublishRefused):
            self._counts["refused"] += 1
            self._log.error("uplink: the broker refused reading seq %d: %s; trying it again in %.0f s",
                            seq, error, REFUSED_RETRY_DELAY)
            self._parked[seq] = asyncio.get_running_loop().call_later(REFUSED_RETRY_DELAY, self._unpark, seq)
        else:
            self._counts["failed"] += 1
            self._outbox.release([seq])
        if self.window - len(self._in_flight) >= self._refill:
            self._wake.set()

    def _hold_off(self) -> None:
        now = asyncio.get_running_loop().time()
        if now < self._hold_until:
            return  # this window's other rows: already holding
        reached_max = self._hold < UNROUTED_HOLD_MAX <= self._hold * 2
        self._hold = min(UNROUTED_HOLD_MAX, max(UNROUTED_HOLD_MIN, self._hold * 2))
        self._hold_until = now + self._hold
        # Said once per outage (when the pause reaches its longest), not every few seconds for hours.
        level = logging.WARNING if reached_max else logging.DEBUG
        self._log.log(level, "uplink: the broker has no subscriber for this site's readings (is central connected?); "
                      "keeping them, trying again every %.1f s", self._hold)

    def _unpark(self, seq: int) -> None:
        self._parked.pop(seq, None)
        self._outbox.release([seq])

    # -- central's confirmation ---------------------------------------------------------------------------------

    def _await_confirmation(self, seq: int) -> None:
        assert self._confirm_timeout is not None
        now = asyncio.get_running_loop().time()
        entry = _Awaiting(now, now + self._timeouts.get(seq, self._confirm_timeout))
        self._awaiting.pop(seq, None)
        self._awaiting[seq] = entry
        heapq.heappush(self._deadlines, (entry.deadline, seq))
        if len(self._deadlines) > 2 * len(self._awaiting) + 1000:
            self._deadlines = [(entry.deadline, seq) for seq, entry in self._awaiting.items()]
            heapq.heapify(self._deadlines)
        if len(self._deadlines) == 1:
            self._wake.set()  # the run loop's wait learns of its first deadline

    def confirm(self, ranges: Iterable[SeqRange]) -> None:
        """Central has committed these seqs: delete their rows; send again what was sent before them and is lost."""
        seqs = [seq for first, last in ranges for seq in range(first, last + 1)]
        if not seqs:
            return
        latest: float | None = None
        for seq in seqs:
            self._timeouts.pop(seq, None)
            entry = self._awaiting.pop(seq, None)
            if entry is not None:
                self._counts["confirmed"] += 1
                latest = entry.acked_at if latest is None else max(latest, entry.acked_at)
            elif seq in self._in_flight:
                self._confirmed_in_flight.add(seq)
        # Also rows not awaiting here: sent by an earlier run of the agent and confirmed only now.
        self._outbox.remove(seqs)
        if latest is not None:
            lost = []
            for seq, entry in self._awaiting.items():
                if entry.acked_at >= latest - self._confirm_grace:
                    break
                lost.append(seq)
            if lost:
                self._send_again(lost, "readings sent after them were confirmed first: the broker lost them")
        self._wake.set()

    def _expire(self) -> None:
        if not self._deadlines:
            return
        now = asyncio.get_running_loop().time()
        due = []
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, seq = heapq.heappop(self._deadlines)
            entry = self._awaiting.get(seq)
            if entry is not None and entry.deadline == deadline:
                due.append(seq)
        if due:
            self._send_again(due, "no confirmation from central in time")

    def _send_again(self, seqs: list[int], reason: str) -> None:
        assert self._confirm_timeout is not None
        if len(self._timeouts) > 2 * self.max_awaiting:
            # Rows that left the outbox without a confirmation (evicted): forget their timeouts.
            self._timeouts = {seq: timeout for seq, timeout in self._timeouts.items()
                              if seq in self._awaiting or seq in self._in_flight}
        for seq in seqs:
            del self._awaiting[seq]
            self._timeouts[seq] = min(CONFIRM_TIMEOUT_MAX, 2 * self._timeouts.get(seq, self._confirm_timeout))
        self._counts["resent"] += len(seqs)
        self._resent_unlogged += len(seqs)
        now = asyncio.get_running_loop().time()
        shown = ", ".join(map(str, seqs[:SHOWN_SEQS])) + (", ..." if len(seqs) > SHOWN_SEQS else "")
        if self._resend_logged_at is None or now - self._resend_logged_at >= RESEND_LOG_INTERVAL:
            self._log.warning("uplink: sending readings again (%s): seqs %s; %d sent again since the last such "
                              "message, %d in all", reason, shown, self._resent_unlogged, self._counts["resent"])
            self._resend_logged_at = now
            self._resent_unlogged = 0
        else:
            self._log.debug("uplink: sending %d readings again (%s): seqs %s", len(seqs), reason, shown)
        self._outbox.release(seqs)
