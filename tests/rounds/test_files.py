"""Round files through ``bo-loop ask`` / ``bo-loop tell``, in-process with Click's runner.

Every malformed file must be refused with exit code 1, a message naming the row and the rule,
and the campaign left exactly as it was.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result
from openpyxl import Workbook, load_workbook

import bo_loop as bl
from bo_loop.cli import cli


def invoke(*args: str | Path) -> Result:
    # catch_exceptions=False: an unexpected exception (a traceback for the user) fails the test.
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def make(storage: str, **kwargs) -> bl.Campaign:
    return bl.Campaign.create(
        "rig",
        [
            bl.Real("temperature", 20.0, 120.0),
            bl.Integer("pressure", 1, 10),
            bl.Categorical("catalyst", ["A", "B", "C"]),
            bl.Real("flow", 0.1, 10.0, log=True),
        ],
        bl.Objective("yield"),
        storage=storage,
        **kwargs,
    )


def snapshot(campaign: bl.Campaign) -> pd.DataFrame:
    return campaign.to_dataframe().drop(columns=["created_at", "finished_at"])


def ask_file(storage: str, path: Path, n: int = 3) -> pd.DataFrame:
    result = invoke("ask", "rig", "-n", n, "-o", path, "--storage", storage)
    assert result.exit_code == 0, result.output
    # The result and note columns come back empty; object dtype lets a test type text or numbers.
    dtype = {"yield": object, "note": object}
    return (
        pd.read_excel(path, dtype=dtype)
        if path.suffix == ".xlsx"
        else pd.read_csv(path, dtype=dtype)
    )


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False)


@pytest.fixture
def rig(sqlite_url, tmp_path) -> tuple[bl.Campaign, pd.DataFrame, Path]:
    """A campaign with 3 pending trials and the round file `ask` wrote for them."""
    campaign = make(sqlite_url)
    path = tmp_path / "round-01.csv"
    frame = ask_file(sqlite_url, path)
    return campaign, frame, path


# -- writing ---------------------------------------------------------------------------------


def test_ask_writes_trial_parameters_and_empty_result(rig, sqlite_url):
    campaign, frame, _path = rig
    assert list(frame.columns) == ["trial", "temperature", "pressure", "catalyst", "flow", "yield",
                                   "note", "campaign"]  # fmt: skip
    assert frame["trial"].tolist() == [0, 1, 2]
    assert frame["yield"].isna().all()
    trials = campaign.trials()
    assert [t.state for t in trials] == [bl.TrialState.PENDING] * 3
    # Written at full precision: the CSV round trip gives back the stored floats exactly.
    assert frame["temperature"].tolist() == [t.params["temperature"] for t in trials]
    assert frame["catalyst"].tolist() == [t.params["catalyst"] for t in trials]


def test_ask_refuses_to_overwrite_before_asking(rig, sqlite_url):
    campaign, frame, path = rig
    frame.loc[0, "yield"] = 12.5
    write_csv(frame, path)
    typed = path.read_bytes()
    result = invoke("ask", "rig", "-n", "2", "-o", path, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert path.read_bytes() == typed
    assert len(campaign.trials()) == 3  # no trials were asked for a file that cannot be written
    result = invoke("ask", "rig", "-n", "2", "-o", path, "--force", "--storage", sqlite_url)
    assert result.exit_code == 0
    assert pd.read_csv(path)["trial"].tolist() == [3, 4]


@pytest.mark.parametrize(
    ("name", "message"),
    [("round.txt", "must end in .csv or .xlsx, but got 'round.txt'"),
     ("missing/round.csv", "does not exist")],
)  # fmt: skip
def test_ask_refuses_bad_output_path_before_asking(sqlite_url, tmp_path, name, message):
    campaign = make(sqlite_url)
    result = invoke("ask", "rig", "-o", tmp_path / name, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert message in result.stderr
    assert campaign.trials() == []


def test_pending_rewrites_a_lost_round(rig, sqlite_url, tmp_path):
    campaign, _frame, _ = rig
    campaign.tell(1, 3.0)
    again = tmp_path / "again.xlsx"
    result = invoke("pending", "rig", "-o", again, "--storage", sqlite_url)
    assert result.exit_code == 0, result.output
    assert pd.read_excel(again)["trial"].tolist() == [0, 2]


# -- telling ---------------------------------------------------------------------------------


def test_tell_records_values_failures_and_leaves_blanks_pending(rig, sqlite_url):
    campaign, frame, path = rig
    frame.loc[0, "yield"] = 81.5
    frame.loc[1, "yield"] = "FAILED"
    frame.loc[1, "note"] = "rig jammed"
    write_csv(frame, path)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.output
    assert "Recorded: told 1, failed 1, left pending 1." in result.stdout
    trials = campaign.trials()
    assert (trials[0].state, trials[0].value) == (bl.TrialState.COMPLETED, 81.5)
    assert (trials[1].state, trials[1].reason) == (bl.TrialState.FAILED, "rig jammed")
    assert trials[2].state is bl.TrialState.PENDING
    # The same file again changes nothing and is not an error (a repeat, not a new result).
    before = snapshot(campaign)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.output
    assert "unchanged 2" in result.stdout
    pd.testing.assert_frame_equal(snapshot(campaign), before)


def test_tell_abandoned_marker(rig, sqlite_url):
    campaign, frame, path = rig
    frame.loc[2, "yield"] = "abandoned"
    write_csv(frame, path)
    assert invoke("tell", "rig", path, "--storage", sqlite_url).exit_code == 0
    assert campaign.trial(2).state is bl.TrialState.ABANDONED


def test_dry_run_records_nothing(rig, sqlite_url):
    campaign, frame, path = rig
    frame.loc[0, "yield"] = 1.0
    write_csv(frame, path)
    before = snapshot(campaign)
    result = invoke("tell", "rig", path, "--dry-run", "--storage", sqlite_url)
    assert result.exit_code == 0
    assert "nothing was recorded" in result.stdout
    pd.testing.assert_frame_equal(snapshot(campaign), before)


def test_values_a_spreadsheet_rounded_are_not_edits(rig, sqlite_url):
    """Excel's 'General' format may save a CSV with 7 significant digits: that is not an edit."""
    campaign, frame, path = rig
    for column in ("temperature", "flow"):
        frame[column] = [float(f"{v:.7g}") for v in frame[column]]
    frame["yield"] = [1.0, 2.0, 3.0]
    write_csv(frame, path)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert [t.value for t in campaign.trials()] == [1.0, 2.0, 3.0]


