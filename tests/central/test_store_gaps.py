from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from central.store.gaps import open_gaps, ranges_missing, record_arrivals, subtract

T0 = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)


def test_ranges_missing_above_the_highest_seq() -> None:
    assert ranges_missing(0, [1, 2, 3]) == []
    assert ranges_missing(0, [5]) == [(1, 4)]
    assert ranges_missing(10, [14, 12, 3, 20]) == [(11, 11), (13, 13), (15, 19)]


def test_subtract_shrinks_splits_and_closes() -> None:
    assert subtract(5, 10, [5]) == [(6, 10)]
    assert subtract(5, 10, [10]) == [(5, 9)]
    assert subtract(5, 10, [7]) == [(5, 6), (8, 10)]
    assert subtract(5, 10, [1, 5, 6, 7, 8, 9, 10, 11]) == []
    assert subtract(5, 10, [1, 2, 20]) == [(5, 10)]


async def _gaps(engine: AsyncEngine, site: str = "shop-a") -> list[tuple[int, int]]:
    async with engine.connect() as connection:
        return [(gap.first_seq, gap.last_seq) for gap in await open_gaps(connection, site)]


async def test_gaps_open_shrink_split_and_close_as_readings_arrive_out_of_order(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await record_arrivals(connection, "shop-a", 0, [1, 2], now=T0)
    assert await _gaps(engine) == []
    async with engine.begin() as connection:
        await record_arrivals(connection, "shop-a", 2, [10], now=T0)  # an alarm overtook 3..9
    assert await _gaps(engine) == [(3, 9)]
    async with engine.begin() as connection:
        await record_arrivals(connection, "shop-a", 10, [3, 9], now=T0 + timedelta(seconds=1))  # shrinks both ends
    assert await _gaps(engine) == [(4, 8)]
    async with engine.begin() as connection:
        await record_arrivals(connection, "shop-a", 10, [6, 12], now=T0 + timedelta(seconds=2))  # split + a new one
    assert await _gaps(engine) == [(4, 5), (7, 8), (11, 11)]
    async with engine.connect() as connection:
        gaps = await open_gaps(connection, "shop-a")
    # A split keeps the age of the gap it came from.
    assert [gap.detected_at for gap in gaps] == [T0, T0, T0 + timedelta(seconds=2)]
    assert gaps[0].age(T0 + timedelta(minutes=5)) == timedelta(minutes=5)
    assert gaps[0].size == 2
    async with engine.begin() as connection:
        await record_arrivals(connection, "shop-a", 12, [4, 5, 7, 8, 11], now=T0)
    assert await _gaps(engine) == []


async def test_a_site_first_seen_beyond_seq_1_shows_the_readings_it_never_delivered(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await record_arrivals(connection, "shop-b", 0, [500, 501], now=T0)
        await record_arrivals(connection, "shop-a", 0, [1], now=T0)
    assert await _gaps(engine, "shop-b") == [(1, 499)]
    async with engine.connect() as connection:
        assert [(gap.site, gap.first_seq) for gap in await open_gaps(connection)] == [("shop-b", 1)]


async def test_gaps_are_per_site(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await record_arrivals(connection, "shop-a", 0, [1, 3], now=T0)
        await record_arrivals(connection, "shop-b", 0, [1, 2, 4], now=T0)
        await record_arrivals(connection, "shop-b", 4, [2], now=T0)  # a re-send below shop-b's gap changes nothing
    assert await _gaps(engine, "shop-a") == [(2, 2)]
    assert await _gaps(engine, "shop-b") == [(3, 3)]
