"""Shared test fixtures: a fresh database per test, on SQLite and on PostgreSQL.

PostgreSQL runs when BO_LOOP_TEST_POSTGRES_URL names a server's database (``.ci/run`` starts one);
without it those tests are skipped with a visible reason, except under CI, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from bo_loop.cli import common
from bo_loop.storage import dispose

POSTGRES_ENV = "BO_LOOP_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def _postgres_base() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must test PostgreSQL, but {POSTGRES_ENV} is not set (see .ci/run).")
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV} (run: export {POSTGRES_ENV}=$(.ci/start-postgres))"
        )
    return url


def fresh_postgres_database() -> tuple[str, sa.Engine, str]:
    base = sa.make_url(_postgres_base())
    name = f"bo_loop_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return base.set(database=name).render_as_string(hide_password=False), admin, name


@pytest.fixture(params=BACKENDS)
def storage_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """The URL of an empty database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'campaigns.db'}"
        yield url
        dispose(url)
        return
    url, admin, name = fresh_postgres_database()
    try:
        yield url
    finally:
        dispose(url)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'campaigns.db'}"
    yield url
    dispose(url)


@pytest.fixture
def stored_campaigns() -> Callable[[str], list[str]]:
    """The campaigns at a SQLite URL; none when a refused create left no file at all."""

    def names(url: str) -> list[str]:
        import bo_loop as bl

        path = sa.make_url(url).database
        return bl.Campaign.list(url) if path and os.path.exists(path) else []

    return names


@pytest.fixture(autouse=True)
def wide_consoles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test reads the CLI's rich output at a fixed width of 200 columns.

    The tests pass ``COLUMNS=200`` to Click's runner, but under pytest-xdist some workers were seen
    to wrap at 80 columns anyway (the width rich derives when stdout is not a terminal), which
    split the lines the asserts look for. Pinning the consoles' width keeps the assertions about
    content.
    """
    monkeypatch.setattr(common.out, "_width", 200)
    monkeypatch.setattr(common.err, "_width", 200)
