"""Bad input (issue 7): every case is refused with a named BoLoopError subclass, and no stored row changes.

One parametrised test runs the whole matrix on SQLite and on PostgreSQL; hypothesis then checks
that any finite number told is stored exactly and anything else is refused.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import struct
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bo_loop as bl
from bo_loop.models.surrogates import SurrogateError
from bo_loop.rounds.files import RoundFileError
from bo_loop.storage import dispose, schema

POSTGRES_ENV = "BO_LOOP_TEST_POSTGRES_URL"
SPACE = [bl.Real("x", 0.0, 10.0), bl.Integer("n", 1, 5), bl.Categorical("c", ["A", "B"])]
TABLES = ["campaigns", "trials", "observations", "trial_events", "alembic_version"]


@dataclass
class Env:
    """What a case may use: the storage, a campaign with trials 0 (completed), 1 (failed), 2 (pending)."""

    url: str
    campaign: bl.Campaign
    tmp: Path

    def create(self, **kwargs: Any) -> bl.Campaign:
        kwargs.setdefault("name", f"new-{uuid.uuid4().hex[:6]}")
        kwargs.setdefault("parameters", SPACE)
        kwargs.setdefault("objective", "yield")
        return bl.Campaign.create(
            kwargs.pop("name"),
            kwargs.pop("parameters"),
            kwargs.pop("objective"),
            storage=self.url,
            **kwargs,
        )

    def rows(self, **columns: Any) -> pd.DataFrame:
        good = {"x": [1.0, 2.0], "n": [1, 2], "c": ["A", "B"], "yield": [0.5, 0.7]}
        return pd.DataFrame({**good, **columns})

    def sqlite_file(self, make: Callable[[str], None]) -> str:
        path = self.tmp / f"other-{uuid.uuid4().hex[:6]}.db"
        make(str(path))
        return f"sqlite:///{path}"


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[Env], object]
    error: type[bl.BoLoopError]
    match: str
    #: The case opens a database file of its own: run once, on the SQLite leg.
    own_file: bool = False


def _newer_schema(path: str) -> None:
    _old_schema(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()


def _old_schema(path: str) -> None:
    engine = sa.create_engine(f"sqlite:///{path}")
    schema.upgrade(engine, "0001")
    engine.dispose()


def _foreign(path: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.close()


def _garbage(path: str) -> None:
    Path(path).write_bytes(b"this is a spreadsheet, not a database\n" * 100)


# -- files a new user hands over (issue: technicians' bugs) ------------------------------------


def _tell_file(
    e: Env, name: str, text: str | None = None, cells: dict[str, Any] | None = None
) -> None:
    """Run `bo-loop tell` on a round file (CSV text, or an XLSX with ``cells`` set) for pending
    trial 2, calling the command's own code so that its BoLoopError comes out unconverted."""
    from openpyxl import Workbook

    from bo_loop.cli import cli
    from bo_loop.cli.rounds import tell

    path = e.tmp / name
    p = e.campaign.trial(2).params
    if text is not None:
        edited = p["x"] - 0.05 if p["x"] > 5 else p["x"] + 0.05  # 5/1000 of the range
        path.write_text(text.format(x=repr(p["x"]), x_edited=repr(edited), n=p["n"], c=p["c"]))
    else:
        wb = Workbook()
        ws = wb.active
        ws.append(["trial", "x", "n", "c", "yield", "note"])
        ws.append([2, p["x"], p["n"], p["c"], None, None])
        for ref, (value, number_format) in (cells or {}).items():
            ws[ref] = value
            ws[ref].number_format = number_format
        wb.save(path)
    with click.Context(cli, obj={"storage": e.url}) as ctx:
        ctx.invoke(tell, campaign=e.campaign.name, file=path, dry_run=False, storage=e.url)


def _rows_file(e: Env, text: str) -> bl.ImportReport:
    path = e.tmp / "runs.csv"
    path.write_text(text)
    return e.campaign.add_observations(path)


HEADER = "trial,x,n,c,yield,note\n"


REAL = bl.Real
INT = bl.Integer
CAT = bl.Categorical

