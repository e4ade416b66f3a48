"""Alembic environment: migrations run on the connection central hands over (see central.store.db.migrate)."""

from __future__ import annotations

from alembic import context

from central.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("central migrations run through central.store.db.migrate(), which supplies a connection")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
