from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from central.store.db import migrate, open_database
from central.store.schema import metadata


async def test_migrations_create_every_table_of_the_schema(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert set(metadata.tables) <= names
    assert "alembic_version" in names


async def test_migrating_twice_is_harmless(database_url: str) -> None:
    engine = await open_database(database_url)
    try:
        await migrate(engine)
        async with engine.connect() as connection:
            columns = await connection.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("readings")})
        assert {"site", "seq", "kind", "data"} <= columns
    finally:
        await engine.dispose()
