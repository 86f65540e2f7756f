"""Round files of a constrained campaign: they carry the constraints, and edits that break one
are refused naming it, with the way to record such a run (`bo-loop add`, flagged)."""

from __future__ import annotations

import csv

import pandas as pd
import pytest
from click.testing import CliRunner, Result

import bo_loop as bl
from bo_loop.cli import cli
from bo_loop.rounds.files import read_round_file

MIXTURE_SPEC = """\
name: blend
objective: yield
parameters:
  - {name: water, type: real, low: 0, high: 1}
  - {name: ethanol, type: real, low: 0, high: 1}
  - {name: glycerol, type: real, low: 0, high: 1}
  - {name: temperature, type: real, low: 20, high: 90}
parameter_constraints:
  - "water + ethanol + glycerol == 1"
  - {coefficients: {ethanol: 1, temperature: 0.01}, op: "<=", rhs: 1.2}
"""


def invoke(*args: object) -> Result:
    runner = CliRunner(env={"COLUMNS": "200"})
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def blend(sqlite_url, tmp_path):
    spec = tmp_path / "blend.yaml"
    spec.write_text(MIXTURE_SPEC)
    result = invoke("init", spec, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert "water + ethanol + glycerol == 1" in result.stdout  # init shows them
    return sqlite_url


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_round_files_carry_the_constraints_and_held_values_above_the_header(
    blend, tmp_path, suffix
):
    out = tmp_path / f"round{suffix}"
    result = invoke(
        "ask", "blend", "-n", "2", "-o", out, "--fix", "temperature=80", "--storage", blend
    )
    assert result.exit_code == 0, result.stderr
    sheet = read_round_file(out)  # the reader skips the "# ..." lines
    assert sheet.header_row == 4 and sheet.columns[0] == "trial" and len(sheet.rows) == 2
    if suffix == ".csv":
        lines = out.read_text(encoding="utf-8-sig").splitlines()[:4]
        assert lines == [
            "# constraint: water + ethanol + glycerol == 1",
            "# constraint: ethanol + 0.01*temperature <= 1.2",
            "# held this round: temperature = 80.0",
            "trial,water,ethanol,glycerol,temperature,yield,note,campaign",
        ]
    else:
        frame = pd.read_excel(out, header=None)
        assert frame.iloc[0, 0] == "# constraint: water + ethanol + glycerol == 1"
    # Filled in and told back as written: recorded.
    frame = pd.read_csv(out, comment="#") if suffix == ".csv" else pd.read_excel(out, skiprows=3)
    frame["yield"] = [1.0, 2.0]
    filled = tmp_path / "filled.csv"
    frame.to_csv(filled, index=False)
    result = invoke("tell", "blend", filled, "--storage", blend)
    assert result.exit_code == 0, result.stderr
    assert [t.value for t in bl.Campaign.load("blend", storage=blend).trials()] == [1.0, 2.0]


def test_a_semicolon_file_resaved_by_a_spreadsheet_still_reads(blend, tmp_path):
    out = tmp_path / "round.csv"
    assert invoke("ask", "blend", "-n", "1", "-o", out, "--storage", blend).exit_code == 0
    rows = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines()))
    text = "\n".join(";".join(r) for r in rows).replace(".", ",")  # a decimal-comma locale
    resaved = tmp_path / "resaved.csv"
    resaved.write_text(
        text.replace("# constraint: ethanol + 0,01*", "# constraint: ethanol + 0.01*")
    )
    sheet = read_round_file(resaved)
    assert sheet.columns[:2] == ["trial", "water"] and len(sheet.rows) == 1
    assert float(sheet.rows[0][1]["water"]) == pytest.approx(
        bl.Campaign.load("blend", storage=blend).trials()[0].params["water"], abs=1e-12
    )


def test_an_edit_that_breaks_a_constraint_is_refused_naming_it_and_add_stores_it_flagged(
    blend, tmp_path
):
    out = tmp_path / "round.csv"
    assert invoke("ask", "blend", "-n", "1", "-o", out, "--storage", blend).exit_code == 0
    frame = pd.read_csv(out, comment="#")
    frame.loc[0, ["water", "ethanol", "glycerol", "temperature"]] = [0.5, 0.5, 0.5, 90.0]
    frame["yield"] = [3.0]
    frame.to_csv(out, index=False)
    result = invoke("tell", "blend", out, "--storage", blend)
    assert result.exit_code == 1
    assert "break the parameter constraint(s) water + ethanol + glycerol == 1; " in result.stderr
    assert "`bo-loop add`" in result.stderr and "flagged 'violates'" in result.stderr
    campaign = bl.Campaign.load("blend", storage=blend)
    assert [t.state for t in campaign.trials()] == [bl.TrialState.PENDING]  # nothing recorded
    # The run as it really happened, recorded with `bo-loop add`: stored, flagged, reported.
    measured = tmp_path / "measured.csv"
    frame[["water", "ethanol", "glycerol", "temperature", "yield"]].to_csv(measured, index=False)
    result = invoke("add", "blend", measured, "--storage", blend)
    assert result.exit_code == 0, result.stderr
    assert "Trial 1 breaks water + ethanol + glycerol == 1; ethanol + 0.01*temperature" in (
        " ".join(result.stdout.split())
    )
    added = bl.Campaign.load("blend", storage=blend).trial(1)
    assert added.value == 3.0 and len(added.provenance["violates"]) == 2
