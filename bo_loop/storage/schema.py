"""Schema revisions with alembic: create a new database, check an existing one, upgrade it."""

from __future__ import annotations

import shlex
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, make_url
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


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Upgrade the database to ``revision`` (default: the head), creating the tables when empty.

    Returns:
        The revision before and after.
    """
    with engine.begin() as connection:
        before = current_revision(connection)
        command.upgrade(_config(connection), revision)
        after = current_revision(connection)
    assert after is not None
    return before, after


def upgrade_command(url: str) -> str:
    """The ``bo-loop db upgrade`` command for ``url``, ready to paste, without revealing a password.

    A URL with a password gets a placeholder the user must replace: a masked ``***`` pasted as it
    is would try the password "***".
    """
    parsed = make_url(url)
    if parsed.password is None:
        return f"`bo-loop db upgrade --storage {shlex.quote(parsed.render_as_string())}`"
    shown = parsed.set(password="PASSWORD").render_as_string(hide_password=False)
    return (
        f"`bo-loop db upgrade --storage {shlex.quote(shown)}` with the database's password in "
        "place of PASSWORD"
    )


def check(engine: Engine, url_for_messages: str) -> bool:
    """Check the schema revision without writing anything.

    Returns:
        True when the database is empty and needs :func:`create`; False when it is at the head.

    Raises:
        SchemaVersionError: the database holds an older or newer schema, or is not bo_loop's.
    """
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        revision = current_revision(connection) if "alembic_version" in tables else None
    head = head_revision()
    if revision == head:
        return False
    if revision is None:
        if tables - {"alembic_version"}:
            raise SchemaVersionError(
                f"The database at {url_for_messages} holds tables {sorted(tables)} but no bo_loop "
                "schema revision: it is not a bo_loop database. Use another storage URL."
            )
        return True
    if revision in known_revisions():
        raise SchemaVersionError(
            f"The database at {url_for_messages} has schema revision {revision}, but this bo_loop "
            f"needs {head}. Back the database up, then run "
            f"{upgrade_command(engine.url.render_as_string(hide_password=False))}."
        )
    raise SchemaVersionError(
        f"The database at {url_for_messages} has schema revision {revision!r}, which this bo_loop "
        f"does not know (it knows up to {head}): it was written by a newer bo_loop. Upgrade bo_loop."
    )


def create(engine: Engine, url_for_messages: str) -> None:
    """Create the schema in an empty database; a no-op if another process just did.

    ``engine`` must take the write lock when it begins (SQLite: ``BEGIN IMMEDIATE``) so that two
    processes creating the same new database serialise here and the second finds it done.
    """
    with engine.begin() as connection:
        tables = set(inspect(connection).get_table_names())
        if tables - {"alembic_version"}:
            needs_create = False
        else:
            needs_create = True
            command.upgrade(_config(connection), "head")
    if not needs_create:
        # Someone else created it between our check and our lock: verify what they made.
        check(engine, url_for_messages)