CASES = [
    # -- create: the campaign's name, space and objective ----------------------------------------
    Case("create-empty-name", lambda e: e.create(name=""), bl.InvalidArgumentError, "campaign name must be a non-empty string .* but got ''"),
    Case("create-name-not-text", lambda e: e.create(name=42), bl.InvalidArgumentError, "non-empty string .* but got 42"),
    Case("create-name-too-long", lambda e: e.create(name="r" * 256), bl.InvalidArgumentError, "at most 255 characters, but got 'rrrr"),
    Case("create-existing-name", lambda e: e.create(name=e.campaign.name), bl.CampaignExistsError, r"already exists; open it with bl.Campaign.load"),
    Case("create-no-parameters", lambda e: e.create(parameters=[]), bl.SpaceError, "needs at least one parameter, but got none"),
    Case("create-duplicate-parameters", lambda e: e.create(parameters=[REAL("x", 0, 1), INT("x", 0, 3)]), bl.SpaceError, r"unique, but got duplicates \['x'\]"),
    Case("create-parameter-not-a-parameter", lambda e: e.create(parameters=[{"name": "x"}]), bl.SpaceError, r"must be bl.Real, bl.Integer or bl.Categorical, but got \{'name': 'x'\}"),
    Case("create-low-above-high", lambda e: e.create(parameters=[REAL("t", 5, 1)]), bl.SpaceError, "`low < high` must hold for 't', but got low=5, high=1"),
    Case("create-infinite-bound", lambda e: e.create(parameters=[REAL("t", 0, math.inf)]), bl.SpaceError, "must be finite, but got low=0, high=inf"),
    Case("create-huge-bound", lambda e: e.create(parameters=[REAL("t", 0, 10**400)]), bl.SpaceError, "must be finite, but got low=0, high=1000"),
    Case("create-log-from-zero", lambda e: e.create(parameters=[REAL("t", 0, 10, log=True)]), bl.SpaceError, "needs `low > 0`, but 't' has low=0"),
    Case("create-text-bound", lambda e: e.create(parameters=[REAL("t", "0", 1)]), bl.SpaceError, "must be numbers, but got low='0'"),
    Case("create-integer-fraction", lambda e: e.create(parameters=[INT("p", 1.5, 10)]), bl.SpaceError, "must be integers, but got low=1.5"),
    Case("create-one-choice", lambda e: e.create(parameters=[CAT("k", ["A"])]), bl.SpaceError, r"at least 2 choices, but 'k' has choices=\['A'\]"),
    Case("create-duplicate-choices", lambda e: e.create(parameters=[CAT("k", ["A", "B", "A"])]), bl.SpaceError, "unique, but got duplicates 'A'"),
    Case("create-choices-as-text", lambda e: e.create(parameters=[CAT("k", "AB")]), bl.SpaceError, "must be a list, but got choices='AB'"),
    Case("create-reserved-name", lambda e: e.create(parameters=[REAL("number", 0, 1)]), bl.SpaceError, "must not be one of .* but got name='number'"),
    Case("create-goal-misspelt", lambda e: e.create(objective=bl.Objective("y", goal="maximise")), bl.ObjectiveError, r"goal must be one of \['maximize', 'minimize'\], but got goal='maximise'"),
    Case("create-objective-is-parameter", lambda e: e.create(objective="x"), bl.ObjectiveError, "must differ from every parameter name, but got 'x'"),
    Case("create-objective-not-text", lambda e: e.create(objective=42), bl.ObjectiveError, "must be a bl.Objective or a name, but got 42"),
    Case("create-unknown-surrogate", lambda e: e.create(surrogate="forest"), SurrogateError, r"surrogate must be one of \['dngo', 'gp'\], but got 'forest'"),
    Case("create-unknown-setting", lambda e: e.create(surrogate_settings={"epochs": 5}), SurrogateError, r"Unknown setting\(s\) \['epochs'\] for surrogate 'gp'"),
    Case("create-negative-seed", lambda e: e.create(seed=-1), bl.InvalidArgumentError, "seed must be between 0 and 2147483647, but got seed=-1"),
    Case("create-seed-as-text", lambda e: e.create(seed="7"), bl.InvalidArgumentError, "seed must be an integer, but got '7'"),
    Case("create-design-size-zero", lambda e: e.create(initial_design_size=0), bl.InvalidArgumentError, "initial_design_size must be between 1 and 10000, but got initial_design_size=0"),
    # -- ask ----------------------------------------------------------------------------------
    Case("ask-zero", lambda e: e.campaign.ask(0), bl.InvalidArgumentError, "n must be between 1 and 1000, but got n=0"),
    Case("ask-negative", lambda e: e.campaign.ask(-3), bl.InvalidArgumentError, "n must be between 1 and 1000, but got n=-3"),
    Case("ask-absurd", lambda e: e.campaign.ask(10**9), bl.InvalidArgumentError, "n must be between 1 and 1000, but got n=1000000000"),
    Case("ask-float", lambda e: e.campaign.ask(2.0), bl.InvalidArgumentError, "n must be an integer, but got 2.0"),
    Case("ask-text", lambda e: e.campaign.ask("4"), bl.InvalidArgumentError, "n must be an integer, but got '4'"),
    Case("ask-bool", lambda e: e.campaign.ask(True), bl.InvalidArgumentError, "n must be an integer, but got True"),
    Case("ask-none", lambda e: e.campaign.ask(None), bl.InvalidArgumentError, "n must be an integer, but got None"),
    # -- tell -----------------------------------------------------------------------------------
    Case("tell-nan", lambda e: e.campaign.tell(2, math.nan), bl.ObservationError, "must be finite, but got nan"),
    Case("tell-inf", lambda e: e.campaign.tell(2, math.inf), bl.ObservationError, "must be finite, but got inf"),
    Case("tell-minus-inf", lambda e: e.campaign.tell(2, -math.inf), bl.ObservationError, "must be finite, but got -inf"),
    Case("tell-numpy-nan", lambda e: e.campaign.tell(2, np.float64("nan")), bl.ObservationError, "must be finite, but got .*nan"),
    Case("tell-huge-int", lambda e: e.campaign.tell(2, 10**400), bl.ObservationError, "must be finite, but got 1000"),
    Case("tell-none", lambda e: e.campaign.tell(2, None), bl.ObservationError, r"must be a real number, but got None \(NoneType\)"),
    Case("tell-text", lambda e: e.campaign.tell(2, "12.5"), bl.ObservationError, r"must be a real number, but got '12.5' \(str\)"),
    Case("tell-bool", lambda e: e.campaign.tell(2, True), bl.ObservationError, r"must be a real number, but got True \(bool\)"),
    Case("tell-complex", lambda e: e.campaign.tell(2, 1 + 2j), bl.ObservationError, r"must be a real number, but got \(1\+2j\) \(complex\)"),
    Case("tell-list", lambda e: e.campaign.tell(2, [1.0]), bl.ObservationError, r"must be a real number, but got \[1.0\] \(list\)"),
    Case("tell-unknown-outcome", lambda e: e.campaign.tell(2, {"purity": 1.0}), bl.ObservationError, r"exactly the objective 'yield', but got keys \['purity'\]"),
    Case("tell-extra-outcome", lambda e: e.campaign.tell(2, {"yield": 1.0, "purity": 2.0}), bl.ObservationError, r"but got keys \['yield', 'purity'\]"),
    Case("tell-dict-nan", lambda e: e.campaign.tell(2, {"yield": math.nan}), bl.ObservationError, "must be finite, but got nan"),
    Case("tell-completed-trial", lambda e: e.campaign.tell(0, 2.0), bl.TrialStateError, "Cannot tell a COMPLETED trial: only a PENDING trial can be told, and trial 0 is COMPLETED"),
    Case("tell-failed-trial", lambda e: e.campaign.tell(1, 2.0), bl.TrialStateError, "Cannot tell a FAILED trial"),
    Case("tell-unknown-trial", lambda e: e.campaign.tell(99, 2.0), bl.TrialNotFoundError, r"Cannot tell trial 99: no such trial \(trial numbers here: 0..2\)"),
    Case("tell-negative-number", lambda e: e.campaign.tell(-1, 2.0), bl.InvalidArgumentError, "trial number must be >= 0, but got trial number=-1"),
    Case("tell-number-as-text", lambda e: e.campaign.tell("2", 2.0), bl.InvalidArgumentError, "trial number must be an integer, but got '2'"),
    Case("fail-reason-not-text", lambda e: e.campaign.fail(2, reason=42), bl.InvalidArgumentError, "reason must be a string, but got 42"),
    Case("fail-completed-trial", lambda e: e.campaign.fail(0, reason="late"), bl.TrialStateError, "Cannot fail a COMPLETED trial"),
    # -- importing rows -------------------------------------------------------------------------
    Case("import-out-of-bounds", lambda e: e.campaign.add_observations(e.rows(x=[1.0, 11.0])), bl.ImportRowsError, r"row 1: 'x' must lie in \[0.0, 10.0\], but got 11.0"),
    Case("import-text-number", lambda e: e.campaign.add_observations(e.rows(x=["1.0", "abc"])), bl.ImportRowsError, "row 1: 'x' must be a number, but got 'abc'"),
    Case("import-integer-fraction", lambda e: e.campaign.add_observations(e.rows(n=[1, 2.5])), bl.ImportRowsError, "row 1: 'n' must be an integer, but got 2.5"),
    Case("import-unknown-category", lambda e: e.campaign.add_observations(e.rows(c=["A", "Z"])), bl.ImportRowsError, r"row 1: 'c' must be one of \['A', 'B'\], but got 'Z'"),
    Case("import-outcome-missing", lambda e: e.campaign.add_observations(e.rows(**{"yield": [0.5, None]})), bl.ImportRowsError, "row 1: the outcome 'yield' is missing"),
    Case("import-outcome-infinite", lambda e: e.campaign.add_observations(e.rows(**{"yield": [0.5, math.inf]})), bl.ImportRowsError, "row 1: the outcome 'yield': An outcome must be finite, but got inf"),
    Case("import-outcome-text", lambda e: e.campaign.add_observations(e.rows(**{"yield": [0.5, "high"]})), bl.ImportRowsError, "row 1: the outcome 'yield': An outcome must be a real number, but got 'high'"),
    Case("import-unknown-column", lambda e: e.campaign.add_observations(e.rows(extra=[1, 2])), bl.ImportRowsError, r"unknown column\(s\) \['extra'\]"),
    Case("import-missing-column", lambda e: e.campaign.add_observations(e.rows().drop(columns=["n"])), bl.ImportRowsError, r"missing column\(s\) \['n'\]"),
    Case("import-not-rows", lambda e: e.campaign.add_observations(42), bl.InvalidArgumentError, "Rows must be a DataFrame, a CSV path or a list of dicts, but got int"),
    Case("import-missing-csv", lambda e: e.campaign.add_observations(str(e.tmp / "nope.csv")), bl.InvalidArgumentError, "Cannot read rows from '.*nope.csv'"),
    Case("import-bad-on-error", lambda e: e.campaign.add_observations(e.rows(), on_error="ignore"), bl.InvalidArgumentError, "on_error must be 'raise' or 'skip', but got 'ignore'"),
    Case("import-huge-value", lambda e: e.campaign.add_observation({"x": 10**400, "n": 1, "c": "A"}, 1.0), bl.SpaceError, "'x' must be finite, but got 1000"),
    Case("import-missing-parameter", lambda e: e.campaign.add_observation({"x": 1.0, "n": 1}, 1.0), bl.SpaceError, r"Missing parameter\(s\) \['c'\]"),
    Case("import-unknown-parameter", lambda e: e.campaign.add_observation({"x": 1.0, "n": 1, "c": "A", "q": 2}, 1.0), bl.SpaceError, r"Unknown parameter\(s\) \['q'\]"),
    # -- load -----------------------------------------------------------------------------------
    Case("load-missing-campaign", lambda e: bl.Campaign.load("no-such-rig", storage=e.url), bl.CampaignNotFoundError, "No campaign named 'no-such-rig'; the campaigns stored here are: "),
    Case("load-unsupported-url", lambda e: bl.Campaign.load("rig", storage="mysql://nobody@localhost/db"), bl.StorageError, "must be a SQLite or PostgreSQL URL, but got backend 'mysql'", own_file=True),
    Case("load-malformed-url", lambda e: bl.Campaign.load("rig", storage="postgresql://nobody@host:notaport/db"), bl.StorageError, "must be a SQLAlchemy URL .* but got 'postgresql://nobody@host:notaport/db'", own_file=True),
    Case("load-url-not-text", lambda e: bl.Campaign.load("rig", storage=42), bl.StorageError, "storage must be a SQLAlchemy URL or a file path, but got 42", own_file=True),
    Case("load-empty-url", lambda e: bl.Campaign.load("rig", storage=" "), bl.StorageError, "storage must be a SQLAlchemy URL or a file path, but got ' '", own_file=True),
    Case("load-unreachable-server", lambda e: bl.Campaign.load("rig", storage="postgresql://nobody@127.0.0.1:9/db"), bl.StorageError, "Database error on postgresql\\+psycopg://nobody@127.0.0.1:9/db", own_file=True),
    Case("load-missing-folder", lambda e: bl.Campaign.load("rig", storage=str(e.tmp / "no" / "such" / "dir.db")), bl.StorageError, "No SQLite database at .*dir.db: the file does not exist", own_file=True),
    Case("load-not-a-database", lambda e: bl.Campaign.load("rig", storage=e.sqlite_file(_garbage)), bl.StorageError, "is not a SQLite database", own_file=True),
    Case("load-foreign-database", lambda e: bl.Campaign.load("rig", storage=e.sqlite_file(_foreign)), bl.SchemaVersionError, r"holds tables \['invoices'\] but no bo_loop schema revision", own_file=True),
    Case("load-older-schema", lambda e: bl.Campaign.load("rig", storage=e.sqlite_file(_old_schema)), bl.SchemaVersionError, "has schema revision 0001, but this bo_loop needs .* run `bo-loop db upgrade --storage sqlite:///", own_file=True),
    Case("load-newer-schema", lambda e: bl.Campaign.load("rig", storage=e.sqlite_file(_newer_schema)), bl.SchemaVersionError, "schema revision '9999', which this bo_loop does not know .* written by a newer bo_loop", own_file=True),
    # -- files and names a new user hands over (issue: technicians' bugs) ------------------------
    Case("tell-file-decimal-comma-splits-row", lambda e: _tell_file(e, "r.csv", HEADER + "2,{x},{n},{c},2,677,\n"), RoundFileError, r"r.csv, row 2 has 7 cells but the header \(row 1\) has 6"),
    Case("tell-file-other-campaign", lambda e: _tell_file(e, "r.csv", "trial,x,n,c,yield,note,campaign\n2,{x},{n},{c},1.5,,rig-A\n"), RoundFileError, r"r.csv was written for campaign 'rig-A' \(row 2\), but is being told to campaign 'tell-file-other-campaign'"),
    Case("tell-file-formula-without-value", lambda e: _tell_file(e, "r.xlsx", cells={"E2": ("=1+1", "General")}), RoundFileError, r"cell E2 \(row 2\) holds the formula '=1\+1' but no saved value"),
    Case("tell-file-percent-cell", lambda e: _tell_file(e, "r.xlsx", cells={"E2": (0.831, "0.0%")}), RoundFileError, r"cell E2 \(row 2\) is formatted as a percentage \(it shows 83.1%, holds 0.831\)"),
    Case("tell-file-underscore-number", lambda e: _tell_file(e, "r.csv", HEADER + "2,{x},{n},{c},1_000,\n"), RoundFileError, r"row 2 \(trial 2\): the result '1_000' is not a number"),
    Case("tell-file-edited-beyond-tolerance", lambda e: _tell_file(e, "r.csv", HEADER + "2,{x_edited},{n},{c},1.5,\n"), RoundFileError, r"'x' was edited: .* more than 0.01 \(1/1000 of its range 0.0..10.0\) away"),
    Case("import-file-underscore-number", lambda e: _rows_file(e, "x,n,c,yield\n1_000,1,A,2\n"), bl.ImportRowsError, r"row 2: 'x' must be a number, but got '1_000'"),
    Case("import-file-wide-row", lambda e: _rows_file(e, "x,n,c,yield\n1,1,A,2,5\n"), bl.InvalidArgumentError, r"Cannot read rows from .*runs.csv.*: runs.csv, row 2 has 5 cells but the header \(row 1\) has 4"),
    Case("create-name-trailing-space", lambda e: e.create(name="rig "), bl.InvalidArgumentError, r"campaign name must not start or end with a space or hold a control character \(newline, tab, NUL\), but got 'rig '"),
    Case("create-name-newline", lambda e: e.create(name="rig\n"), bl.InvalidArgumentError, r"campaign name must not start or end .* but got 'rig\\n'"),
    Case("create-name-nul", lambda e: e.create(name="r\x00ig"), bl.InvalidArgumentError, r"campaign name must not start or end .* but got 'r\\x00ig'"),
    Case("create-parameter-name-trailing-space", lambda e: e.create(parameters=[REAL("x ", 0, 1), REAL("x", 0, 1)]), bl.SpaceError, r"parameter name must not start or end .* but got name='x '"),
    Case("create-objective-name-tab", lambda e: e.create(objective="yield\t"), bl.ObjectiveError, r"objective name must not start or end .* but got name='yield\\t'"),
]  # fmt: skip

