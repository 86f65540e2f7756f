"""Alembic environment: always run by bo_loop with an open connection (see storage/schema.py)."""

from __future__ import annotations

from alembic import context

from bo_loop.storage.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things: batch mode rebuilds tables so migrations work there too.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
