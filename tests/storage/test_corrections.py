"""Corrections, retractions, their audit trail, and bulk abandonment of pending trials."""

from __future__ import annotations

import math
from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

import bo_loop as bl
import bo_loop.campaign
from bo_loop.models.fitting import training_data


def make(url: str, **kwargs) -> bl.Campaign:
    kwargs.setdefault("initial_design_size", 4)
    return bl.Campaign.create(
        "rig", [bl.Real("x", 0.0, 10.0)], bl.Objective("yield"), storage=url, **kwargs
    )


def told(url: str, values: list[float]) -> bl.Campaign:
    campaign = make(url)
    for trial, value in zip(campaign.ask(len(values)), values, strict=True):
        campaign.tell(trial.number, value)
    return campaign


def snapshot(campaign: bl.Campaign) -> tuple[pd.DataFrame, pd.DataFrame]:
    return campaign.to_dataframe(), campaign.history()


def test_correct_keeps_the_old_value_in_the_history(storage_url):
    campaign = told(storage_url, [1.0, 2.0, 3.0])
    trial = campaign.correct(1, 20.5, reason="decimal point misplaced")
    assert trial.state is bl.TrialState.COMPLETED and trial.value == 20.5
    assert bl.Campaign.load("rig", storage=storage_url).trial(1).value == 20.5
    assert campaign.best().number == 1
    history = campaign.history(1)
    assert list(history["action"]) == ["ask", "tell", "correct"]
    last = history.iloc[-1]
    assert (last["old_value"], last["new_value"]) == (2.0, 20.5)
    assert last["reason"] == "decimal point misplaced"
    assert (last["old_state"], last["new_state"]) == ("completed", "completed")
    assert last["at"].tzinfo is not None
    assert campaign.verify() == []


def test_retract_removes_the_value_and_correct_restores_it(storage_url):
    campaign = told(storage_url, [1.0, 9.0, 3.0])
    trial = campaign.retract(1, reason="thermocouple came loose")
    assert trial.state is bl.TrialState.FAILED
    assert trial.value is None
    assert trial.reason == "retracted: thermocouple came loose"
    assert campaign.best().number == 2
    assert campaign.to_dataframe().loc[1, "state"] == "retracted"
    event = campaign.history(1).iloc[-1]
    assert (event["action"], event["old_value"], event["old_state"], event["new_state"]) == (
        "retract", 9.0, "completed", "failed",
    )  # fmt: skip
    with pytest.raises(bl.TrialStateError, match="Cannot retract a FAILED trial"):
        campaign.retract(1, reason="again")
    restored = campaign.correct(1, 8.5, reason="re-measured")
    assert (
        restored.state is bl.TrialState.COMPLETED
        and restored.value == 8.5
        and restored.reason is None
    )
    assert list(campaign.history(1)["action"]) == ["ask", "tell", "retract", "correct"]
    assert campaign.verify() == []


def test_the_next_ask_trains_on_corrected_data(storage_url, monkeypatch):
    campaign = told(storage_url, [1.0, 2.0, 3.0, 4.0, 5.0])
    campaign.correct(0, 10.0, reason="wrong unit")
    campaign.retract(4, reason="contaminated sample")
    seen = {}
    real_propose = bo_loop.campaign.propose

    def spy(space, objective, trials, n, **kwargs):
        seen["Y"] = training_data(space, objective, trials)[1].reshape(-1).tolist()
        return real_propose(space, objective, trials, n, **kwargs)

    monkeypatch.setattr(bo_loop.campaign, "propose", spy)
    (trial,) = campaign.ask(1)
    assert sorted(seen["Y"]) == [2.0, 3.0, 4.0, 10.0]
    assert trial.provenance["n_observations"] == 4