def test_semicolon_and_decimal_comma_csv(rig, sqlite_url):
    """A spreadsheet set to a decimal-comma locale saves ';'-separated cells and '81,5'."""
    campaign, frame, path = rig
    frame["yield"] = [81.5, float("nan"), float("nan")]
    frame.to_csv(path, index=False, sep=";", decimal=",")
    assert "81,5" in path.read_text()
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert campaign.trial(0).value == 81.5


def test_extra_columns_are_ignored_with_a_warning(rig, sqlite_url):
    campaign, frame, path = rig
    frame["operator"] = "kim"
    frame.loc[0, "yield"] = 5.0
    write_csv(frame, path)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0
    assert "Ignored column(s) ['operator']" in result.stderr
    assert campaign.trial(0).value == 5.0


def test_xlsx_round_trip(sqlite_url, tmp_path):
    campaign = make(sqlite_url)
    path = tmp_path / "round-01.xlsx"
    ask_file(sqlite_url, path, n=3)
    # Fill it in as a spreadsheet program would: typed cells in the 'yield' and 'note' columns.
    wb = load_workbook(path)
    ws = wb.active
    header = [c.value for c in ws[1]]
    assert header == ["trial", "temperature", "pressure", "catalyst", "flow", "yield", "note",
                      "campaign"]  # fmt: skip
    ws.cell(row=2, column=6, value=64.25)
    ws.cell(row=3, column=6, value="failed")
    ws.cell(row=3, column=7, value="no flow")
    wb.save(path)
    wb.close()
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.output
    trials = campaign.trials()
    assert (trials[0].state, trials[0].value) == (bl.TrialState.COMPLETED, 64.25)
    assert (trials[1].state, trials[1].reason) == (bl.TrialState.FAILED, "no flow")
    assert trials[2].state is bl.TrialState.PENDING
    # The second round comes out as .xlsx too, and pandas reads it back.
    again = tmp_path / "round-02.xlsx"
    frame = ask_file(sqlite_url, again, n=1)
    assert frame["trial"].tolist() == [3]
    exported = tmp_path / "all.xlsx"
    assert invoke("export", "rig", "-o", exported, "--storage", sqlite_url).exit_code == 0
    table = pd.read_excel(exported)
    assert table["number"].tolist() == [0, 1, 2, 3]
    assert table["yield"].tolist()[0] == 64.25


