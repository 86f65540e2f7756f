"""``bo-loop correct / retract / history / abandon``: the audit trail from the shell.

Each refused command must exit 1 (user error) or 2 (usage error) and leave every stored trial and
every history row as it was.
"""

from __future__ import annotations

from datetime import timedelta

import click
import pandas as pd
import pytest
from click.testing import CliRunner, Result

import bo_loop as bl
from bo_loop.cli import cli
from bo_loop.cli import common as cli_common
from bo_loop.cli.audit import Duration


def invoke(*args: object) -> Result:
    runner = CliRunner(env={"COLUMNS": "200"})
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Tables at 200 columns: without a terminal (CI, xdist workers) rich wraps cells at 80."""
    monkeypatch.setattr(cli_common.out, "_width", 200)


@pytest.fixture
def rig(storage_url) -> bl.Campaign:
    """Three told trials (yield 60, 61, 62) and two pending."""
    campaign = bl.Campaign.create(
        "rig", [bl.Real("t", 0.0, 1.0)], bl.Objective("yield", goal="maximize"),
        storage=storage_url, seed=0,
    )  # fmt: skip
    for trial, value in zip(campaign.ask(3), [60.0, 61.0, 62.0], strict=True):
        campaign.tell(trial.number, value)
    campaign.ask(2)
    return campaign


def snapshot(campaign: bl.Campaign) -> tuple[list, pd.DataFrame]:
    trials = [(t.number, t.state, t.value, t.reason) for t in campaign.trials()]
    return trials, campaign.history()


def test_correct_changes_the_value_and_keeps_the_old_one(rig, storage_url):
    done = invoke("correct", "rig", 1, 66.5, "--reason", "read off the wrong gauge",
                  "--storage", storage_url)  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "Trial 1: yield 61 -> 66.5 (reason: read off the wrong gauge)" in done.output
    assert rig.trial(1).value == 66.5
    last = rig.history(1).iloc[-1]
    assert (last["action"], last["old_value"], last["new_value"]) == ("correct", 61.0, 66.5)
    assert last["reason"] == "read off the wrong gauge"
    assert rig.best().number == 1


def test_retract_withdraws_and_correct_brings_back(rig, storage_url):
    done = invoke("retract", "rig", 2, "--reason", "sensor drift", "--storage", storage_url)
    assert done.exit_code == 0, done.output
    assert "yield 62 retracted" in done.output
    assert rig.trial(2).state is bl.TrialState.FAILED
    assert rig.best().number == 1
    done = invoke("correct", "rig", 2, 61.5, "--reason", "re-read", "--storage", storage_url)
    assert done.exit_code == 0, done.output
    assert rig.trial(2).state is bl.TrialState.COMPLETED and rig.trial(2).value == 61.5


def test_history_prints_and_writes_every_change(rig, storage_url, tmp_path):
    invoke("correct", "rig", 0, 59.5, "--reason", "calibrated", "--storage", storage_url)
    done = invoke("history", "rig", "--storage", storage_url)
    assert done.exit_code == 0, done.output
    assert "60 -> 59.5" in done.output and "calibrated" in done.output
    assert "pending -> completed" in done.output
    path = tmp_path / "history.csv"
    done = invoke("history", "rig", 0, "-o", path, "--storage", storage_url)
    assert done.exit_code == 0, done.output
    written = pd.read_csv(path, encoding="utf-8-sig")
    assert list(written["action"]) == ["ask", "tell", "correct"]
    assert list(written["new_value"].fillna(-1)) == [-1, 60.0, 59.5]
    # An existing file is not overwritten without --force.
    done = invoke("history", "rig", 0, "-o", path, "--storage", storage_url)
    assert done.exit_code == 1 and "already exists" in done.output
    assert (
        invoke("history", "rig", 0, "-o", path, "--force", "--storage", storage_url).exit_code == 0
    )


def test_abandon_by_number_all_and_age(rig, storage_url):
    done = invoke("abandon", "rig", 3, 0, "--reason", "rig down", "--storage", storage_url)
    assert done.exit_code == 0, done.output
    assert "Not pending, left as they are: trial(s) 0" in done.output
    assert "Abandoned 1 trial(s): 3" in done.output
    assert rig.trial(3).state is bl.TrialState.ABANDONED and rig.trial(3).reason == "rig down"
    assert rig.trial(0).state is bl.TrialState.COMPLETED
    # Trial 4 was asked seconds ago: not older than an hour.
    done = invoke("abandon", "rig", "--older-than", "1h", "--storage", storage_url)
    assert done.exit_code == 0 and "Abandoned 0 trial(s): none" in done.output
    assert rig.trial(4).state is bl.TrialState.PENDING
    done = invoke("abandon", "rig", "--all", "--storage", storage_url)
    assert done.exit_code == 0 and "Abandoned 1 trial(s): 4" in done.output
    assert rig.trials("pending") == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["correct", "rig", 9, 1.0, "--reason", "x"], 1, "No trial numbered 9"),
        (["correct", "rig", 0, "nan", "--reason", "x"], 1, "must be finite, but got nan"),
        (["correct", "rig", 0, "inf", "--reason", "x"], 1, "must be finite, but got inf"),
        (["correct", "rig", 0, "high", "--reason", "x"], 2, "'high' is not a valid float"),
        (["correct", "rig", 0, 1.0, "--reason", "  "], 1, "needs a reason"),
        (["correct", "rig", 0, 1.0], 2, "Missing option '--reason'"),
        (["correct", "rig", 3, 1.0, "--reason", "x"], 1, "trial 3 is PENDING"),
        (["correct", "rig", 0, "yield=1", "yield=2", "--reason", "x"], 2, "'yield' is given 2"),
        (["correct", "nope", 0, 1.0, "--reason", "x"], 1, "No campaign named 'nope'"),
        (["retract", "rig", 3, "--reason", "x"], 1, "trial 3 is PENDING"),
        (["retract", "rig", -1, "--reason", "x"], 2, "-1"),
        (["history", "rig", 99], 0, "History of rig, trial 99"),
        (["abandon", "rig"], 2, "Give exactly one of"),
        (["abandon", "rig", 99], 1, "Cannot abandon trial 99: no such trial"),
        (["reopen", "rig", 0, "--reason", "x"], 1, "Cannot reopen a COMPLETED trial"),
        (["reopen", "rig", 3], 2, "Missing option '--reason'"),
        (["abandon", "rig", 3, "--all"], 2, "Give exactly one of"),
        (["abandon", "rig", "--older-than", "0h"], 2, "must be a positive number"),
        (["abandon", "rig", "--older-than", "soon"], 2, "followed by m, h, d or w"),
    ],
)
def test_refused_commands_change_nothing(rig, storage_url, args, code, message):
    before = snapshot(rig)
    done = invoke(*args, "--storage", storage_url)
    assert done.exit_code == code, done.output
    assert message in done.output
    after = snapshot(rig)
    assert after[0] == before[0]
    pd.testing.assert_frame_equal(after[1], before[1])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90m", timedelta(minutes=90)), ("12h", timedelta(hours=12)), ("2d", timedelta(days=2)),
     ("1.5w", timedelta(weeks=1.5)), (" 3 d ", timedelta(days=3))],
)  # fmt: skip
def test_durations(text, expected):
    assert Duration().convert(text, None, None) == expected


@pytest.mark.parametrize("text", ["", "2", "d", "-1d", "0m", "2 days", "1y", "nan h"])
def test_bad_durations(text):
    with pytest.raises(click.BadParameter, match="positive number followed by m, h, d or w"):
        Duration().convert(text, None, None)


def test_reopen_and_correct_undo_a_wrongly_failed_trial(rig, storage_url):
    rig.fail(3, reason="jammed")
    rig.fail(4, reason="jammed")
    done = invoke("reopen", "rig", 3, "--reason", "wrong trial", "--storage", storage_url)
    assert done.exit_code == 0, done.output
    assert "Trial 3: failed -> pending (reason: wrong trial)" in done.output
    assert rig.trial(3).state is bl.TrialState.PENDING
    done = invoke("correct", "rig", 4, 63.0, "--reason", "it ran", "--storage", storage_url)
    assert done.exit_code == 0, done.output
    assert "Trial 4: yield failed -> 63" in done.output
    assert rig.trial(4).value == 63.0


def test_status_labels_a_retracted_trial(rig, storage_url):
    rig.retract(1, reason="sensor drift")
    done = invoke("status", "rig", "--storage", storage_url)
    assert "0 failed, 0 abandoned, 1 retracted" in done.output, done.output
