"""Round files of a campaign with several outcomes: a result column each, partial rows, the
all-or-none rules, through ``bo-loop ask`` / ``bo-loop tell`` in-process.

A refused file must leave the campaign exactly as it was, and a partial row must record what it
has, keep the trial pending, and never lose a value.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result
from openpyxl import load_workbook

import bo_loop as bl
from bo_loop.cli import cli

OUTCOMES = ["yield", "cost", "purity"]


def invoke(*args: str | Path) -> Result:
    runner = CliRunner(env={"COLUMNS": "200"})
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def make(storage: str) -> bl.Campaign:
    return bl.Campaign.create(
        "rig",
        [bl.Real("temperature", 20.0, 120.0), bl.Categorical("catalyst", ["A", "B"])],
        objectives=[
            bl.Objective("yield", goal="maximize", bounds=(0, 100)),
            bl.Objective("cost", goal="minimize"),
        ],
        outcome_constraints=[bl.OutcomeConstraint("purity", ">=", 95.0)],
        storage=storage,
    )


def snapshot(campaign: bl.Campaign) -> pd.DataFrame:
    return campaign.to_dataframe().drop(columns=["created_at", "finished_at"])


@pytest.fixture
def rig(sqlite_url, tmp_path) -> tuple[bl.Campaign, pd.DataFrame, Path]:
    """A campaign with 3 pending trials and the round file `ask` wrote for them."""
    campaign = make(sqlite_url)
    path = tmp_path / "round-01.csv"
    result = invoke("ask", "rig", "-n", 3, "-o", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(path, dtype={n: object for n in [*OUTCOMES, "note"]})
    return campaign, frame, path


def tell(storage: str, frame: pd.DataFrame, path: Path, campaign: str = "rig") -> Result:
    frame.to_csv(path, index=False)
    return invoke("tell", campaign, path, "--storage", storage)


def test_ask_writes_a_result_column_per_outcome(rig):
    _campaign, frame, _path = rig
    assert list(frame.columns) == ["trial", "temperature", "catalyst", *OUTCOMES, "note",
                                   "campaign"]  # fmt: skip
    assert frame[OUTCOMES].isna().all().all()


def test_partial_row_records_its_values_and_keeps_the_trial_pending(rig, sqlite_url):
    campaign, frame, path = rig
    frame.loc[0, OUTCOMES] = ["81.2", "3.1", "96.4"]  # complete
    frame.loc[1, "yield"] = "77.0"  # purity analysed tomorrow
    result = tell(sqlite_url, frame, path)
    assert result.exit_code == 0, result.output
    assert (
        "Recorded: told 1, partly told 1 (still pending), failed 0, left pending 1."
        in result.stdout
    )
    t0, t1, t2 = campaign.trials()
    assert t0.state is bl.TrialState.COMPLETED
    assert t0.values == {"yield": 81.2, "cost": 3.1, "purity": 96.4}
    assert t1.state is bl.TrialState.PENDING and t1.values == {"yield": 77.0}
    assert set(t1.missing) == {"cost", "purity"}
    assert t2.state is bl.TrialState.PENDING and t2.values == {}

    # Tomorrow: the same file, with the rest of trial 1 filled in (its yield still there).
    frame.loc[1, ["cost", "purity"]] = ["2.9", "94.0"]
    result = tell(sqlite_url, frame, path)
    assert result.exit_code == 0, result.output
    assert "Recorded: told 1, failed 0, left pending 1, unchanged 1." in result.stdout
    t1 = campaign.trial(1)
    assert t1.state is bl.TrialState.COMPLETED
    assert t1.values == {"yield": 77.0, "cost": 2.9, "purity": 94.0}  # no value lost


def test_pending_writes_the_values_told_so_far(rig, sqlite_url, tmp_path):
    campaign, _frame, _path = rig
    campaign.tell(1, {"yield": 77.0})
    again = tmp_path / "again.csv"
    shown = invoke("pending", "rig", "-o", again, "--storage", sqlite_url)
    assert shown.exit_code == 0
    # the listing shows what trial 1 holds and what it waits for
    assert re.search(r"│ 77\s+│\s+│\s+│ pending \(waits for cost, purity\)", shown.stdout), (
        shown.stdout
    )
    frame = pd.read_csv(again)
    assert frame["trial"].tolist() == [0, 1, 2]
    assert frame.loc[1, "yield"] == 77.0 and frame[["cost", "purity"]].isna().all().all()
    # Told back as written, filled in: the repeated yield is recognised, the rest recorded.
    frame.loc[1, ["cost", "purity"]] = [2.9, 96.0]
    result = tell(sqlite_url, frame, again)
    assert result.exit_code == 0, result.output
    assert campaign.trial(1).values == {"yield": 77.0, "cost": 2.9, "purity": 96.0}


def test_failed_beside_the_told_values_of_a_pending_file_fails_the_trial(rig, sqlite_url,
                                                                         tmp_path):  # fmt: skip
    campaign, _frame, _path = rig
    campaign.tell(1, {"yield": 60.0})
    campaign.tell(2, {"yield": 70.0})
    again = tmp_path / "again.csv"
    assert invoke("pending", "rig", "-o", again, "--storage", sqlite_url).exit_code == 0
    frame = pd.read_csv(again, dtype=object)
    assert frame.loc[1, "yield"] == "60.0"  # written there by bo_loop
    # A told value written differently beside 'failed' is still refused, naming the told one.
    frame.loc[1, ["cost", "note"]] = ["failed", "reactor leaked"]
    frame.loc[2, ["yield", "cost"]] = ["71.0", "failed"]
    before = snapshot(campaign)
    result = tell(sqlite_url, frame, again)
    assert result.exit_code == 1
    assert "row 4 (trial 2): a row holds either results or one word for a run given up" in (
        result.stderr
    )
    assert "(only the values already told, yield = 70.0, may stay beside it)" in result.stderr
    assert "row 3 (trial 1)" not in result.stderr
    pd.testing.assert_frame_equal(snapshot(campaign), before)
    # As bo_loop wrote it: the trial fails and keeps its told value; told twice, unchanged.
    frame.loc[2, "yield"] = "70.0"
    result = tell(sqlite_url, frame, again)
    assert result.exit_code == 0, result.output
    assert "Recorded: told 0, failed 2, left pending 1." in result.stdout
    failed = campaign.trial(1)
    assert (failed.state, failed.values, failed.reason) == (
        bl.TrialState.FAILED, {"yield": 60.0}, "reactor leaked",
    )  # fmt: skip
    assert campaign.trial(2).values == {"yield": 70.0}
    result = tell(sqlite_url, frame, again)
    assert result.exit_code == 0 and "unchanged 2" in result.stdout
    assert campaign.verify() == []


def test_a_value_outside_its_bounds_refuses_the_whole_round(rig, sqlite_url):
    campaign, frame, path = rig
    frame.loc[0, OUTCOMES] = ["81.2", "3.1", "96.4"]
    frame.loc[1, OUTCOMES] = ["120", "2.0", "97"]  # yield is a percentage: [0, 100]
    before = snapshot(campaign)
    result = tell(sqlite_url, frame, path)
    assert result.exit_code == 1
    assert "Nothing was recorded: 1 of 3 row(s)" in result.stderr
    assert "row 3 (trial 1): yield '120' is refused" in result.stderr
    assert "bounds [0.0, 100.0]" in result.stderr and "120" in result.stderr
    pd.testing.assert_frame_equal(snapshot(campaign), before)


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (["80", "abc", ""], r"cost 'abc' is not a number"),
        (["80", "", "failed"], r"a row holds either results or one word for a run given up"),
        (["inf", "", ""], r"yield 'inf' is refused"),
        (["-1", "", ""], r"yield '-1' is refused"),
    ],
)
def test_bad_cells_are_refused_naming_row_column_and_value(rig, sqlite_url, cells, message):
    campaign, frame, path = rig
    frame.loc[0, OUTCOMES] = ["81.2", "3.1", "96.4"]
    frame.loc[2, OUTCOMES] = cells
    before = snapshot(campaign)
    result = tell(sqlite_url, frame, path)
    assert result.exit_code == 1
    assert "row 4 (trial 2):" in result.stderr
    assert pd.Series([result.stderr]).str.contains(message).all(), result.stderr
    pd.testing.assert_frame_equal(snapshot(campaign), before)


def test_a_misspelt_outcome_column_is_refused_with_a_hint(rig, sqlite_url):
    campaign, frame, path = rig
    frame = frame.rename(columns={"purity": "purty"})
    frame.loc[0, ["yield", "cost", "purty"]] = ["81.2", "3.1", "96.4"]
    before = snapshot(campaign)
    result = tell(sqlite_url, frame, path)
    assert result.exit_code == 1
    assert "missing column(s) ['purity'] (a misspelt column? 'purty' for 'purity')" in result.stderr
    pd.testing.assert_frame_equal(snapshot(campaign), before)


def test_a_told_value_is_never_changed_by_a_file(rig, sqlite_url):
    campaign, frame, path = rig
    campaign.tell(1, {"yield": 77.0})
    frame.loc[1, OUTCOMES] = ["78.5", "2.9", "96"]
    before = snapshot(campaign)
    result = tell(sqlite_url, frame, path)
    assert result.exit_code == 1
    assert "yield was told as 77.0, the file says 78.5" in result.stderr
    pd.testing.assert_frame_equal(snapshot(campaign), before)


def test_failed_and_all_blank_rows(rig, sqlite_url):
    campaign, frame, path = rig
    frame.loc[0, "yield"] = "failed"
    frame.loc[0, "note"] = "pump stalled"
    result = tell(sqlite_url, frame, path)
    assert result.exit_code == 0, result.output
    t0, t1, t2 = campaign.trials()
    assert t0.state is bl.TrialState.FAILED and t0.reason == "pump stalled"
    assert t1.state is t2.state is bl.TrialState.PENDING and not t1.values and not t2.values


def test_completed_row_told_again_is_unchanged_and_a_different_value_refused(rig, sqlite_url):
    campaign, frame, path = rig
    frame.loc[0, OUTCOMES] = ["81.2", "3.1", "96.4"]
    assert tell(sqlite_url, frame, path).exit_code == 0
    result = tell(sqlite_url, frame, path)
    assert result.exit_code == 0 and "unchanged 1" in result.stdout
    frame.loc[0, "cost"] = "3.5"
    before = snapshot(campaign)
    result = tell(sqlite_url, frame, path)
    assert result.exit_code == 1 and "trial 0 is already COMPLETED" in result.stderr
    pd.testing.assert_frame_equal(snapshot(campaign), before)


def test_add_takes_a_column_per_outcome(sqlite_url, tmp_path):
    campaign = make(sqlite_url)
    path = tmp_path / "runs.csv"
    pd.DataFrame(
        {"temperature": [50.0, 60.0], "catalyst": ["A", "B"], "yield": [70.0, 75.0],
         "cost": [2.0, 2.5], "purity": [96.0, 94.0]}
    ).to_csv(path, index=False)  # fmt: skip
    result = invoke("add", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.output
    assert [t.values for t in campaign.trials()] == [
        {"yield": 70.0, "cost": 2.0, "purity": 96.0},
        {"yield": 75.0, "cost": 2.5, "purity": 94.0},
    ]


def test_add_counts_partly_told_rows_as_pending(sqlite_url, tmp_path):
    campaign = make(sqlite_url)
    path = tmp_path / "runs.csv"
    path.write_text("temperature,catalyst,yield,cost,purity\n50,A,60,2,96\n55,B,61,,\n")
    result = invoke("add", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.output
    assert (
        "Recorded 2 run(s): 1 as completed trials, 1 partly told (pending until every "
        "outcome is told)." in result.stdout
    )
    assert [t.state for t in campaign.trials()] == [
        bl.TrialState.COMPLETED, bl.TrialState.PENDING,
    ]  # fmt: skip


def test_xlsx_round_with_a_partial_row(sqlite_url, tmp_path):
    campaign = make(sqlite_url)
    path = tmp_path / "round-01.xlsx"
    assert invoke("ask", "rig", "-n", 2, "-o", path, "--storage", sqlite_url).exit_code == 0
    book = load_workbook(path)
    sheet = book.active
    header = [c.value for c in sheet[1]]
    assert header[3:6] == OUTCOMES
    # The technician's columns are highlighted, every outcome's.
    assert all(sheet.cell(row=1, column=i).fill.fgColor.rgb.endswith("FFF2CC") for i in (4, 5, 6))
    sheet.cell(row=2, column=4).value = 81.2  # yield, numbers as a spreadsheet stores them
    sheet.cell(row=2, column=6).value = 96
    book.save(path)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.output
    first = campaign.trial(0)
    assert first.values == {"yield": 81.2, "purity": 96.0} and first.missing == ("cost",)


def test_single_objective_with_bounds_refuses_a_round_value_outside(sqlite_url, tmp_path):
    campaign = bl.Campaign.create(
        "one", [bl.Real("x", 0.0, 1.0)], bl.Objective("yield", bounds=(0, 100)), storage=sqlite_url
    )
    path = tmp_path / "r.csv"
    assert invoke("ask", "one", "-n", 2, "-o", path, "--storage", sqlite_url).exit_code == 0
    frame = pd.read_csv(path, dtype={"yield": object})
    assert list(frame.columns) == ["trial", "x", "yield", "note", "campaign"]
    frame["yield"] = ["50", "100.5"]
    before = snapshot(campaign)
    result = tell(sqlite_url, frame, path, "one")
    assert result.exit_code == 1
    assert "row 3 (trial 1): the result '100.5' is refused: 'yield' must lie within its bounds" in (
        result.stderr
    )
    pd.testing.assert_frame_equal(snapshot(campaign), before)