def test_a_race_refuses_the_whole_file_and_a_rerun_finishes(rig, sqlite_url, monkeypatch):
    """Someone tells trial 1 between the check and the apply: nothing of the file goes in."""
    campaign, frame, path = rig
    frame["yield"] = [1.0, 2.0, 3.0]
    write_csv(frame, path)
    tell_many = bl.Campaign.tell_many

    def tell_many_after_a_colleague(self, *args, **kwargs):
        if self.trial(1).state is bl.TrialState.PENDING:
            bl.Campaign.load("rig", storage=sqlite_url).tell(1, 99.0)  # the colleague
        return tell_many(self, *args, **kwargs)

    monkeypatch.setattr(bl.Campaign, "tell_many", tell_many_after_a_colleague)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "Nothing was recorded: row 3 (trial 1) changed after the file was checked" in (
        result.stderr
    )
    assert "trial 1 is COMPLETED" in result.stderr
    assert [t.value for t in campaign.trials()] == [None, 99.0, None]
    assert campaign.verify() == []
    # Fixing the clashing row and running the same file again records the rest.
    frame.loc[1, "yield"] = 99.0
    write_csv(frame, path)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert "Recorded: told 2, failed 0, left pending 0, unchanged 1." in result.stdout
    assert [t.value for t in campaign.trials()] == [1.0, 99.0, 3.0]


# -- malformed files: exit 1, the row and the rule named, nothing recorded --------------------


def _set(frame: pd.DataFrame, row: int, column: str, value: object) -> pd.DataFrame:
    frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value
    return frame


def unknown_trial(frame: pd.DataFrame) -> pd.DataFrame:
    return _set(frame, 1, "trial", 99)


def edited_real(frame: pd.DataFrame) -> pd.DataFrame:
    return _set(frame, 2, "temperature", round(frame.loc[2, "temperature"], 1) + 0.5)


def edited_integer(frame: pd.DataFrame) -> pd.DataFrame:
    return _set(frame, 0, "pressure", frame.loc[0, "pressure"] % 10 + 1)


def edited_categorical(frame: pd.DataFrame) -> pd.DataFrame:
    return _set(frame, 0, "catalyst", "B" if frame.loc[0, "catalyst"] != "B" else "C")


def blanked_parameter(frame: pd.DataFrame) -> pd.DataFrame:
    return _set(frame, 1, "flow", None)


def non_numeric(frame: pd.DataFrame) -> pd.DataFrame:
    return _set(frame, 1, "yield", "approx 80")


def non_finite(frame: pd.DataFrame) -> pd.DataFrame:
    return _set(frame, 1, "yield", "inf")


def duplicate_row(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.iloc[[0]]], ignore_index=True)


def bad_trial_number(frame: pd.DataFrame) -> pd.DataFrame:
    return _set(frame, 1, "trial", "1b")


