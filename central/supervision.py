"""Supervision: a site, or a device of a site, whose periodic tests stop coming gets a `comm_fail` ticket.

A panel or edge sends a test (a `test` reading, Contact ID 602, a DC-09 poll) every interval; a site silent for longer
than its interval plus a grace period may be cut off or sabotaged, which must show even while its MQTT link looks up.
Each device that ever sent a test is followed too (the site's `device_tests`): in a site with two panels, the one
whose tests stop gets its own ticket ("supervision: no test/poll from device D since ...") while the other keeps the
site's last test fresh. A ticket closes when a test arrives (in the ingest transaction) or when it is no longer
overdue here (e.g. the interval changed).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central.store import tickets
from central.store.schema import sites
from shaobing.clock import Clock, SystemClock, format_ts, parse_ts
from shaobing.config import Closed


class SupervisionSettings(Closed):
    # Seconds between a site's expected tests; 0 turns supervision off (the default).
    test_interval_s: float = Field(default=0, ge=0)
    grace_s: float = Field(default=300, ge=0)
    check_every_s: float = Field(default=60, gt=0)
    # Per-site test interval, overriding test_interval_s (0 turns it off for that site).
    sites: dict[str, float] = Field(default_factory=dict)

    def interval_of(self, site: str) -> float:
        return self.sites.get(site, self.test_interval_s)


@dataclass
class SupervisionOutcome:
    opened: list[str] = field(default_factory=list)  # sites that got a ticket now
    closed: list[str] = field(default_factory=list)  # sites no longer overdue
    devices_opened: list[tuple[str, str]] = field(default_factory=list)  # (site, device) that got a ticket now
    devices_closed: list[tuple[str, str]] = field(default_factory=list)  # (site, device) no longer overdue


def _device_times(raw: object) -> dict[str, datetime]:
    times: dict[str, datetime] = {}
    if isinstance(raw, dict):
        for device, stamp in raw.items():
            try:
                times[str(device)] = parse_ts(str(stamp))
            except (ValueError, OverflowError):
                continue
    return times


async def supervise_once(
    connection: AsyncConnection, settings: SupervisionSettings, *, now: datetime
) -> SupervisionOutcome:
    """Open tickets for overdue sites and close those of sites that are not (in the caller's transaction).

    Sites the ingest holds locked right now are skipped this round (PostgreSQL): they are busy, not silent.
    """
    outcome = SupervisionOutcome()
    rows = await connection.execute(
        select(sites.c.id, sites.c.last_test_at, sites.c.first_seen_at, sites.c.device_tests)
        .order_by(sites.c.id)
        .with_for_update(skip_locked=True)
    )
    for row in rows.all():
        interval = settings.interval_of(row.id)
        limit = timedelta(seconds=interval + settings.grace_s)
        since = row.last_test_at or row.first_seen_at
        overdue = interval > 0 and since is not None and now - since > limit
        device_tests = _device_times(row.device_tests)
        # With one device the site's own ticket says it all; with several, the one that went quiet is named.
        per_device = interval > 0 and len(device_tests) > 1
        await _supervise_devices(connection, row.id, device_tests, per_device, limit, now, outcome)
        if overdue:
            detail = (
                f"supervision: no test/poll since {format_ts(row.last_test_at)}"
                if row.last_test_at is not None
                else f"supervision: no test/poll since first seen at {format_ts(row.first_seen_at)}"
            )
            opened = await tickets.open_ticket(
                connection,
                site=row.id,
                trouble_class=tickets.COMM_FAIL,
                source=tickets.SOURCE_SUPERVISION,
                detail=detail,
                now=now,
            )
            if opened is not None:
                outcome.opened.append(row.id)
        else:
            closed = await tickets.close_tickets(
                connection, site=row.id, trouble_class=tickets.COMM_FAIL, source=tickets.SOURCE_SUPERVISION, now=now
            )
            if closed:
                outcome.closed.append(row.id)
    return outcome


async def _supervise_devices(
    connection: AsyncConnection,
    site: str,
    last_tests: dict[str, datetime],
    enabled: bool,
    limit: timedelta,
    now: datetime,
    outcome: SupervisionOutcome,
) -> None:
    for device, last_test in sorted(last_tests.items()):
        if enabled and now - last_test > limit:
            opened = await tickets.open_ticket(
                connection,
                site=site,
                device=device,
                trouble_class=tickets.COMM_FAIL,
                source=tickets.SOURCE_SUPERVISION,
                detail=f"supervision: no test/poll from device {device} since {format_ts(last_test)}",
                now=now,
            )
            if opened is not None:
                outcome.devices_opened.append((site, device))
        elif await tickets.close_tickets(
            connection,
            site=site,
            device=device,
            trouble_class=tickets.COMM_FAIL,
            source=tickets.SOURCE_SUPERVISION,
            now=now,
        ):
            outcome.devices_closed.append((site, device))


class Supervisor:
    """Runs `supervise_once` every `check_every_s` until cancelled; a failed round is logged and tried again."""

    def __init__(
        self, engine: AsyncEngine, settings: SupervisionSettings, *, log: logging.Logger, clock: Clock | None = None
    ) -> None:
        self.engine = engine
        self.settings = settings
        self._log = log
        self._clock: Clock = clock or SystemClock()

    async def check(self) -> SupervisionOutcome:
        async with self.engine.begin() as connection:
            outcome = await supervise_once(connection, self.settings, now=self._clock.now())
        for site in outcome.opened:
            self._log.warning("supervision: site %s is overdue for its test: comm_fail ticket opened", site)
        for site in outcome.closed:
            self._log.info("supervision: site %s is no longer overdue: ticket closed", site)
        for site, device in outcome.devices_opened:
            self._log.warning("supervision: device %s of site %s is overdue for its test: comm_fail ticket opened",
                              device, site)
        for site, device in outcome.devices_closed:
            self._log.info("supervision: device %s of site %s is no longer overdue: ticket closed", device, site)
        return outcome

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:
                self._log.exception("supervision: check failed; trying again next round")
            await asyncio.sleep(self.settings.check_every_s)
