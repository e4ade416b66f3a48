"""The PC/SC driver running against a real pcscd, with a recording sink and an allow-list built from a dict."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from firmware_sim.vcard.card import CardBehaviour, VirtualCard

from drivers.base import AccessDecider, AccessDecision, DriverContext
from drivers.pcsc.driver import PcscDriver, create
from shaobing.envelope import Kind
from tests.drivers.pcsc.pcscd import READER, Pcscd
from tests.drivers.tcp_kit import RecordingSink

LOG = logging.getLogger("tests.pcsc")
DOOR = "pithead-in"


@dataclass(frozen=True)
class Holder:
    person: str
    doors: frozenset[str]


class DictAllowList:
    """An AccessDecider over a dict of card -> holder: a real (if small) allow-list, decided from memory."""

    def __init__(self, holders: dict[str, Holder]) -> None:
        self.holders = holders
        self.asked: list[tuple[str, str]] = []

    def decide(self, card: str, door: str, at: datetime) -> AccessDecision:
        self.asked.append((card, door))
        holder = self.holders.get(card)
        if holder is None:
            return AccessDecision(False, "unknown_card")
        if door not in holder.doors:
            return AccessDecision(False, "door_not_allowed", holder.person)
        return AccessDecision(True, "granted", holder.person)


@dataclass
class Running:
    driver: PcscDriver
    ctx: DriverContext
    sink: RecordingSink

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.ctx.stats.counts)

    def swipes(self) -> list[dict[str, Any]]:
        return [reading.data for reading in self.sink.of(Kind.CARD_SWIPE)]


@contextlib.asynccontextmanager
async def running_driver(decider: AccessDecider, **options: Any) -> AsyncIterator[Running]:
    values: dict[str, Any] = {"name": "pithead-reader", "reader": READER, "door": DOOR, "poll_interval": 0.1,
                              "read_timeout": 1.0, "retry_min": 0.05, "retry_max": 0.2, "offline_after": 0}
    values.update(options)
    driver = create(values, source="test: driver 'pcsc'")
    sink = RecordingSink()
    ctx = DriverContext(site="mine-7", sink=sink, log=LOG, access=decider)
    task = asyncio.create_task(driver.run(ctx), name="pcsc-driver")
    try:
        yield Running(driver, ctx, sink)
        assert not task.done(), f"the driver ended: {task.exception() if not task.cancelled() else 'cancelled'}"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def card(daemon: Pcscd, uid: str, **behaviour: Any) -> VirtualCard:
    return VirtualCard(CardBehaviour(uid=bytes.fromhex(uid), **behaviour), port=daemon.port)