# -- issue 16 (items 4, 5, 7, 9): wide integers, missing files, undo gaps -------------------------
CASES += [
    Case("create-integer-beyond-2**53", lambda e: e.create(parameters=[INT("n", 0, 2**62)]), bl.SpaceError, r"must lie within ±2\*\*53 .* but got high=4611686018427387904"),
    Case("create-integer-rounds-to-one-float", lambda e: e.create(parameters=[INT("n", 2**62, 2**62 + 10)]), bl.SpaceError, r"must lie within ±2\*\*53 .* but got low=4611686018427387904"),
    Case("load-missing-file", lambda e: bl.Campaign.load("rig", storage=str(e.tmp / "campaings.db")), bl.StorageError, "No SQLite database at .*campaings.db: the file does not exist", own_file=True),
    Case("load-list-missing-file", lambda e: bl.Campaign.list(f"sqlite:///{e.tmp / 'campaings.db'}"), bl.StorageError, "No SQLite database at .*campaings.db: the file does not exist", own_file=True),
    Case("tell-completed-shows-stored-value", lambda e: e.campaign.tell(0, 2.0), bl.TrialStateError, r"trial 0 is COMPLETED with yield=1.5 \(told at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)"),
    Case("abandon-missing-trial", lambda e: e.campaign.abandon_pending("gone", numbers=[2, 99]), bl.TrialNotFoundError, r"Cannot abandon trial 99: no such trial \(trial numbers here: 0..2\)"),
    Case("reopen-completed-trial", lambda e: e.campaign.reopen(0, reason="oops"), bl.TrialStateError, "Cannot reopen a COMPLETED trial: only a FAILED or ABANDONED trial can be reopened"),
    Case("reopen-pending-trial", lambda e: e.campaign.reopen(2, reason="oops"), bl.TrialStateError, "Cannot reopen a PENDING trial"),
    Case("reopen-missing-trial", lambda e: e.campaign.reopen(99, reason="oops"), bl.TrialNotFoundError, r"Cannot reopen trial 99: no such trial"),
    Case("reopen-no-reason", lambda e: e.campaign.reopen(1, reason=" "), bl.InvalidArgumentError, "needs a reason: a non-empty string, but got reason=' '"),
    Case("correct-pending-trial", lambda e: e.campaign.correct(2, 3.0, reason="typo"), bl.TrialStateError, r"Cannot correct a PENDING trial.*Tell it instead"),
]  # fmt: skip


