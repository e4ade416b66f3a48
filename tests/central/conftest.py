"""Central's tests run on both stores: a SQLite file and a fresh PostgreSQL database on the local server.

PostgreSQL is not optional: where it cannot be reached these tests fail rather than skip (set SHAOBING_TEST_PG to
point at another server, e.g. postgresql://user@host:5432/test).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from central.store.db import open_database

PG_ADMIN_URL = os.environ.get("SHAOBING_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def _create_pg_database() -> str:
    name = f"shaobing_t_{uuid.uuid4().hex[:12]}"
    admin = make_url(PG_ADMIN_URL)
    connection = await asyncpg.connect(admin.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return admin.set(database=name).render_as_string(hide_password=False)


async def _drop_pg_database(url: str) -> None:
    name = make_url(url).database
    admin = make_url(PG_ADMIN_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL of an empty database of each kind (not yet migrated)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'central.db'}"
        return
    url = await _create_pg_database()
    try:
        yield url
    finally:
        await _drop_pg_database(url)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated database of each kind."""
    engine = await open_database(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()
