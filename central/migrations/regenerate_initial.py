"""Regenerate the initial migration from central/store/schema.py (only while no database in the field uses it).

Run: .venv/bin/python central/migrations/regenerate_initial.py
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from central.store.db import MIGRATIONS, create_engine

INITIAL = MIGRATIONS / "versions" / "0001_initial_schema.py"


def _generate(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.revision(config, message="initial schema", autogenerate=True, rev_id="0001")


async def main() -> None:
    INITIAL.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{scratch}/empty.db")
        async with engine.begin() as connection:
            await connection.run_sync(_generate)
        await engine.dispose()
    op_import = "from alembic import op\n"
    text = INITIAL.read_text().replace(op_import, op_import + "from sqlalchemy import Text\n")
    INITIAL.write_text(text)


def tidy() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    subprocess.run([str(ruff), "format", "-q", str(INITIAL)], check=True)
    subprocess.run([str(ruff), "check", "--fix", "--unsafe-fixes", "-q", str(INITIAL)], check=False)


if __name__ == "__main__":
    asyncio.run(main())
    tidy()