def _snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row, in a stable order."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        out = {
            table: [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1"))]
            for table in TABLES
        }
    engine.dispose()
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One database per backend for the whole matrix; each case makes its own campaign in it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'campaigns.db'}"
        yield url
        dispose(url)
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must test PostgreSQL, but {POSTGRES_ENV} is not set.")
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}")
    server = sa.make_url(base)
    name = f"bo_loop_bad_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        dispose(url)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_the_matrix_is_large_and_covers_every_entry_point():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.id.split("-")[0] for c in CASES} >= {"create", "ask", "tell", "import", "load"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused(database: str, case: Case, tmp_path: Path) -> None:
    if case.own_file and not database.startswith("sqlite"):
        pytest.skip("this case opens a storage of its own: it runs once, on the SQLite leg")
    campaign = bl.Campaign.create(case.id, SPACE, "yield", storage=database, seed=1)
    campaign.ask(3)
    campaign.tell(0, 1.5)
    campaign.fail(1, reason="jammed")
    env = Env(database, campaign, tmp_path)
    rows_before, files_before = _snapshot(database), _files(tmp_path)
    with pytest.raises(bl.BoLoopError) as info:
        case.call(env)
    error = info.value
    # Exactly the promised kind: a bare BoLoopError where a subclass is due would fail here.
    assert type(error) is case.error
    assert re.search(case.match, str(error)), f"{error!s} does not match {case.match!r}"
    assert _snapshot(database) == rows_before
    # A refused storage is left as it was: no file rewritten, no schema created in it.
    after = {name: data for name, data in _files(tmp_path).items() if name in files_before}
    assert after == files_before
    dispose()


