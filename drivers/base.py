"""What every driver is given and what it must offer the edge agent.

A driver turns device traffic into `Reading`s and hands each to the `ReadingSink`; `submit` returns only once the
reading is committed to the edge outbox on disk, so a driver acknowledges its device after that call and never before.
Drivers are found by the `type` of their configuration table through the `shaobing.drivers` entry points.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any, Protocol

from shaobing.clock import Clock, SystemClock
from shaobing.envelope import Reading
from shaobing.errors import ConfigError, FrameError


class ReadingSink(Protocol):
    async def submit(self, reading: Reading) -> int:
        """Commit the reading durably and return its sequence number. Raises `OutboxRefused` when it cannot."""
        ...


class OutboxRefused(Exception):
    """The outbox could not take a reading (full of alarms, disk error): the device must not be acknowledged."""


@dataclass
class DriverStats:
    """Counters a driver keeps; the agent reports them in its status and logs."""

    counts: Counter[str] = field(default_factory=Counter)

    def count(self, name: str, amount: int = 1) -> None:
        self.counts[name] += amount


@dataclass(frozen=True)
class AccessDecision:
    """The edge's answer to "may this card open this door now?", made locally so doors work with the uplink down.

    `reason` is one word a report can count: granted, unknown_card, not_yet_valid, expired, door_not_allowed,
    no_list (the site has never received an allow-list)."""

    granted: bool
    reason: str
    person: str | None = None  # who the card was issued to, as central named them in the list


class AccessDecider(Protocol):
    """The site's allow-list. Cards are named canonically so one list serves every kind of reader:
    a contactless UID (PC/SC `FF CA`, or an OSDP raw read of whole bytes) as upper-case hex without separators
    ("04A1B2C3"); a Wiegand 26 / 34 read as "W26:{facility}:{number}" / "W34:{facility}:{number}" in decimal."""

    def decide(self, card: str, door: str, at: datetime) -> AccessDecision:
        """Answer at once from memory (no I/O): a door waits on this."""
        ...


class NoAccessList:
    """What a site without an allow-list decides: nobody is let in, and the reason says why."""

    def decide(self, card: str, door: str, at: datetime) -> AccessDecision:
        return AccessDecision(False, "no_list")


@dataclass
class DriverContext:
    site: str
    sink: ReadingSink
    log: logging.Logger
    clock: Clock = field(default_factory=SystemClock)
    stats: DriverStats = field(default_factory=DriverStats)
    access: AccessDecider = field(default_factory=NoAccessList)

    def refused(self, error: FrameError, source: str = "") -> None:
        """Count a refused frame and log it once, with its bytes in hex so it can be pasted into a test."""
        # Count by the kind of refusal ("checksum", "CRC"), not by its particulars.
        self.stats.count(f"refused:{re.split(r'[:(]', error.reason, maxsplit=1)[0].strip()}")
        self.log.warning("refused frame%s reason=%r hex=%s", f" from {source}" if source else "", error.reason,
                         error.frame_hex)


@dataclass(frozen=True)
class CommandResult:
    ok: bool
    detail: str


class Driver(Protocol):
    """A running device connection (or server for many devices)."""

    name: str

    async def run(self, ctx: DriverContext) -> None:
        """Serve the device(s) until cancelled. Transient device errors are handled inside, never raised."""
        ...


class CommandableDriver(Driver, Protocol):
    async def command(self, name: str, args: Mapping[str, Any]) -> CommandResult:
        """Carry out a central `cmd` (e.g. arm / disarm a partition) on the device, if the driver supports it."""
        ...


class DeviceCommandDriver(Driver, Protocol):
    """A driver serving many devices (a tracker gateway) that takes commands addressed to one of them.

    Central sends such a command with `args["device"]` naming the device (a tracker's IMEI); the edge offers it to each
    driver that has `device_command`, and the first that knows the device answers.
    """

    device_commands: frozenset[str]  # the command names it understands, e.g. engine_stop, engine_resume

    async def device_command(self, device: str, name: str, args: Mapping[str, Any]) -> CommandResult | None:
        """Carry out `name` on `device` and wait for the device's reply; None when the device is not this driver's
        (never connected to it). A device that is known but offline, or does not answer, is a failed result.
        Called for several devices at once (the edge runs a lane per device), never twice at once for one device."""
        ...


def create_driver(raw: Mapping[str, Any], *, source: str = "config") -> Driver:
    """Build the driver named by `raw["type"]` from its configuration table (unknown keys are errors)."""
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise ConfigError(f"{source}: a [[drivers]] table needs a string 'type'")
    found = {ep.name: ep for ep in entry_points(group="shaobing.drivers")}
    if kind not in found:
        raise ConfigError(f"{source}: unknown driver type {kind!r} (known: {', '.join(sorted(found))})")
    factory = found[kind].load()
    options = {k: v for k, v in raw.items() if k != "type"}
    driver: Driver = factory(options, source=f"{source}: driver {kind!r}")
    return driver