@pytest.mark.parametrize(
    ("action", "args", "error", "message"),
    [
        (
            "correct",
            (3, 1.0, "r"),
            bl.TrialStateError,
            r"Cannot correct a PENDING trial.*campaign.tell\(3, value\)",
        ),
        (
            "correct",
            (9, 1.0, "r"),
            bl.TrialNotFoundError,
            r"Cannot correct trial 9: no such trial \(trial numbers here: 0..3\)",
        ),
        ("correct", (0, math.nan, "r"), bl.ObservationError, "must be finite, but got nan"),
        ("correct", (0, "1.0", "r"), bl.ObservationError, "must be a real number, but got '1.0'"),
        (
            "correct",
            (0, 1.0, ""),
            bl.BoLoopError,
            "needs a reason: a non-empty string, but got reason=''",
        ),
        ("correct", (0, 1.0, None), bl.BoLoopError, "needs a reason"),
        ("correct", (-1, 1.0, "r"), bl.BoLoopError, "trial number must be >= 0"),
        ("retract", (3, "r"), bl.TrialStateError, "Cannot retract a PENDING trial"),
        ("retract", (9, "r"), bl.TrialNotFoundError, "Cannot retract trial 9: no such trial"),
        ("retract", (0, "   "), bl.BoLoopError, "needs a reason"),
        ("retract", (0, 5), bl.BoLoopError, "needs a reason: a non-empty string, but got reason=5"),
        (
            "tell",
            (0, 1.0),
            bl.TrialStateError,
            r"To change its value, use campaign.correct\(0, value",
        ),
    ],
)
def test_refused_corrections_change_nothing(storage_url, action, args, error, message):
    campaign = make(storage_url)
    campaign.ask(4)
    campaign.tell(0, 1.0)
    campaign.tell(1, 2.0)
    campaign.fail(2, reason="broke")
    before = snapshot(campaign)
    with pytest.raises(error, match=message):
        getattr(campaign, action)(*args)
    after = snapshot(campaign)
    pd.testing.assert_frame_equal(after[0], before[0])
    pd.testing.assert_frame_equal(after[1], before[1])


def test_abandon_stale_frees_only_old_pending_trials(storage_url):
    campaign = make(storage_url)
    old = campaign.ask(3)
    campaign.tell(old[0].number, 1.0)
    engine = sa.create_engine(storage_url)
    with engine.begin() as conn:  # age the first ask by two days, as a silent rig would
        conn.execute(
            sa.text("UPDATE trials SET created_at = :t WHERE number < 3"),
            {"t": old[0].created_at - timedelta(days=2)},
        )
    engine.dispose()
    fresh = campaign.ask(1)
    gone = campaign.abandon_stale(timedelta(days=1))
    assert [t.number for t in gone] == [1, 2]
    assert all(t.state is bl.TrialState.ABANDONED for t in gone)
    assert gone[0].reason == "no result within 1 day, 0:00:00"
    assert campaign.trial(fresh[0].number).state is bl.TrialState.PENDING
    assert campaign.trial(0).state is bl.TrialState.COMPLETED
    assert campaign.abandon_stale(timedelta(days=1)) == []
    # The late result is refused with the way to keep it, and that way works.
    with pytest.raises(bl.TrialStateError, match=r"campaign.correct\(1, value, reason=...\)"):
        campaign.tell(1, 5.0)
    late = campaign.correct(1, 5.0, reason="the rig reported late")
    assert late.value == 5.0 and late.state is bl.TrialState.COMPLETED
    assert campaign.verify() == []


def test_abandon_pending_in_bulk(storage_url):
    campaign = make(storage_url)
    campaign.ask(5)
    campaign.tell(0, 1.0)
    some = campaign.abandon_pending("rig down for maintenance", numbers=[0, 1, 2])
    assert [t.number for t in some] == [1, 2]
    rest = campaign.abandon_pending("end of shift")
    assert [t.number for t in rest] == [3, 4]
    assert [t.reason for t in rest] == ["end of shift"] * 2
    assert campaign.trials("pending") == []
    history = campaign.history()
    assert list(history[history["action"] == "abandon"]["number"]) == [1, 2, 3, 4]
    assert campaign.abandon_pending("nothing left") == []
    (again,) = campaign.ask(1)
    assert again.number == 5
    assert campaign.verify() == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda c: c.abandon_stale(3600),
            "older_than must be a positive datetime.timedelta, but got 3600",
        ),
        (lambda c: c.abandon_stale(timedelta(0)), "must be a positive datetime.timedelta"),
        (lambda c: c.abandon_pending(""), "needs a reason"),
        (
            lambda c: c.abandon_pending("r", numbers="12"),
            "numbers must be a list of trial numbers, but got '12'",
        ),
        (
            lambda c: c.abandon_pending("r", numbers=[1, "2"]),
            "trial number must be an integer, but got '2'",
        ),
    ],
)
def test_bad_abandon_arguments_change_nothing(sqlite_url, call, message):
    campaign = make(sqlite_url)
    campaign.ask(3)
    before = snapshot(campaign)
    with pytest.raises(bl.BoLoopError, match=message):
        call(campaign)
    pd.testing.assert_frame_equal(snapshot(campaign)[0], before[0])