MALFORMED = [
    (unknown_trial, r"row 3 \(trial 99\): there is no trial 99 in this campaign \(trial numbers: 0..2\)"),
    (edited_real, r"row 4 \(trial 2\): 'temperature' was edited: the file says '[\d.]+' but the trial was asked at"),
    (edited_integer, r"row 2 \(trial 0\): 'pressure' was edited"),
    (edited_categorical, r"row 2 \(trial 0\): 'catalyst' was edited"),
    (blanked_parameter, r"row 3 \(trial 1\): 'flow' was edited: the file says blank"),
    (non_numeric, r"row 3 \(trial 1\): the result 'approx 80' is not a number"),
    (non_finite, r"row 3 \(trial 1\): the result 'inf' is refused: An outcome must be finite"),
    (duplicate_row, r"row 2 \(trial 0\): trial 0 appears in more than one row \(rows 2, 5\)"),
    (bad_trial_number, r"row 3: the trial number '1b' is not a whole number >= 0"),
]  # fmt: skip


@pytest.mark.parametrize(("mutate", "message"), MALFORMED, ids=[m[0].__name__ for m in MALFORMED])
def test_malformed_rows_record_nothing(rig, sqlite_url, mutate, message):
    campaign, frame, path = rig
    frame["yield"] = [10.0, 20.0, 30.0]  # the good rows would be told if the file were accepted
    write_csv(mutate(frame), path)
    before = snapshot(campaign)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "Nothing was recorded" in result.stderr
    assert re.search(message, result.stderr), result.stderr
    assert "Traceback" not in result.output
    pd.testing.assert_frame_equal(snapshot(campaign), before)


@pytest.mark.parametrize("earlier", ["tell", "fail"])
def test_already_finished_trial_records_nothing(rig, sqlite_url, earlier):
    campaign, frame, path = rig
    if earlier == "tell":
        campaign.tell(1, 55.0)
    else:
        campaign.fail(1, reason="leak")
    frame["yield"] = [10.0, 20.0, 30.0]
    write_csv(frame, path)
    before = snapshot(campaign)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 1
    state = "COMPLETED (yield = 55.0)" if earlier == "tell" else "FAILED"
    assert f"row 3 (trial 1): trial 1 is already {state}, and only a pending trial" in result.stderr
    pd.testing.assert_frame_equal(snapshot(campaign), before)


def test_every_bad_row_is_listed(rig, sqlite_url):
    campaign, frame, path = rig
    frame["yield"] = [10.0, 20.0, 30.0]
    write_csv(edited_real(unknown_trial(frame)), path)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "2 of 3 row(s) in round-01.csv broke the rules" in result.stderr
    assert "row 3 (trial 99): there is no trial 99" in result.stderr
    assert "row 4 (trial 2): 'temperature' was edited" in result.stderr
    assert campaign.trials(bl.TrialState.PENDING) == campaign.trials()


def test_missing_column_records_nothing(rig, sqlite_url):
    campaign, frame, path = rig
    frame["yield"] = [10.0, 20.0, 30.0]
    write_csv(frame.drop(columns=["flow"]), path)
    before = snapshot(campaign)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "round-01.csv, header (row 1): missing column(s) ['flow']" in result.stderr
    pd.testing.assert_frame_equal(snapshot(campaign), before)


def _garbage_xlsx(path: Path) -> Path:
    target = path.with_suffix(".xlsx")
    target.write_text("trial,yield\n0,1\n")  # a CSV renamed to .xlsx
    return target


def _binary_csv(path: Path) -> Path:
    path.write_bytes(b"\x00\x01\x02PK\x03\x04")
    return path


def _no_such_file(path: Path) -> Path:
    return path.with_name("nope.csv")


def _wrong_extension(path: Path) -> Path:
    target = path.with_suffix(".txt")
    target.write_text(path.read_text())
    return target


def _header_only(path: Path) -> Path:
    path.write_text(path.read_text().splitlines()[0] + "\n")
    return path


def _empty(path: Path) -> Path:
    path.write_text("")
    return path


UNREADABLE = [
    (_garbage_xlsx, r"Cannot read round-01.xlsx as an Excel \(.xlsx\) workbook"),
    (_binary_csv, r"Cannot read round-01.csv: it is not a text \(CSV\) file"),
    (_no_such_file, r"Cannot read '.*nope.csv': no such file"),
    (_wrong_extension, r"A round file must end in .csv or .xlsx, but got 'round-01.txt'"),
    (_header_only, r"round-01.csv has a header but no trial rows"),
    (_empty, r"round-01.csv is empty: row 1 must be the header"),
]


