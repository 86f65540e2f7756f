"""Database: bounded, logged retries on a held SQLite lock; PostgreSQL sessions with keepalives."""

from __future__ import annotations

import logging
import sqlite3

import pytest

import bo_loop as bl
from bo_loop.storage import database


def test_a_held_sqlite_lock_is_retried_then_reported(sqlite_url, monkeypatch, caplog):
    campaign = bl.Campaign.create("rig", [bl.Real("x", 0.0, 1.0)], "y", storage=sqlite_url)
    monkeypatch.setattr(database, "SQLITE_LOCK_WAIT_S", 0.05)
    monkeypatch.setattr(database, "MAX_ATTEMPTS", 3)
    other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock and never lets go
    try:
        locked = r"database is locked \(gave up after 3 attempts in \d+ s"
        with (
            caplog.at_level(logging.INFO, logger=database.__name__),
            pytest.raises(bl.StorageError, match=locked),
        ):
            campaign.ask(1)
    finally:
        other.execute("ROLLBACK")
        other.close()
    retries = [r for r in caplog.records if "Transient conflict" in r.getMessage()]
    assert [r.getMessage().split("(attempt ")[1][:6] for r in retries] == ["1 of 3", "2 of 3"]
    assert campaign.trials() == []
    assert [t.number for t in campaign.ask(1)] == [0]  # released: the next ask goes through


def test_postgresql_sessions_detect_a_dead_client_within_a_minute(storage_url):
    if not storage_url.startswith("postgresql"):
        pytest.skip("server-side keepalives are a PostgreSQL setting")
    db = database.Database(storage_url)
    with db.engine.connect() as conn:
        shown = {name: conn.exec_driver_sql(f"SHOW {name}").scalar() for name in database.KEEPALIVE}
    assert shown == {
        "tcp_keepalives_idle": "30",
        "tcp_keepalives_interval": "10",
        "tcp_keepalives_count": "3",
    }


@pytest.mark.parametrize(
    "read",
    [
        lambda url: bl.Campaign.load("rig", storage=url),
        lambda url: bl.Campaign.list(url),
        lambda url: bl.Campaign.delete("rig", storage=url),
    ],
    ids=["load", "list", "delete"],
)
@pytest.mark.parametrize("as_url", [True, False], ids=["url", "path"])
def test_a_missing_sqlite_file_is_reported_and_not_created(tmp_path, read, as_url):
    path = tmp_path / "campaings.db"  # misspelt
    with pytest.raises(bl.StorageError, match=rf"No SQLite database at {path}: the file does not"):
        read(f"sqlite:///{path}" if as_url else str(path))
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_still_loads_and_create_still_makes_a_new_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'campaigns.db'}"
    bl.Campaign.create("rig", [bl.Real("x", 0.0, 1.0)], "y", storage=url)
    database.dispose()
    assert bl.Campaign.list(url) == ["rig"]
    assert bl.Campaign.load("rig", storage=url).name == "rig"
