"""Schema revisions: every revision's database file upgrades to the head with its data intact.

``data/<revision>.db`` was written by the bo_loop of that revision (see ``make_data.py``), and
``data/<revision>.json`` records what its campaigns held then. Each test works on a copy.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import bo_loop as bl
from bo_loop.storage import Database, dispose, schema
from bo_loop.storage.tables import Base

DATA = Path(__file__).parent / "data"
REVISIONS = sorted(p.stem for p in DATA.glob("*.db"))
OLD_REVISIONS = [r for r in REVISIONS if r != schema.head_revision()]


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str]:
    db = Database(url, check_schema=False)
    try:
        return db.upgrade(revision)
    finally:
        db.engine.dispose()


def expected(revision: str) -> dict:
    return json.loads((DATA / f"{revision}.json").read_text())


def snapshot(campaign: bl.Campaign) -> list[dict]:
    """The same fields as make_data.snapshot, from the campaign as this bo_loop reads it."""
    return [
        {
            "number": t.number,
            "state": t.state.value,
            "params": t.params,
            "value": t.value,
            "source": t.source,
            "reason": t.reason,
            "provenance": t.provenance,
            "created_at": t.created_at.isoformat() if t.created_at else None,
            "finished_at": t.finished_at.isoformat() if t.finished_at else None,
            "values": t.values,
        }
        for t in campaign.trials()
    ]


def same_trials(campaign: bl.Campaign, stored: list[dict]) -> bool:
    """The campaign holds the stored trials (on the fields that revision's snapshot recorded)."""
    now = snapshot(campaign)
    return len(now) == len(stored) and all(
        {k: a[k] for k in b} == b for a, b in zip(now, stored, strict=True)
    )


def history_records(campaign: bl.Campaign) -> list[dict]:
    rows = []
    for row in campaign.history().to_dict("records"):
        out = {}
        for key, value in row.items():
            if hasattr(value, "isoformat"):
                value = value.isoformat()
            elif isinstance(value, float) and value != value:
                value = None
            out[key] = value
        rows.append(out)
    return rows


@pytest.fixture
def copy_of(tmp_path):
    made = []

    def copy(revision: str) -> str:
        target = tmp_path / f"{revision}.db"
        shutil.copyfile(DATA / f"{revision}.db", target)
        url = f"sqlite:///{target}"
        made.append(url)
        return url

    yield copy
    for url in made:
        dispose(url)


def test_every_revision_has_a_database_file():
    # A new migration without its data file would leave the next upgrade path untested.
    assert set(REVISIONS) == schema.known_revisions(), (
        "Write tests/migrations/data/<revision>.db with tests/migrations/make_data.py"
    )


@pytest.mark.parametrize("revision", OLD_REVISIONS)
def test_old_schema_is_refused_until_upgraded(copy_of, revision):
    url = copy_of(revision)
    path = Path(url.removeprefix("sqlite:///"))
    before = path.read_bytes()
    with pytest.raises(bl.SchemaVersionError) as info:
        bl.Campaign.load("rig-yield", storage=url)
    message = str(info.value)
    assert f"schema revision {revision}" in message
    assert f"needs {schema.head_revision()}" in message
    assert f"`bo-loop db upgrade --storage {url}`" in message
    # Refusing must not touch the file: the user backs it up before upgrading.
    assert path.read_bytes() == before


@pytest.mark.parametrize("revision", REVISIONS)
def test_upgrade_keeps_every_trial_and_value(copy_of, revision):
    url = copy_of(revision)
    before, after = upgrade(url)
    assert (before, after) == (revision, schema.head_revision())
    for name, stored in expected(revision).items():
        campaign = bl.Campaign.load(name, storage=url)
        assert same_trials(campaign, stored["trials"])
        assert campaign.verify() == []
        if stored["history"] is not None:
            # Revision 0003 added the column "outcome": older records lack it.
            now = history_records(campaign)[: len(stored["history"])]
            assert [
                {k: a[k] for k in b} for a, b in zip(now, stored["history"], strict=True)
            ] == stored["history"]


def test_upgrade_from_0001_back_fills_the_history(copy_of):
    url = copy_of("0001")
    upgrade(url)
    for name, stored in expected("0001").items():
        campaign = bl.Campaign.load(name, storage=url)
        history = campaign.history()
        for trial in stored["trials"]:
            events = history[history["number"] == trial["number"]]
            first = events.iloc[0]
            assert first["action"] == ("add" if trial["source"] == "manual" else "ask")
            assert first["at"].isoformat() == trial["created_at"]
            if trial["state"] != "pending" and trial["source"] != "manual":
                last = events.iloc[-1]
                assert (
                    last["action"]
                    == {"completed": "tell", "failed": "fail", "abandoned": "abandon"}[
                        trial["state"]
                    ]
                )
                assert last["new_state"] == trial["state"]
                assert last["at"].isoformat() == trial["finished_at"]
                assert last["reason"] == trial["reason"] or (
                    last["reason"] != last["reason"] and trial["reason"] is None
                )
            value = events.iloc[-1]["new_value"]
            if trial["value"] is not None:
                assert value == trial["value"]
            assert len(events) == (
                1 if trial["state"] == "pending" or trial["source"] == "manual" else 2
            )


@pytest.mark.parametrize("revision", REVISIONS)
def test_upgraded_campaign_continues(copy_of, revision):
    url = copy_of(revision)
    upgrade(url)
    campaign = bl.Campaign.load("rig-yield", storage=url)
    count = len(campaign.trials())
    (pending,) = campaign.trials("pending")
    campaign.tell(pending.number, 3.5)
    (trial,) = campaign.ask(1)
    assert trial.number == count
    campaign.tell(trial.number, 1.0)
    campaign.correct(trial.number, 2.0, reason="recalibrated")
    assert campaign.trial(trial.number).value == 2.0
    assert campaign.verify() == []


@pytest.mark.parametrize("revision", REVISIONS)
def test_upgraded_schema_equals_a_fresh_one(copy_of, revision):
    # Catches a model changed without a migration, or a migration that differs from the models.
    url = copy_of(revision)
    upgrade(url)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_newer_schema_is_refused(copy_of):
    url = copy_of(schema.head_revision())
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    with pytest.raises(bl.SchemaVersionError, match=r"revision '9999'.*written by a newer bo_loop"):
        bl.Campaign.load("rig-yield", storage=url)
    with pytest.raises(bl.SchemaVersionError, match="newer bo_loop"):
        bl.Campaign.create("other", [bl.Real("x", 0, 1)], storage=url)


def _copy_rows(source_url: str, target_url: str, tables: list[str]) -> None:
    """Copy every row of ``tables`` as stored, ids included, then move the id sequences on."""
    source, target = sa.create_engine(source_url), sa.create_engine(target_url)
    meta = sa.MetaData()
    meta.reflect(source, only=tables)
    with source.connect() as src, target.begin() as dst:
        for table in tables:
            rows = [dict(r._mapping) for r in src.execute(meta.tables[table].select())]
            target_table = sa.Table(table, sa.MetaData(), autoload_with=dst)
            if rows:
                dst.execute(target_table.insert(), rows)
            dst.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            )
    source.dispose()
    target.dispose()


@pytest.mark.parametrize("revision", REVISIONS)
def test_upgrade_on_postgresql(copy_of, revision, storage_url):
    """The same data, loaded into a PostgreSQL database at that revision, upgrades there too."""
    if not storage_url.startswith("postgresql"):
        pytest.skip("the SQLite path is covered by the tests above")
    upgrade(storage_url, revision)
    tables = ["campaigns", "trials", "observations"] + (
        ["trial_events"] if revision >= "0002" else []
    )
    _copy_rows(copy_of(revision), storage_url, tables)
    assert upgrade(storage_url) == (revision, schema.head_revision())
    for name, stored in expected(revision).items():
        campaign = bl.Campaign.load(name, storage=storage_url)
        assert same_trials(campaign, stored["trials"])
        assert campaign.verify() == []
    campaign = bl.Campaign.load("rig-yield", storage=storage_url)
    (trial,) = campaign.ask(1)
    campaign.tell(trial.number, 1.0)
    assert campaign.verify() == []
