"""A contactless card reader on PC/SC: each card put on it is read, decided on at once, and reported as a swipe.

pyscard blocks, so every PC/SC call runs on the driver's own worker thread and is awaited here; a failure in any call
comes back to this task, which is the supervisor (pyscard's own CardMonitor thread dies quietly when pcscd goes).
Recovery: pcscd not running is logged once and retried with a doubling backoff; a reader that vanishes (unplugged,
pcscd restarted) is looked for every `poll_interval`; a card that answers garbage or nothing is refused with its bytes
in hex and reported as an unreadable swipe. Gone longer than `offline_after`, the reader raises `device_offline`
trouble, restored when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Mapping
from typing import Any

from drivers.base import AccessDecision, DriverContext, OutboxRefused
from drivers.pcsc.apdu import card_name, parse_uid_response
from drivers.pcsc.options import PcscOptions
from drivers.pcsc.readings import reader_offline, swipe, unreadable_swipe
from drivers.pcsc.session import CardGone, PcscError, PcscSession, ReaderGone, ReaderState, ServiceGone, pick_reader
from drivers.pcsc.worker import BlockingWorker
from shaobing.config import validate_table
from shaobing.envelope import Reading
from shaobing.errors import FrameError


class PcscDriver:
    def __init__(self, options: PcscOptions) -> None:
        self.options = options
        self.name = options.name
        self.reader: str | None = None  # the PC/SC reader being watched, None while there is none
        self._session: PcscSession | None = None
        self._service_down = False
        self._missing_since: float | None = None
        self._missing_why = ""
        self._trouble_raised = False

    async def run(self, ctx: DriverContext) -> None:
        worker = BlockingWorker(f"pcsc-{self.name}")
        self._missing_since = ctx.clock.monotonic()  # until the reader is first seen, it counts as gone
        self._missing_why = "not seen yet"
        try:
            await self._supervise(ctx, worker)
        finally:
            session, self._session, self.reader = self._session, None, None
            if session is not None:
                session.cancel()  # ends a status wait in progress, so the thread can release the context
                worker.stop(last=session.close)
            else:
                worker.stop()

    async def _supervise(self, ctx: DriverContext, worker: BlockingWorker) -> None:
        backoff = self.options.retry_min
        fault_backoff = self.options.retry_min  # grows with every unexpected fault, so a repeating one cannot flood
        while True:
            try:
                self._session = await worker.call(PcscSession)
            except PcscError as exc:
                if not self._service_down:
                    ctx.log.warning("pcsc %s: pcscd not available (%s); retrying, backing off up to %gs", self.name,
                                    exc, self.options.retry_max)
                    self._service_down = True
                ctx.stats.count("service_unavailable")
                await self._reader_missing(ctx, "pcscd not running")
                await asyncio.sleep(self._until_offline(ctx, backoff))
                backoff = min(backoff * 2, self.options.retry_max)
                continue
            if self._service_down:
                ctx.log.info("pcsc %s: pcscd available again", self.name)
            self._service_down = False
            backoff = self.options.retry_min
            ctx.stats.count("service_connected")
            session = self._session
            try:
                await self._watch(ctx, worker, session)
            except ServiceGone as exc:
                ctx.log.warning("pcsc %s: lost pcscd (%s); reconnecting", self.name, exc)
                ctx.stats.count("service_lost")
                self.reader = None
                await self._reader_missing(ctx, "pcscd stopped")
            except Exception:
                # A fault in pyscard or here: start over with a fresh context rather than end the agent's driver.
                ctx.log.exception("pcsc %s: unexpected failure; starting over in %gs", self.name, fault_backoff)
                ctx.stats.count("unexpected_error")
                self.reader = None
                await asyncio.sleep(fault_backoff)
                fault_backoff = min(fault_backoff * 2, self.options.retry_max)
            # (when cancelled, `run` releases the context instead: the worker may be held by a card that never answers)
            self._session = None
            await worker.call(session.close)

    async def _watch(self, ctx: DriverContext, worker: BlockingWorker, session: PcscSession) -> None:
        """Follow the reader's state until pcscd goes away (ServiceGone)."""
        options = self.options
        since = 0  # the state to wait for a change from: 0 answers at once with the current one
        present: ReaderState | None = None  # the card on the reader, as last seen
        while True:
            if self.reader is None:
                names = await worker.call(session.readers)
                self.reader = pick_reader(names, options.reader)
                if self.reader is None:
                    if self._missing_why != "reader not listed":
                        ctx.log.warning("pcsc %s: no reader %r (pcscd lists %s); looking every %gs", self.name,
                                        options.reader, names or "none", options.poll_interval)
                    await self._reader_missing(ctx, "reader not listed")
                    await asyncio.sleep(self._until_offline(ctx, options.poll_interval))
                    continue
                ctx.log.info("pcsc %s: watching reader %r for door %r", self.name, self.reader, options.door)
                ctx.stats.count("reader_found")
                await self._reader_back(ctx)
                since, present = 0, None
            reader = self.reader
            try:
                state = await worker.call(functools.partial(session.state, reader, since, options.poll_interval))
                if state is None:
                    continue
                since = state.raw
                on_reader = state.present or state.mute
                if present is not None and (not on_reader or state.events != present.events):
                    ctx.stats.count("card_removed")
                    ctx.log.info("pcsc %s: card removed from %r", self.name, reader)
                    present = None
                if on_reader and present is None:
                    present = state
                    await self._card_put_on(ctx, worker, session, reader, state)
            except ReaderGone as exc:
                ctx.log.warning("pcsc %s: reader %r gone (%s)", self.name, reader, exc)
                ctx.stats.count("reader_lost")
                self.reader = None
                await self._reader_missing(ctx, "reader unplugged")

    async def _card_put_on(self, ctx: DriverContext, worker: BlockingWorker, session: PcscSession, reader: str,
                           state: ReaderState) -> None:
        ctx.stats.count("card_inserted")
        if state.mute:
            await self._unreadable(ctx, reader, "mute: the card gave the reader no ATR", state.atr)
            return
        response = await self._read_uid(ctx, worker, session, reader, state.atr)
        if response is None:
            return
        try:
            uid = parse_uid_response(response)
        except FrameError as error:
            ctx.refused(error, reader)
            await self._unreadable(ctx, reader, error.reason, state.atr)
            return
        card = card_name(uid)
        now = ctx.clock.now()
        try:
            decision = ctx.access.decide(card, self.options.door, now)
        except Exception:
            ctx.log.exception("pcsc %s: the allow-list failed on card %s; denied", self.name, card)
            decision = AccessDecision(False, "decider_failed")
        ctx.stats.count("granted" if decision.granted else "denied")
        ctx.log.info("pcsc %s: card %s at %r: %s (%s)%s", self.name, card, self.options.door,
                     "granted" if decision.granted else "denied", decision.reason,
                     f" person={decision.person!r}" if decision.person else "")
        await self._submit(ctx, swipe(self.name, card=card, reader=reader, door=self.options.door, decision=decision,
                                      atr=state.atr, at=now))

    async def _read_uid(self, ctx: DriverContext, worker: BlockingWorker, session: PcscSession, reader: str,
                        atr: bytes) -> bytes | None:
        """The card's answer to GET UID, or None once the card is reported unreadable (no answer, gone, failed)."""
        read = asyncio.ensure_future(worker.call(functools.partial(session.read_uid, reader)))
        try:
            return await asyncio.wait_for(asyncio.shield(read), self.options.read_timeout)
        except TimeoutError:
            ctx.stats.count("card_timeout")
            await self._unreadable(ctx, reader, f"no answer within {self.options.read_timeout:g}s", atr)
            # The worker stays in the read until the card is taken away; wait for that here, where nothing else of
            # this reader can happen meanwhile.
            with contextlib.suppress(CardGone):
                late = await read
                ctx.log.info("pcsc %s: late answer %r ignored", self.name, late.hex().upper())
            return None
        except CardGone as exc:
            ctx.stats.count("card_gone")
            await self._unreadable(ctx, reader, f"card gone before it was read: {exc}", atr)
            return None
        except (ServiceGone, ReaderGone):
            raise
        except PcscError as exc:
            ctx.stats.count("read_failed")
            await self._unreadable(ctx, reader, f"read failed: {exc}", atr)
            return None
        finally:
            read.cancel()  # cancelled with the driver: nobody is left to take the read's outcome

    async def _unreadable(self, ctx: DriverContext, reader: str, error: str, atr: bytes) -> None:
        ctx.stats.count("unreadable")
        ctx.log.warning("pcsc %s: card on %r unreadable (%s); denied", self.name, reader, error)
        await self._submit(ctx, unreadable_swipe(self.name, reader=reader, door=self.options.door, error=error,
                                                 atr=atr, at=ctx.clock.now()))

    async def _reader_missing(self, ctx: DriverContext, why: str) -> None:
        """Note the reader is gone; once gone longer than `offline_after`, raise the trouble (once per outage)."""
        now = ctx.clock.monotonic()
        if self._missing_since is None:
            self._missing_since = now
        self._missing_why = why
        after = self.options.offline_after
        if after and not self._trouble_raised and now - self._missing_since >= after:
            self._trouble_raised = True
            ctx.stats.count("offline_raised")
            ctx.log.warning("pcsc %s: reader %r offline for %.0fs (%s)", self.name, self.options.reader,
                            now - self._missing_since, why)
            await self._submit(ctx, reader_offline(self.name, reader=self.options.reader, door=self.options.door,
                                                   restore=False, detail=why, at=ctx.clock.now()))

    async def _reader_back(self, ctx: DriverContext) -> None:
        self._missing_since = None
        self._missing_why = ""
        if self._trouble_raised:
            self._trouble_raised = False
            ctx.stats.count("offline_restored")
            assert self.reader is not None
            await self._submit(ctx, reader_offline(self.name, reader=self.reader, door=self.options.door,
                                                   restore=True, detail="reader back", at=ctx.clock.now()))

    def _until_offline(self, ctx: DriverContext, delay: float) -> float:
        """`delay`, cut short so the offline trouble is not raised later than `offline_after`."""
        if not self.options.offline_after or self._trouble_raised or self._missing_since is None:
            return delay
        due = self._missing_since + self.options.offline_after - ctx.clock.monotonic()
        return max(0.01, min(delay, due))

    async def _submit(self, ctx: DriverContext, reading: Reading) -> None:
        try:
            seq = await ctx.sink.submit(reading)
        except OutboxRefused as exc:
            ctx.stats.count("outbox_refused")
            ctx.log.warning("pcsc %s: %s not committed (%s)", self.name, reading.kind.value, exc)
            return
        except Exception:
            ctx.stats.count("submit_failed")
            ctx.log.exception("pcsc %s: %s: submit failed", self.name, reading.kind.value)
            return
        ctx.log.debug("pcsc %s: %s -> seq %d", self.name, reading.kind.value, seq)


def create(options: Mapping[str, Any], *, source: str) -> PcscDriver:
    """Entry point `pcsc`: options name, reader, door, poll_interval, read_timeout, retry_min, retry_max,
    offline_after (unknown keys are errors)."""
    return PcscDriver(validate_table(options, PcscOptions, source))
