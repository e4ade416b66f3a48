"""The uplink: drains the outbox to `shaobing/v1/{site}/event/{kind}` with QoS 1, alarms first.

Up to `window` publishes are in flight at once. A row is deleted from the outbox only after its PUBACK; a publish
that fails (connection lost) puts its row back into the drain, so it goes out again after the reconnect, in drain
order. A PUBACK saying "no matching subscribers" means the broker dropped the message: the row is kept, and the
uplink holds off a moment before trying again (see docs/edge.md). The window is refilled from the outbox in small
steps (a quarter of it at a time), and every commit wakes the uplink, so an alarm committed while thousands of
positions drain is fetched at the next refill: it waits behind at most one window of messages already handed over.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from dataclasses import dataclass

from edge.outbox import Outbox, OutboxRow
from shaobing.mqtt import NO_MATCHING_SUBSCRIBERS, MqttLink, PublishFailed, PublishRefused

# A row the broker refused (e.g. not authorized) waits this long before it is tried again; the rest flow on.
REFUSED_RETRY_DELAY = 5.0
# With nobody subscribed to the site's events (central away and its subscription gone, e.g. after a broker restart:
# Mosquitto 2.0 does not restore shared subscriptions from its database), the uplink holds off this long, doubling.
UNROUTED_HOLD_MIN = 0.2
UNROUTED_HOLD_MAX = 5.0


@dataclass(frozen=True)
class UplinkStats:
    in_flight: int
    sent: int
    failed: int
    refused: int
    unrouted: int


class Uplink:
    def __init__(self, outbox: Outbox, link: MqttLink, *, window: int, log: logging.Logger) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
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
        )

    def _on_outbox_change(self, priority: int) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()
                if not self._link.connected:
                    await self._link.wait_connected()
                    continue
                pause = self._hold_until - asyncio.get_running_loop().time()
                if pause > 0:
                    await asyncio.sleep(pause)
                    continue
                free = min(self.window, self._link.send_quota) - len(self._in_flight)
                if free >= self._refill or (free > 0 and not self._in_flight):
                    rows = await self._outbox.fetch(free)
                    if rows:
                        self._send(rows)
                        continue
                await self._wake.wait()
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

    def _published(self, seq: int, future: asyncio.Future[int]) -> None:
        self._in_flight.discard(seq)
        error = None if future.cancelled() else future.exception()
        if future.cancelled():
            self._outbox.release([seq])
        elif error is None and future.result() == NO_MATCHING_SUBSCRIBERS:
            self._counts["unrouted"] += 1
            self._outbox.release([seq])
            self._hold_off()
        elif error is None:
            self._counts["sent"] += 1
            self._hold = 0.0
            self._outbox.remove([seq])
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