def test_verify_reports_half_written_trials(storage_url):
    campaign = told(storage_url, [1.0, 2.0])
    campaign.ask(1)
    assert campaign.verify() == []
    engine = sa.create_engine(storage_url)
    with engine.begin() as conn:
        # Simulate what a torn write would leave: a COMPLETED trial without its value, a
        # value on a pending trial, and a gap in the numbers.
        ids = dict(conn.execute(sa.text("SELECT number, id FROM trials")).all())
        conn.execute(sa.text("DELETE FROM observations WHERE trial_id = :i"), {"i": ids[0]})
        conn.execute(
            sa.text(
                "INSERT INTO observations (trial_id, name, value, created_at) VALUES (:i, 'yield', 1.0, :t)"
            ),
            {"i": ids[2], "t": "2026-01-01 00:00:00"},
        )
        conn.execute(sa.text("UPDATE trials SET number = 7 WHERE number = 1"))
    engine.dispose()
    problems = campaign.verify()
    assert problems[0] == "trial numbers are not 0..2: duplicated [], missing [1], beyond [7]"
    assert "trial 0 is COMPLETED with 0 values" in problems
    assert "trial 2 is PENDING but has a value [1.0]" in problems


def test_delete_removes_the_history_too(storage_url):
    campaign = told(storage_url, [1.0])
    campaign.correct(0, 2.0, reason="r")
    assert bl.Campaign.delete("rig", storage=storage_url) == 1
    again = make(storage_url)
    assert again.history().empty


# -- undo gaps: a failed or abandoned trial can be corrected or reopened -------------------------


@pytest.mark.parametrize("mark", ["fail", "abandon"])
def test_a_failed_or_abandoned_trial_can_be_corrected(storage_url, mark):
    campaign = told(storage_url, [1.0, 2.0])
    (trial,) = campaign.ask(1)
    getattr(campaign, mark)(trial.number, reason="wrong trial marked")
    fixed = campaign.correct(trial.number, 7.5, reason="it did run: 7.5")
    assert (fixed.state, fixed.value, fixed.reason) == (bl.TrialState.COMPLETED, 7.5, None)
    assert campaign.best().number == trial.number
    event = campaign.history(trial.number).iloc[-1]
    old = {"fail": "failed", "abandon": "abandoned"}[mark]
    assert (event["action"], event["old_state"], event["new_state"], event["new_value"]) == (
        "correct", old, "completed", 7.5,
    )  # fmt: skip
    assert campaign.verify() == []


@pytest.mark.parametrize("mark", ["fail", "abandon", "retract"])
def test_reopen_returns_a_trial_to_pending(storage_url, mark):
    campaign = told(storage_url, [1.0, 2.0])
    (trial,) = campaign.ask(1)
    if mark == "retract":
        campaign.tell(trial.number, 3.0)
        campaign.retract(trial.number, reason="sensor drift")
    else:
        getattr(campaign, mark)(trial.number, reason="marked the wrong trial")
    reopened = campaign.reopen(trial.number, reason="marked the wrong trial")
    assert (reopened.state, reopened.value, reopened.reason, reopened.finished_at) == (
        bl.TrialState.PENDING, None, None, None,
    )  # fmt: skip
    event = campaign.history(trial.number).iloc[-1]
    assert (event["action"], event["new_state"], event["reason"]) == (
        "reopen", "pending", "marked the wrong trial",
    )  # fmt: skip
    assert campaign.verify() == []
    assert campaign.tell(trial.number, 4.0).value == 4.0
    assert campaign.verify() == []


def test_telling_a_completed_trial_shows_the_stored_value(storage_url):
    campaign = told(storage_url, [1.0, 83.1])
    stamp = campaign.trial(1).finished_at.strftime("%Y-%m-%d %H:%M:%S")
    with pytest.raises(bl.TrialStateError) as info:
        campaign.tell(1, 90.0)
    assert f"trial 1 is COMPLETED with yield=83.1 (told at {stamp} UTC)" in str(info.value)


def test_abandoning_a_missing_trial_names_it_and_abandons_nothing(storage_url):
    campaign = make(storage_url)
    campaign.ask(2)
    with pytest.raises(bl.TrialNotFoundError, match=r"Cannot abandon trials 5, 7: no such trials"):
        campaign.abandon_pending("rig down", numbers=[0, 5, 7])
    assert [t.state for t in campaign.trials()] == [bl.TrialState.PENDING] * 2


def test_correcting_to_the_stored_value_records_nothing(storage_url):
    campaign = told(storage_url, [1.0, 2.0])
    before = snapshot(campaign)
    same = campaign.correct(1, 2.0, reason="re-read: it was right")
    assert (same.state, same.value) == (bl.TrialState.COMPLETED, 2.0)
    pd.testing.assert_frame_equal(snapshot(campaign)[0], before[0])
    pd.testing.assert_frame_equal(snapshot(campaign)[1], before[1])
    assert campaign.verify() == []
