"""Alembic environment: runs on the connection handed over by turbodraft.ledger.migrate (never from a URL)."""

from __future__ import annotations

from alembic import context

from turbodraft.ledger.migrate import VERSION_TABLE
from turbodraft.ledger.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run ledger migrations through turbodraft.ledger.migrate.upgrade_schema(engine)")

# Batch mode lets later migrations alter columns on SQLite, which has almost no ALTER TABLE.
context.configure(
    connection=connection, target_metadata=metadata, version_table=VERSION_TABLE, render_as_batch=True
)
with context.begin_transaction():
    context.run_migrations()
