"""Storage for central: one schema, SQLite or PostgreSQL by URL, migrations with Alembic."""