# -- property-based: what tell accepts and stores ---------------------------------------------------


@pytest.fixture(scope="module")
def pending(database: str) -> Iterator[Callable[[], tuple[bl.Campaign, int]]]:
    """Hands out pending trials of one campaign (Sobol asks: no model fitting needed)."""
    campaign = bl.Campaign.create(
        "hypothesis", [bl.Real("x", 0.0, 1.0)], "y", storage=database, initial_design_size=10_000
    )
    queue: list[int] = []

    def next_trial() -> tuple[bl.Campaign, int]:
        if not queue:
            queue.extend(t.number for t in campaign.ask(50))
        return campaign, queue.pop(0)

    yield next_trial


FINITE = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**1023), max_value=2**1023),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(np.float32),
    st.sampled_from([5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1 + 0.2]),
)


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=FINITE, as_dict=st.booleans())
def test_any_finite_number_is_stored_exactly(pending, value, as_dict):
    campaign, number = pending()
    expected = float(value)
    campaign.tell(number, {"y": value} if as_dict else value)
    stored = bl.Campaign.load("hypothesis", storage=campaign.storage).trial(number).value
    assert type(stored) is float
    # Bit for bit; -0.0 is stored as 0.0 on every backend (SQLite cannot keep the sign of zero).
    assert _bits(stored) == _bits(expected + 0.0)


NOT_FINITE_OR_NOT_A_NUMBER = st.one_of(
    st.sampled_from(
        [math.nan, math.inf, -math.inf, np.float64("nan"), np.float32("inf"), 10**400, -(10**400)]
    ),
    st.none(),
    st.booleans(),
    st.text(max_size=8),
    st.complex_numbers(allow_nan=False, allow_infinity=False).filter(lambda z: z.imag != 0),
    st.lists(st.floats(), max_size=2),
    st.binary(max_size=4),
    st.dictionaries(
        st.text(max_size=4).filter(lambda k: k != "y"), st.floats(), min_size=1, max_size=2
    ),
    st.builds(lambda v: {"y": v}, st.sampled_from([math.nan, math.inf, "1.0", None])),
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=NOT_FINITE_OR_NOT_A_NUMBER)
def test_anything_else_is_refused_and_nothing_changes(pending, value):
    campaign, number = pending()
    with pytest.raises(bl.ObservationError):
        campaign.tell(number, value)
    trial = campaign.trial(number)
    assert trial.state is bl.TrialState.PENDING and trial.value is None
