"""OSDP door reader driver: the edge is the control panel, decides each card locally and drives the lock, LED and
buzzer; the door contact and exit button feed the door supervision; link trouble becomes `trouble` readings.

The decision and the unlock command come first, straight from the link thread's hand-off, before anything is written
to the outbox: a person at the door must not wait for a disk. The readings follow in order through one queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import osdp_sys

from drivers.base import AccessDecision, DriverContext, OutboxRefused
from drivers.osdp import signals
from drivers.osdp.door import DoorMonitor, DoorNews
from drivers.osdp.link import CardEvent, InputsEvent, LinkDown, LinkEvent, LinkUp, OsdpLink
from drivers.osdp.options import OsdpOptions
from drivers.osdp.wiegand import decode_card
from shaobing.config import validate_table
from shaobing.envelope import Kind, Reading
from shaobing.errors import FrameError

# What a link outage is reported as. A reader that answers but cannot prove the key is either misconfigured or not
# the reader that was installed (swapped, or reset to defaults): both are a security matter, so it is tamper.
TROUBLE_CLASS = {"secure_channel": "tamper", "offline": "device_offline", "port": "comm_fail"}
IDLE_TICK = 1.0


class OsdpDriver:
    def __init__(self, options: OsdpOptions) -> None:
        self.options = options
        self.name = options.name
        self.door = DoorMonitor(options.door, unlock_seconds=options.unlock_seconds,
                                held_open_after=options.held_open_after)
        self._inputs = b""
        self._troubles: dict[str, str] = {}  # outage cause -> detail, while it lasts
        self._link: OsdpLink | None = None
        self._queue: asyncio.Queue[Reading] = asyncio.Queue()
        self._door_changed = asyncio.Event()

    async def run(self, ctx: DriverContext) -> None:
        loop = asyncio.get_running_loop()

        def hand_over(event: LinkEvent) -> None:  # on the link thread
            loop.call_soon_threadsafe(self._on_link_event, ctx, event)

        link = OsdpLink(self.options, hand_over, ctx.log)
        self._link = link
        link.start()
        ctx.log.info("osdp %s: control panel on %s at %d baud, reader address %d, secure channel %s", self.name,
                     self.options.port, self.options.baudrate, self.options.address,
                     "required" if self.options.secure else "off")
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._submit_loop(ctx), name=f"osdp-{self.name}-submit")
                group.create_task(self._door_clock(ctx), name=f"osdp-{self.name}-door")
        finally:
            link.stop()
            await asyncio.to_thread(link.join)
            self._link = None

    # --- events from the link thread, on the event loop ---

    def _on_link_event(self, ctx: DriverContext, event: LinkEvent) -> None:
        if isinstance(event, CardEvent):
            self._card(ctx, event)
        elif isinstance(event, InputsEvent):
            self._inputs_changed(ctx, event.states)
        elif isinstance(event, LinkUp):
            self._link_up(ctx, event)
        else:
            self._link_down(ctx, event)

    def _card(self, ctx: DriverContext, event: CardEvent) -> None:
        link = self._link
        if link is None:
            return
        try:
            if event.bits is None:
                raise FrameError("format: card data in ASCII is not supported", event.data)
            read = decode_card(event.data, event.bits)
        except FrameError as error:
            ctx.refused(error, f"{self.name} (card read, {event.bits} bits)")
            link.submit(signals.denied())  # the person sees red and presents the card again
            return
        try:
            decision = ctx.access.decide(read.card, self.options.door, ctx.clock.now())
        except Exception:  # the door stays shut, and the swipe is still recorded with why
            ctx.log.exception("osdp %s: the allow-list failed on card %s; denied", self.name, read.card)
            decision = AccessDecision(False, "decider_failed")
        if decision.granted:
            link.submit(signals.granted(self.options.unlock_output, self.options.unlock_seconds))
            self.door.allow_opening(ctx.clock.monotonic())
            self._door_changed.set()
            ctx.stats.count("granted")
        else:
            link.submit(signals.denied())
            ctx.stats.count("denied")
        self._emit(ctx, Kind.CARD_SWIPE, {
            "card": read.card, "reader": self.name, "door": self.options.door,
            "decision": "granted" if decision.granted else "denied", "reason": decision.reason,
            "person": decision.person, "format": read.format, "bits": read.bits})
        ctx.log.info("osdp %s: card %s at %s %s (%s)", self.name, read.card, self.options.door,
                     "granted" if decision.granted else "denied", decision.reason)

    def _inputs_changed(self, ctx: DriverContext, states: bytes) -> None:
        before, self._inputs = self._inputs, states
        now = ctx.clock.monotonic()
        exit_input = self.options.exit_request_input
        if exit_input is not None and _active(states, exit_input) and not _active(before, exit_input):
            ctx.stats.count("exit_request")
            self.door.allow_opening(now)
            if self.options.unlock_on_exit_request and self._link is not None:
                self._link.submit([signals.pulse_output(self.options.unlock_output, self.options.unlock_seconds)])
        contact = self.options.door_contact_input
        if contact is not None and contact < len(states):
            self._publish(ctx, self.door.contact(_active(states, contact), now))
            self._door_changed.set()

    def _link_up(self, ctx: DriverContext, event: LinkUp) -> None:
        ctx.stats.count("link_up")
        ctx.log.info("osdp %s: reader online%s", self.name, " with secure channel" if event.secure else "")
        for cause, detail in sorted(self._troubles.items()):
            self._emit(ctx, Kind.TROUBLE, self._trouble(cause, detail, "restore"))
        self._troubles.clear()

    def _link_down(self, ctx: DriverContext, event: LinkDown) -> None:
        ctx.stats.count(f"link_down:{event.cause}")
        if event.cause == "secure_channel":
            ctx.stats.count("secure_channel_failed")
        if event.cause in self._troubles:
            ctx.log.debug("osdp %s: still down: %s", self.name, event.detail)
            return
        ctx.log.error("osdp %s: %s; retrying every %gs", self.name, event.detail, self.options.reconnect_delay)
        self._troubles[event.cause] = event.detail
        self._emit(ctx, Kind.TROUBLE, self._trouble(event.cause, event.detail, "new"))

    def _trouble(self, cause: str, detail: str, qualifier: str) -> dict[str, Any]:
        return {"class": TROUBLE_CLASS[cause], "source": "door", "zone": self.options.door, "reader": self.name,
                "qualifier": qualifier, "reason": detail}

    # --- readings, in order ---

    def _publish(self, ctx: DriverContext, news: list[DoorNews]) -> None:
        for item in news:
            self._emit(ctx, item.kind, item.data)

    def _emit(self, ctx: DriverContext, kind: Kind, data: dict[str, Any]) -> None:
        now = ctx.clock.now()
        self._queue.put_nowait(Reading(device=self.name, kind=kind, data=data, ts=now, rx=now))

    async def _submit_loop(self, ctx: DriverContext) -> None:
        while True:
            reading = await self._queue.get()
            try:
                await ctx.sink.submit(reading)
            except OutboxRefused as exc:
                # the door has already been served; the reading is lost to the outbox and said so
                ctx.stats.count("outbox_refused")
                ctx.log.error("osdp %s: %s reading not committed (%s): %s", self.name, reading.kind.value, exc,
                              reading.data)
            except Exception:
                ctx.stats.count("submit_failed")
                ctx.log.exception("osdp %s: %s reading not committed: %s", self.name, reading.kind.value,
                                  reading.data)

    async def _door_clock(self, ctx: DriverContext) -> None:
        """Wake at the held-open deadline of an open door (or when the door changes) and report what is due."""
        while True:
            self._door_changed.clear()
            self._publish(ctx, self.door.tick(ctx.clock.monotonic()))
            deadline = self.door.next_check()
            wait = IDLE_TICK if deadline is None else max(0.0, deadline - ctx.clock.monotonic())
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that races its result
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(wait, IDLE_TICK)):
                    await self._door_changed.wait()


def _active(states: bytes, index: int) -> bool:
    return index < len(states) and states[index] != 0


def create(options: Mapping[str, Any], *, source: str) -> OsdpDriver:
    """Entry point `osdp`: see `drivers.osdp.options` for the keys (unknown keys are errors)."""
    osdp_sys.set_loglevel(osdp_sys.LOG_ERROR)  # libosdp prints its own log lines; keep only its errors
    return OsdpDriver(validate_table(options, OsdpOptions, source))
