"""``bo-loop`` on thousands of rows: compact ``add`` and ``status`` output, and a progress
indicator only for a person at a terminal (never under --quiet or in a pipe)."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import bo_loop as bl
from bo_loop.cli import cli, common, progress
from bo_loop.cli.compact import PENDING_LISTED, SPARK_WIDTH, pending_line, sampled

ROWS = 3000
SPACE: list[bl.Real | bl.Integer] = [bl.Real("x", 0.0, 10.0), bl.Integer("k", 0, 4)]


def invoke(*args: object):
    return CliRunner(env={"COLUMNS": "200"}).invoke(
        cli, [str(a) for a in args], catch_exceptions=False
    )


@pytest.fixture
def measurements(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.uniform(0, 10, ROWS), "k": rng.integers(0, 5, ROWS)})
    frame["y"] = -((frame.x - 6.0) ** 2) + frame.k + rng.normal(0, 0.1, ROWS)
    path = tmp_path / "history.csv"
    frame.to_csv(path, index=False)
    return frame, path


def test_add_and_status_stay_short_on_3000_rows(sqlite_url, measurements):
    frame, path = measurements
    bl.Campaign.create("plant", SPACE, "y", storage=sqlite_url)
    added = invoke("add", "plant", path, "--storage", sqlite_url)
    assert added.exit_code == 0, added.stderr
    lines = added.stdout.splitlines()
    assert len(lines) <= 15, added.stdout
    best = int(frame.y.idxmax())
    assert f"{ROWS} rows as trials 0..{ROWS - 1}" in added.stdout
    assert f"best {frame.y.max():.6g} at trial {best}" in added.stdout
    assert f"Last 5 of {ROWS} rows added" in added.stdout and str(ROWS - 1) in added.stdout
    assert f"Recorded {ROWS} run(s) as completed trials." in added.stdout

    status = invoke("status", "plant", "--storage", sqlite_url)
    assert status.exit_code == 0, status.stderr
    lines = status.stdout.splitlines()
    assert len(lines) <= 25, status.stdout
    assert max(len(line) for line in lines) <= 200
    spark = next(s for s in lines if s.startswith("Best so far, per result"))
    assert len(spark.split(": ")[1].split()[0]) == SPARK_WIDTH


def test_add_lists_every_row_of_a_small_file(sqlite_url, measurements, tmp_path):
    frame, _ = measurements
    path = tmp_path / "few.csv"
    frame.head(3).to_csv(path, index=False)
    bl.Campaign.create("plant", SPACE, "y", storage=sqlite_url)
    added = invoke("add", "plant", path, "--storage", sqlite_url)
    assert added.exit_code == 0, added.stderr
    assert "Added from few.csv" in added.stdout and "Last 5" not in added.stdout
    assert sum(line.startswith("│ 2 ") for line in added.stdout.splitlines()) == 1


def test_sparkline_and_pending_list_are_capped():
    values = [float(v) for v in range(1000)]
    kept = sampled(values)
    assert len(kept) == SPARK_WIDTH and kept[0] == 0.0 and kept[-1] == 999.0
    assert sampled(values[:10]) == values[:10]
    line = pending_line(list(range(500)))
    assert line.endswith(f"(and {500 - PENDING_LISTED} more)")
    assert line.count(",") == PENDING_LISTED - 1
    assert pending_line([3, 4]) == "Pending trials: 3, 4"


def test_progress_shows_only_at_a_terminal_and_never_with_quiet(
    sqlite_url, measurements, tmp_path, monkeypatch
):
    frame, _ = measurements
    path = tmp_path / "some.csv"
    frame.head(30).to_csv(path, index=False)
    shown: list[str] = []

    @contextmanager
    def status(message: str):
        shown.append(message)
        yield

    monkeypatch.setattr(progress.err, "status", status)
    bl.Campaign.create("plant", SPACE, "y", storage=sqlite_url)
    # Under the test runner stdout is not a terminal: as in a script, nothing is shown.
    assert invoke("add", "plant", path, "--storage", sqlite_url).exit_code == 0
    assert shown == []
    monkeypatch.setattr(common.out, "_force_terminal", True)
    assert invoke("--quiet", "add", "plant", path, "--storage", sqlite_url).exit_code == 0
    assert shown == []
    assert invoke("add", "plant", path, "--storage", sqlite_url).exit_code == 0
    assert shown == ["Checking and storing 30 row(s) from some.csv..."]
    assert invoke("recommend", "plant", "--storage", sqlite_url).exit_code == 0
    assert shown[-1] == "Fitting the surrogate(s)..."
