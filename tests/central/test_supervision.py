from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from central.ingest_batch import BatchStore
from central.store import tickets
from central.supervision import SupervisionSettings, Supervisor, supervise_once
from shaobing.config import validate_table
from shaobing.envelope import Envelope, Kind
from shaobing.errors import ConfigError

from .readings_factory import event_message

T0 = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


class StepClock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return self.moment.timestamp()


async def _send(engine: AsyncEngine, site: str, seq: int, kind: Kind, at: datetime, device: str = "panel") -> None:
    reading = Envelope(site, seq, device, kind, at, at, 4, {})
    async with engine.begin() as connection:
        await BatchStore().process(connection, [event_message(reading)], now=at)


async def _open(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with engine.connect() as connection:
        found = await tickets.list_tickets(connection)
    return [(t.site, t.detail) for t in found if t.source == "supervision"]


async def test_a_site_silent_past_its_interval_and_grace_gets_a_ticket_closed_by_the_next_test(
    engine: AsyncEngine,
) -> None:
    settings = SupervisionSettings(test_interval_s=3600, grace_s=600)
    clock = StepClock(T0)
    supervisor = Supervisor(engine, settings, log=logging.getLogger("test"), clock=clock)
    await _send(engine, "shop-a", 1, Kind.TEST, T0)
    await _send(engine, "shop-b", 1, Kind.POSITION, T0)  # never tested: counted from first sight

    clock.moment = T0 + HOUR + timedelta(seconds=599)
    assert (await supervisor.check()).opened == []
    clock.moment = T0 + HOUR + timedelta(seconds=601)
    assert (await supervisor.check()).opened == ["shop-a", "shop-b"]
    assert (await supervisor.check()).opened == []  # one ticket, not one per round
    assert await _open(engine) == [
        ("shop-a", "supervision: no test/poll since 2026-11-24T05:00:00.000Z"),
        ("shop-b", "supervision: no test/poll since first seen at 2026-11-24T05:00:00.000Z"),
    ]

    await _send(engine, "shop-a", 2, Kind.TEST, clock.moment)  # the ingest closes it at once
    assert [site for site, _ in await _open(engine)] == ["shop-b"]
    await _send(engine, "shop-b", 2, Kind.POSITION, clock.moment)  # not a test: stays open
    assert [site for site, _ in await _open(engine)] == ["shop-b"]


async def test_per_site_intervals_override_the_default_and_zero_is_off(engine: AsyncEngine) -> None:
    await _send(engine, "shop-a", 1, Kind.TEST, T0)
    await _send(engine, "shop-b", 1, Kind.TEST, T0)
    settings = SupervisionSettings(test_interval_s=0, grace_s=0, sites={"shop-b": 60})
    async with engine.begin() as connection:
        outcome = await supervise_once(connection, settings, now=T0 + 10 * HOUR)
    assert outcome.opened == ["shop-b"]
    # Turning it off for the site closes its ticket on the next round.
    async with engine.begin() as connection:
        outcome = await supervise_once(connection, SupervisionSettings(), now=T0 + 11 * HOUR)
    assert outcome.closed == ["shop-b"]
    assert await _open(engine) == []


async def _device_tickets(engine: AsyncEngine) -> list[tuple[str, str | None, str]]:
    async with engine.connect() as connection:
        found = await tickets.list_tickets(connection)
    return [(t.site, t.device, t.detail) for t in found if t.source == "supervision" and t.device is not None]


async def test_a_panel_whose_tests_stop_is_flagged_while_the_other_panel_of_its_site_keeps_testing(
    engine: AsyncEngine,
) -> None:
    settings = SupervisionSettings(test_interval_s=3600, grace_s=600)
    clock = StepClock(T0)
    supervisor = Supervisor(engine, settings, log=logging.getLogger("test"), clock=clock)
    await _send(engine, "shop-a", 1, Kind.TEST, T0, device="panel-1")
    await _send(engine, "shop-a", 2, Kind.TEST, T0, device="panel-2")
    seq = 3
    for hour in (1, 2):  # panel-1 stops; panel-2 tests every hour
        clock.moment = T0 + hour * HOUR
        await _send(engine, "shop-a", seq, Kind.TEST, clock.moment, device="panel-2")
        seq += 1
    clock.moment = T0 + 2 * HOUR
    outcome = await supervisor.check()
    assert (outcome.opened, outcome.devices_opened) == ([], [("shop-a", "panel-1")])
    detail = "supervision: no test/poll from device panel-1 since 2026-11-24T05:00:00.000Z"
    assert await _open(engine) == [("shop-a", detail)]
    assert (await supervisor.check()).devices_opened == []  # one ticket, not one per round

    # panel-1 tests again: the ingest closes its ticket at once.
    await _send(engine, "shop-a", seq, Kind.TEST, clock.moment, device="panel-1")
    assert await _device_tickets(engine) == []


async def test_a_single_panel_site_gets_the_site_ticket_only(engine: AsyncEngine) -> None:
    await _send(engine, "shop-a", 1, Kind.TEST, T0, device="panel-1")
    async with engine.begin() as connection:
        outcome = await supervise_once(connection, SupervisionSettings(test_interval_s=60, grace_s=0), now=T0 + HOUR)
    assert (outcome.opened, outcome.devices_opened) == (["shop-a"], [])


def test_supervision_settings_are_closed() -> None:
    with pytest.raises(ConfigError, match=r"central\.toml: interval: unknown key"):
        validate_table({"interval": 5}, SupervisionSettings, "central.toml")
    with pytest.raises(ConfigError, match="test_interval_s"):
        validate_table({"test_interval_s": -1}, SupervisionSettings, "central.toml")