@pytest.mark.parametrize(("spoil", "message"), UNREADABLE, ids=[u[0].__name__ for u in UNREADABLE])
def test_unreadable_files_record_nothing(rig, sqlite_url, spoil, message):
    campaign, _, path = rig
    before = snapshot(campaign)
    result = invoke("tell", "rig", spoil(path), "--storage", sqlite_url)
    assert result.exit_code == 1
    assert re.search(message, result.stderr), result.stderr
    assert "Traceback" not in result.output
    pd.testing.assert_frame_equal(snapshot(campaign), before)


def test_note_with_a_value_is_reported_as_stored(rig, sqlite_url):
    _campaign, frame, path = rig
    frame.loc[0, "yield"] = 3.0
    frame.loc[0, "note"] = "sample cloudy"
    frame.loc[1, "note"] = "started late"
    write_csv(frame, path)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        cli, ["tell", "rig", str(path), "--storage", sqlite_url], catch_exceptions=False
    )
    assert result.exit_code == 0
    assert "note: sample cloudy" in result.stdout
    assert "note not stored: the trial is still pending" in result.stdout


def test_csv_blank_lines_keep_spreadsheet_row_numbers(rig, sqlite_url):
    campaign, frame, path = rig
    frame = unknown_trial(frame)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(frame.columns)
        writer.writerow(frame.iloc[0].fillna("").tolist())
        writer.writerow([])
        writer.writerow(frame.iloc[1].fillna("").tolist())
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "row 4 (trial 99)" in result.stderr
    assert campaign.trials(bl.TrialState.PENDING) == campaign.trials()


def test_xlsx_malformed_row_is_named(sqlite_url, tmp_path):
    campaign = make(sqlite_url)
    path = tmp_path / "round.xlsx"
    ask_file(sqlite_url, path, n=2)
    wb = load_workbook(path)
    ws = wb.active
    ws.cell(row=3, column=6, value="n/a")
    wb.save(path)
    wb.close()
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "row 3 (trial 1): the result 'n/a' is not a number" in result.stderr
    assert campaign.trials(bl.TrialState.PENDING) == campaign.trials()


def test_xlsx_written_by_another_program_is_read(sqlite_url, tmp_path):
    """A workbook made from scratch (numbers as floats, extra sheet) reads like ours."""
    campaign = make(sqlite_url)
    (trial,) = campaign.ask(1)
    wb = Workbook()
    ws = wb.active
    ws.append(["trial", "temperature", "pressure", "catalyst", "flow", "yield"])
    p = trial.params
    ws.append([0.0, p["temperature"], float(p["pressure"]), p["catalyst"], p["flow"], 7])
    wb.create_sheet("scratch").append(["ignored"])
    path = tmp_path / "theirs.xlsx"
    wb.save(path)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert campaign.trial(0).value == 7.0


def test_xlsx_round_sheet_is_read_wherever_it_is(sqlite_url, tmp_path):
    """A sheet of notes added in front of ours, the workbook saved with it active: the 'round'
    sheet is still the one read (also for a formula check); another workbook's first sheet is
    read as before, and a header error names the sheet."""
    campaign = make(sqlite_url)
    path = tmp_path / "round.xlsx"
    ask_file(sqlite_url, path, n=2)
    wb = load_workbook(path)
    wb["round"].cell(row=2, column=6, value=64.5)
    wb.create_sheet("notes", 0)["A1"] = "hello"
    wb.active = 0
    wb.save(path)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert campaign.trial(0).value == 64.5
    wb = load_workbook(path)
    wb["round"].title = "Sheet1"
    wb.save(path)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "round.xlsx, sheet 'notes', header (row 1): missing column(s) ['trial'," in (
        result.stderr
    )
    assert campaign.trial(1).state is bl.TrialState.PENDING


