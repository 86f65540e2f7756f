"""Schema revisions with alembic: create a new database, check an existing one, upgrade it."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

from bo_loop.exceptions import SchemaVersionError

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The schema revision this version of bo_loop reads and writes."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    return {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Upgrade the database to the head revision, creating the tables when it is empty.

    Returns:
        The revision before and after.
    """
    with engine.begin() as connection:
        before = current_revision(connection)
        command.upgrade(_config(connection), "head")
    return before, head_revision()


def check(engine: Engine, url_for_messages: str) -> None:
    """Create the schema in an empty database; refuse one written at another revision.

    Raises:
        SchemaVersionError: the database holds an older or newer schema, or is not bo_loop's.
    """
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        revision = current_revision(connection) if "alembic_version" in tables else None
    head = head_revision()
    if revision == head:
        return
    if revision is None:
        if tables - {"alembic_version"}:
            raise SchemaVersionError(
                f"The database at {url_for_messages} holds tables {sorted(tables)} but no bo_loop "
                "schema revision: it is not a bo_loop database. Use another storage URL."
            )
        upgrade(engine)
        return
    if revision in known_revisions():
        raise SchemaVersionError(
            f"The database at {url_for_messages} has schema revision {revision}, but this bo_loop "
            f"needs {head}. Back the database up, then run "
            f"`bo-loop db upgrade --storage {url_for_messages}`."
        )
    raise SchemaVersionError(
        f"The database at {url_for_messages} has schema revision {revision!r}, which this bo_loop "
        f"does not know (it knows up to {head}): it was written by a newer bo_loop. Upgrade bo_loop."
    )
