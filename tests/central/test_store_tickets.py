from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from central.store import tickets
from central.store.readings import insert_readings
from shaobing.envelope import Envelope, Kind

from .readings_factory import envelope

NOW = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)


def _trouble(seq: int, trouble_class: str, qualifier: str | None, zone: object = 3) -> Envelope:
    data: dict[str, object] = {"class": trouble_class, "zone": zone, "source": "contact_id"}
    if qualifier is not None:
        data["qualifier"] = qualifier
    return envelope("shop-a", seq, Kind.TROUBLE, data)


async def _apply(engine: AsyncEngine, batch: list[Envelope], now: datetime = NOW) -> None:
    async with engine.begin() as connection:
        stored = await insert_readings(connection, batch, stored_at=now)
        await tickets.apply_trouble_readings(connection, stored, now=now)


async def _open(engine: AsyncEngine) -> list[tickets.Ticket]:
    async with engine.connect() as connection:
        return await tickets.list_tickets(connection, site="shop-a")


async def test_a_trouble_opens_one_ticket_and_its_restore_closes_it(engine: AsyncEngine) -> None:
    await _apply(engine, [_trouble(1, "ac_loss", "new")])
    await _apply(engine, [_trouble(2, "ac_loss", None), _trouble(3, "ac_loss", "repeat")])  # still the same one
    opened = await _open(engine)
    assert [(t.trouble_class, t.zone, t.device, t.source) for t in opened] == [("ac_loss", "3", "dev-1", "reading")]
    await _apply(engine, [_trouble(4, "low_battery", "new"), _trouble(5, "ac_loss", "restore")], NOW + timedelta(1))
    assert [t.trouble_class for t in await _open(engine)] == ["low_battery"]
    async with engine.connect() as connection:
        every = await tickets.list_tickets(connection, site="shop-a", open_only=False)
    closed = next(t for t in every if t.trouble_class == "ac_loss")
    assert closed.closed_at == NOW + timedelta(1)
    assert closed.opened_at == NOW


async def test_a_restore_of_another_zone_closes_nothing(engine: AsyncEngine) -> None:
    await _apply(engine, [_trouble(1, "tamper", "new", zone=3), _trouble(2, "tamper", "restore", zone=4)])
    assert [t.zone for t in await _open(engine)] == ["3"]


async def test_sources_close_only_their_own_tickets(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        first = await tickets.open_ticket(
            connection, site="shop-a", trouble_class="comm_fail", source="state", detail="site offline", now=NOW
        )
        again = await tickets.open_ticket(connection, site="shop-a", trouble_class="comm_fail", source="state", now=NOW)
        other = await tickets.open_ticket(
            connection, site="shop-a", trouble_class="comm_fail", source="supervision", now=NOW
        )
        assert first is not None
        assert again is None
        assert other is not None
        closed = await tickets.close_tickets(
            connection, site="shop-a", trouble_class="comm_fail", source="supervision", now=NOW
        )
    assert closed == 1
    assert [(t.source, t.detail) for t in await _open(engine)] == [("state", "site offline")]