def test_numeric_and_boolean_choices_survive_a_spreadsheet(sqlite_url, tmp_path):
    """Excel hands back the choice 4 as 4.0 and True as TRUE: neither is an edit."""
    campaign = bl.Campaign.create(
        "rig", [bl.Categorical("size", [1, 2, 4]), bl.Categorical("stir", [True, False])],
        "yield", storage=sqlite_url,
    )  # fmt: skip
    (trial,) = campaign.ask(1)
    path = tmp_path / "r.csv"
    size, stir = trial.params["size"], trial.params["stir"]
    path.write_text(f"trial,size,stir,yield\n0,{float(size)},{str(stir).upper()},2.5\n")
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert campaign.trial(0).value == 2.5


def test_add_records_runs_it_did_not_propose(sqlite_url, tmp_path):
    campaign = make(sqlite_url)
    path = tmp_path / "runs.csv"
    path.write_text("temperature,pressure,catalyst,flow,yield\n77.2,10,A,0.13,64.8\n50,3,B,1,2\n")
    result = invoke("add", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    trials = campaign.trials()
    assert [(t.source, t.value) for t in trials] == [("manual", 64.8), ("manual", 2.0)]
    assert trials[0].params == {"temperature": 77.2, "pressure": 10, "catalyst": "A", "flow": 0.13}


def test_add_with_a_bad_row_stores_nothing(sqlite_url, tmp_path):
    campaign = make(sqlite_url)
    path = tmp_path / "runs.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["temperature", "pressure", "catalyst", "flow", "yield"])
    ws.append([77.2, 10, "A", 0.13, 64.8])
    ws.append([50, 3, "D", 1, 2])
    ws.append([60, 3, "B", 1, None])
    wb.save(path)
    result = invoke("add", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "row 3: 'catalyst' must be one of ['A', 'B', 'C'], but got 'D'" in result.stderr
    assert "row 4: the outcome 'yield' is missing" in result.stderr
    assert campaign.trials() == []


def test_add_takes_a_row_copied_from_a_round_file(rig, sqlite_url, tmp_path):
    """The README's way to keep a run made at other settings: 'abandoned' in the round, then the
    row through `bo-loop add`, its trial, note and campaign cells not stored."""
    campaign, frame, path = rig
    frame.loc[2, "yield"] = "abandoned"
    write_csv(frame, path)
    assert invoke("tell", "rig", path, "--storage", sqlite_url).exit_code == 0
    runs = frame.iloc[[2]].copy()
    runs[["temperature", "yield", "note"]] = [78.0, "64.8", "ran at 78: heater lagging"]
    added = tmp_path / "runs.csv"
    write_csv(runs, added)
    result = invoke("add", "rig", added, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert "Ignored column(s) ['trial', 'note', 'campaign']" in result.stderr
    assert "The note(s) of row(s) 2 were not stored" in result.stderr
    new = campaign.trial(3)
    assert (new.source, new.value, new.params["temperature"]) == ("manual", 64.8, 78.0)
    assert campaign.trial(2).state is bl.TrialState.ABANDONED
    # Another campaign's row, or a column that is not a round file's own, is still refused.
    for column, value, message in [
        ("campaign", "other", "the 'campaign' column says 'other', but the runs are being added "
                              "to campaign 'rig'; nothing was stored"),
        ("operator", "ann", "unknown column(s) ['operator']"),
    ]:  # fmt: skip
        write_csv(runs.assign(**{column: value}), added)
        result = invoke("add", "rig", added, "--storage", sqlite_url)
        assert result.exit_code == 1 and message in result.stderr, result.stderr
    assert len(campaign.trials()) == 4


# -- a new user's mistakes (issue: technicians' bugs) -------------------------------------------


def test_csv_row_longer_than_the_header_is_refused(rig, sqlite_url):
    """A decimal comma typed without quotes in a comma CSV splits the result into two cells."""
    campaign, frame, path = rig
    first = ",".join(str(v) for v in frame.iloc[0].tolist()[:5])
    path.write_text(f"trial,temperature,pressure,catalyst,flow,yield,note\n{first},2,677,\n")
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "row 2 has 8 cells but the header (row 1) has 7" in result.stderr
    assert campaign.trials(bl.TrialState.PENDING) == campaign.trials()


def test_trailing_comma_csv_is_read(rig, sqlite_url):
    campaign, frame, path = rig
    frame["yield"] = [1.0, 2.0, 3.0]
    lines = frame.to_csv(index=False).splitlines()
    path.write_text("\n".join(line + "," for line in lines) + "\n")
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert [t.value for t in campaign.trials()] == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_round_file_names_its_campaign_and_another_campaign_refuses_it(
    sqlite_url, tmp_path, suffix
):
    make(sqlite_url)
    other = bl.Campaign.create(
        "other rig", [bl.Real("temperature", 20.0, 120.0), bl.Integer("pressure", 1, 10),
                      bl.Categorical("catalyst", ["A", "B", "C"]),
                      bl.Real("flow", 0.1, 10.0, log=True)],
        "yield", storage=sqlite_url,
    )  # fmt: skip
    other.ask(3)
    path = tmp_path / f"round-01{suffix}"
    frame = ask_file(sqlite_url, path)
    assert list(frame.columns)[-1] == "campaign"
    assert frame["campaign"].tolist() == ["rig"] * 3
    frame["yield"] = [1.0, 2.0, 3.0]
    if suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        write_csv(frame, path)
    before = snapshot(other)
    result = invoke("tell", "other rig", path, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert (
        f"round-01{suffix} was written for campaign 'rig' (row 2), but is being told to campaign "
        "'other rig'; nothing was recorded" in result.stderr
    ), result.stderr
    pd.testing.assert_frame_equal(snapshot(other), before)
    # Its own campaign takes it; a file without the column (older bo_loop, by hand) still works.
    assert invoke("tell", "rig", path, "--storage", sqlite_url).exit_code == 0


def test_round_file_without_campaign_column_is_told(rig, sqlite_url):
    campaign, frame, path = rig
    frame = frame.drop(columns=["campaign"])
    frame["yield"] = [1.0, 2.0, 3.0]
    write_csv(frame, path)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert "Ignored" not in result.stderr
    assert [t.value for t in campaign.trials()] == [1.0, 2.0, 3.0]


def _xlsx_round(sqlite_url: str, tmp_path: Path) -> tuple[bl.Campaign, Path]:
    campaign = make(sqlite_url)
    path = tmp_path / "round.xlsx"
    ask_file(sqlite_url, path, n=2)
    return campaign, path


def test_xlsx_formula_without_saved_value_is_refused(sqlite_url, tmp_path):
    """openpyxl writes formulas without their values: such a cell is not a blank result."""
    campaign, path = _xlsx_round(sqlite_url, tmp_path)
    wb = load_workbook(path)
    wb.active.cell(row=2, column=6, value=5.0)
    wb.active.cell(row=3, column=6, value="=F2*2")
    wb.save(path)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "cell F3 (row 3) holds the formula '=F2*2' but no saved value" in result.stderr
    assert campaign.trials(bl.TrialState.PENDING) == campaign.trials()


def test_xlsx_percent_cell_is_refused_like_a_csv_percent(sqlite_url, tmp_path):
    campaign, path = _xlsx_round(sqlite_url, tmp_path)
    wb = load_workbook(path)
    cell = wb.active.cell(row=2, column=6, value=0.831)
    cell.number_format = "0.0%"
    wb.save(path)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "cell F2 (row 2) is formatted as a percentage (it shows 83.1%, holds 0.831)" in (
        result.stderr
    ), result.stderr
    assert campaign.trials(bl.TrialState.PENDING) == campaign.trials()
    csv_path = tmp_path / "round.csv"
    frame = ask_file(sqlite_url, csv_path, n=1)
    frame["yield"] = ["83.1%"]
    write_csv(frame, csv_path)
    result = invoke("tell", "rig", csv_path, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "the result '83.1%' is not a number" in result.stderr


def test_python_add_observations_reads_files_as_the_cli_does(sqlite_url, tmp_path):
    campaign = bl.Campaign.create(
        "rig", [bl.Real("x", 0.0, 10.0), bl.Categorical("answer", ["None", "NA", "yes"])],
        "yield", storage=sqlite_url,
    )  # fmt: skip
    semicolon = tmp_path / "semicolon.csv"
    semicolon.write_text("x;answer;yield\n1,5;None;2,5\n")
    trailing = tmp_path / "trailing.csv"
    trailing.write_text("x,answer,yield,\n2,NA,3,\n")
    workbook = tmp_path / "runs.xlsx"
    wb = Workbook()
    wb.active.append(["x", "answer", "yield"])
    wb.active.append([3.0, "yes", 4.0])
    wb.save(workbook)
    for path in (semicolon, trailing, workbook):
        campaign.add_observations(path)
    assert [(t.params, t.value) for t in campaign.trials()] == [
        ({"x": 1.5, "answer": "None"}, 2.5),
        ({"x": 2.0, "answer": "NA"}, 3.0),
        ({"x": 3.0, "answer": "yes"}, 4.0),
    ]


def test_python_add_observations_names_the_file_row(sqlite_url, tmp_path):
    campaign = bl.Campaign.create("rig", [bl.Real("x", 0.0, 10.0)], "yield", storage=sqlite_url)
    path = tmp_path / "runs.csv"
    path.write_text("x,yield\n1,2\n1_000,3\n")
    with pytest.raises(bl.ImportRowsError, match=r"row 3: 'x' must be a number, but got '1_000'"):
        campaign.add_observations(path)
    assert campaign.trials() == []


def test_note_of_a_told_row_is_stored(rig, sqlite_url):
    campaign, frame, path = rig
    frame.loc[0, "yield"] = 3.0
    frame.loc[0, "note"] = "sample cloudy"
    write_csv(frame, path)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert campaign.trial(0).reason == "sample cloudy"
    assert campaign.to_dataframe().loc[0, "reason"] == "sample cloudy"
    assert campaign.history(0)["reason"].tolist()[-1] == "sample cloudy"


def test_comment_only_row_is_skipped(rig, sqlite_url):
    campaign, frame, path = rig
    frame["yield"] = [1.0, 2.0, 3.0]
    lines = frame.to_csv(index=False).splitlines()
    lines.insert(2, ",,,,,,ran on the old rig,")
    path.write_text("\n".join(lines) + "\n")
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        cli, ["tell", "rig", str(path), "--storage", sqlite_url], catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    assert "comment only: skipped" in result.stdout
    assert [t.value for t in campaign.trials()] == [1.0, 2.0, 3.0]


def test_underscore_number_is_not_a_number(rig, sqlite_url):
    campaign, frame, path = rig
    frame["yield"] = ["1_000", 2.0, 3.0]
    write_csv(frame, path)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "row 2 (trial 0): the result '1_000' is not a number" in result.stderr
    assert campaign.trials(bl.TrialState.PENDING) == campaign.trials()


def test_parameters_rounded_to_two_decimals_are_not_edits(rig, sqlite_url):
    campaign, frame, path = rig
    for column in ("temperature", "flow"):
        frame[column] = [round(v, 2) for v in frame[column]]
    frame["yield"] = [1.0, 2.0, 3.0]
    write_csv(frame, path)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert [t.value for t in campaign.trials()] == [1.0, 2.0, 3.0]


def test_a_real_edit_names_the_tolerance(rig, sqlite_url):
    campaign, frame, path = rig
    frame.loc[0, "temperature"] = frame.loc[0, "temperature"] + 0.2
    frame["yield"] = [1.0, 2.0, 3.0]
    write_csv(frame, path)
    result = invoke("tell", "rig", path, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "more than 0.1 (1/1000 of its range 20.0..120.0) away" in result.stderr, result.stderr
    assert campaign.trials(bl.TrialState.PENDING) == campaign.trials()
