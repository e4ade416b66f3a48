from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.store.readings import insert_readings
from central.store.schema import readings
from shaobing.envelope import Kind

from .readings_factory import envelope

NOW = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(readings))).scalar_one())


async def test_a_new_batch_is_stored_and_returned_with_ids(engine: AsyncEngine) -> None:
    batch = [envelope("shop-a", seq) for seq in (1, 2, 3)]
    async with engine.begin() as connection:
        stored = await insert_readings(connection, batch, stored_at=NOW)
    assert [reading.envelope for reading in stored] == batch
    assert len({reading.id for reading in stored}) == 3
    assert all(reading.stored_at == NOW for reading in stored)
    async with engine.connect() as connection:
        row = (await connection.execute(select(readings).where(readings.c.seq == 2))).one()
    assert (row.site, row.kind, row.data, row.ts) == ("shop-a", "position", {"lat": 30.1, "lon": 120.2}, batch[1].ts)


async def test_a_resent_batch_is_stored_once_and_returns_nothing(engine: AsyncEngine) -> None:
    batch = [envelope("shop-a", seq) for seq in (1, 2, 3)]
    async with engine.begin() as connection:
        first = await insert_readings(connection, batch, stored_at=NOW)
    async with engine.begin() as connection:
        again = await insert_readings(connection, [*batch, envelope("shop-a", 4)], stored_at=NOW)
    assert len(first) == 3
    assert [reading.envelope.seq for reading in again] == [4]
    assert await _count(engine) == 4


async def test_the_same_seq_twice_in_one_batch_is_stored_once(engine: AsyncEngine) -> None:
    alarm = envelope("shop-a", 7, Kind.ALARM, {"class": "burglary"})
    async with engine.begin() as connection:
        stored = await insert_readings(connection, [alarm, alarm, envelope("shop-b", 7)], stored_at=NOW)
    assert sorted((reading.envelope.site, reading.envelope.seq) for reading in stored) == [("shop-a", 7), ("shop-b", 7)]
    assert await _count(engine) == 2


async def test_an_empty_batch_does_nothing(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        assert await insert_readings(connection, [], stored_at=NOW) == []
