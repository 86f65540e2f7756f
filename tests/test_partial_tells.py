"""Several outcomes per trial, told in parts (issue 12): a trial stays pending for the outcomes it
misses, a told value is never overwritten nor lost, and a refused input changes no stored row."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

import bo_loop as bl

SPACE = [bl.Real("x", 0.0, 1.0), bl.Integer("n", 1, 5)]
OBJECTIVES = [bl.Objective("yield", "maximize", bounds=(0, 100)), bl.Objective("cost", "minimize")]
PURITY = bl.OutcomeConstraint("purity", ">=", 95.0)


def create(url: str) -> bl.Campaign:
    return bl.Campaign.create(
        "rig", SPACE, objectives=OBJECTIVES, outcome_constraints=[PURITY], storage=url, seed=0
    )


def rows(url: str) -> dict[str, list[tuple]]:
    """Every stored row of every table, ordered: to show that a refusal changed nothing."""
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    out = {}
    with engine.connect() as conn:
        for name, table in sorted(meta.tables.items()):
            out[name] = sorted(tuple(map(repr, r)) for r in conn.execute(table.select()))
    engine.dispose()
    return out


def test_partial_tells_keep_the_trial_pending_and_every_value(storage_url):
    campaign = create(storage_url)
    t0, t1, *_ = campaign.ask(4)
    done = campaign.tell(t0.number, {"yield": 81.2, "cost": 3.1, "purity": 96.4})
    assert done.state is bl.TrialState.COMPLETED and done.missing == ()
    part = campaign.tell(t1.number, {"yield": 77.0})
    assert part.state is bl.TrialState.PENDING
    assert part.values == {"yield": 77.0}
    assert part.missing == ("cost", "purity")
    # Another Campaign object (another process, another day) sees the same half-told trial.
    later = bl.Campaign.load("rig", storage=storage_url)
    seen = later.trial(t1.number)
    assert (seen.state, seen.values, seen.missing) == (part.state, part.values, part.missing)
    assert t1.number in [t.number for t in later.trials("pending")]
    finished = later.tell(t1.number, {"cost": 2.9, "purity": 94.0}, note="purity from the lab")
    assert finished.state is bl.TrialState.COMPLETED
    assert finished.values == {"yield": 77.0, "cost": 2.9, "purity": 94.0}
    assert finished.missing == ()
    frame = campaign.to_dataframe().set_index("number")
    assert list(frame.columns[frame.columns.get_loc("n") + 1 :][:3]) == ["yield", "cost", "purity"]
    assert frame.loc[t1.number, ["yield", "cost", "purity"]].tolist() == [77.0, 2.9, 94.0]
    assert pd.isna(frame.loc[2, "yield"])
    history = campaign.history(t1.number)
    told = history[history["action"] == "tell"]
    assert told[["outcome", "new_value", "new_state"]].values.tolist() == [
        ["yield", 77.0, "pending"],
        ["cost", 2.9, "completed"],
        ["purity", 94.0, "completed"],
    ]
    # Infeasible (purity 94 < 95): never on the front, whatever its yield and cost.
    assert [t.number for t in campaign.pareto_front()] == [t0.number]
    assert campaign.verify() == []


def test_a_told_value_is_never_overwritten_by_a_tell(storage_url):
    campaign = create(storage_url)
    (trial, *_) = campaign.ask(2)
    campaign.tell(trial.number, {"yield": 77.0})
    before = rows(storage_url)
    with pytest.raises(bl.TrialStateError, match=r"already holds yield=77.0.*campaign.correct"):
        campaign.tell(trial.number, {"yield": 70.0, "cost": 1.0})
    with pytest.raises(bl.TrialStateError, match=r"trial 0 already has yield=77.0"):
        campaign.tell_many({trial.number: {"yield": 70.0}})
    assert rows(storage_url) == before
    fixed = campaign.correct(trial.number, {"yield": 70.0}, reason="misread")
    assert fixed.state is bl.TrialState.PENDING and fixed.values == {"yield": 70.0}
    history = campaign.history(trial.number)
    last = history.iloc[-1]
    assert (last["action"], last["outcome"], last["old_value"], last["new_value"]) == (
        "correct", "yield", 77.0, 70.0,
    )  # fmt: skip
    assert campaign.verify() == []


def test_tell_many_mixes_partial_and_complete_results(storage_url):
    campaign = create(storage_url)
    a, b, c = campaign.ask(3)
    done = campaign.tell_many(
        {a.number: {"yield": 50.0, "cost": 1.0, "purity": 99.0}, b.number: {"cost": 2.0}},
        failed={c.number: "rig jammed"},
    )
    assert [t.state for t in done] == [
        bl.TrialState.COMPLETED, bl.TrialState.PENDING, bl.TrialState.FAILED,
    ]  # fmt: skip
    assert done[1].missing == ("yield", "purity")
    # The round for b's other outcomes completes it; the value told before is kept.
    (b2,) = campaign.tell_many({b.number: {"yield": 60.0, "purity": 96.0}})
    assert b2.state is bl.TrialState.COMPLETED
    assert b2.values == {"yield": 60.0, "cost": 2.0, "purity": 96.0}
    assert campaign.verify() == []


def test_a_failed_trial_keeps_what_was_told_and_correct_completes_it(storage_url):
    campaign = create(storage_url)
    (trial, *_) = campaign.ask(2)
    campaign.tell(trial.number, {"cost": 2.5})
    failed = campaign.fail(trial.number, reason="rig jammed")
    assert failed.state is bl.TrialState.FAILED and failed.values == {"cost": 2.5}
    with pytest.raises(bl.TrialStateError, match=r"without every outcome: \['purity'\]"):
        campaign.correct(trial.number, {"yield": 10.0}, reason="ran after all")
    fixed = campaign.correct(trial.number, {"yield": 10.0, "purity": 97.0}, reason="ran after all")
    assert fixed.state is bl.TrialState.COMPLETED
    assert fixed.values == {"yield": 10.0, "cost": 2.5, "purity": 97.0}
    retracted = campaign.retract(trial.number, reason="sensor drift")
    assert retracted.label == "retracted" and retracted.values == {}
    history = campaign.history(trial.number)
    gone = history[history["action"] == "retract"]
    assert sorted(zip(gone["outcome"], gone["old_value"], strict=True)) == [
        ("cost", 2.5), ("purity", 97.0), ("yield", 10.0),
    ]  # fmt: skip
    assert campaign.verify() == []


def test_manual_rows_with_blank_outcomes_wait_for_them(storage_url):
    campaign = create(storage_url)
    report = campaign.add_observations(
        pd.DataFrame(
            {"x": [0.1, 0.2], "n": [1, 2], "yield": [50.0, 60.0], "cost": [1.0, None],
             "purity": [96.0, None]}
        )
    )  # fmt: skip
    first, second = report.added
    assert first.state is bl.TrialState.COMPLETED
    assert second.state is bl.TrialState.PENDING and second.missing == ("cost", "purity")
    completed = campaign.tell(second.number, {"cost": 1.5, "purity": 97.0})
    assert completed.state is bl.TrialState.COMPLETED
    assert campaign.verify() == []


BAD_INPUTS = [
    ("tell-unknown-outcome", lambda c: c.tell(1, {"purty": 96.0}), bl.ObservationError,
     r"Unknown outcome\(s\) \['purty'\]"),
    ("tell-outside-bounds", lambda c: c.tell(1, {"yield": 100.5, "cost": 1.0}), bl.ObservationError,
     r"'yield' must lie within its bounds \[0.0, 100.0\], but got yield=100.5"),
    ("tell-below-bounds", lambda c: c.tell(1, {"yield": -0.1}), bl.ObservationError,
     "must lie within its bounds"),
    ("tell-plain-number", lambda c: c.tell(1, 5.0), bl.ObservationError, "tell a dict"),
    ("tell-empty-dict", lambda c: c.tell(1, {}), bl.ObservationError, "at least one outcome"),
    ("tell-nan", lambda c: c.tell(1, {"cost": float("nan")}), bl.ObservationError,
     "'cost': An outcome must be finite"),
    ("tell-many-one-bad", lambda c: c.tell_many({1: {"yield": 5.0}, 2: {"yield": 101.0}}),
     bl.ObservationError, r"yield=101.0"),
    ("add-outside-bounds", lambda c: c.add_observation({"x": 0.5, "n": 2}, {"yield": 200.0}),
     bl.ObservationError, "must lie within its bounds"),
    ("add-unknown-outcome", lambda c: c.add_observation({"x": 0.5, "n": 2}, {"colour": 2.0}),
     bl.ObservationError, "Unknown outcome"),
    ("import-one-bad-row",
     lambda c: c.add_observations(pd.DataFrame(
         {"x": [0.1, 0.2], "n": [1, 2], "yield": [50.0, 150.0], "cost": [1.0, 1.0],
          "purity": [96.0, 96.0]})),
     bl.ImportRowsError, "must lie within its bounds"),
    ("import-row-of-blanks",
     lambda c: c.add_observations(pd.DataFrame(
         {"x": [0.1], "n": [1], "yield": [None], "cost": [None], "purity": [None]})),
     bl.ImportRowsError, "a row needs at least one"),
    ("correct-outside-bounds", lambda c: c.correct(0, {"yield": 101.0}, reason="r"),
     bl.ObservationError, "must lie within its bounds"),
    ("correct-untold-of-pending", lambda c: c.correct(1, {"purity": 90.0}, reason="r"),
     bl.TrialStateError, "Tell it instead"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "action", "error", "message"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_is_refused_with_nothing_changed(sqlite_url, label, action, error, message):
    campaign = create(sqlite_url)
    trials = campaign.ask(3)
    campaign.tell(trials[0].number, {"yield": 81.0, "cost": 3.0, "purity": 96.0})
    campaign.tell(trials[1].number, {"cost": 2.0})
    before = rows(sqlite_url)
    with pytest.raises(error, match=message):
        action(campaign)
    assert rows(sqlite_url) == before


def test_single_objective_with_bounds_refuses_outside_and_clips_predictions(sqlite_url):
    campaign = bl.Campaign.create(
        "c", SPACE, bl.Objective("yield", bounds=(0, 100)), storage=sqlite_url, seed=1,
        initial_design_size=4,
    )  # fmt: skip
    # Outcomes at the cap: an unclipped GP overshoots 100 between and beyond them.
    for i, x in enumerate([0.0, 0.25, 0.5, 0.75, 1.0]):
        campaign.add_observation({"x": x, "n": 3}, 100.0 if i in (2, 3) else 60.0 + 10 * i)
    before = rows(sqlite_url)
    with pytest.raises(bl.ObservationError, match="must lie within its bounds"):
        campaign.add_observation({"x": 0.6, "n": 3}, 100.01)
    assert rows(sqlite_url) == before
    grid = pd.DataFrame({"x": [i / 40 for i in range(41)], "n": [3] * 41})
    predicted = campaign.predict(grid)
    assert predicted["mean"].between(0.0, 100.0).all()
    rec = campaign.recommend()
    assert 0.0 <= rec.lower <= rec.mean <= rec.upper <= 100.0


def test_notebook_summaries_show_every_outcome_and_the_feasible_front(sqlite_url):
    campaign = create(sqlite_url)
    a, b = campaign.ask(2)
    campaign.tell(a.number, {"yield": 81.0, "cost": 3.0, "purity": 96.0})
    campaign.tell(b.number, {"yield": 77.0})
    html = campaign._repr_html_()
    assert "minimize <code>cost</code>" in html and "purity &gt;= 95" in html
    assert "Feasible Pareto front: 1 trial(s)" in html
    assert "awaiting cost, purity" in campaign.trial(b.number)._repr_html_()


def test_two_colleagues_telling_different_outcomes_at_once_lose_nothing(storage_url):
    import threading

    create(storage_url)
    numbers = [t.number for t in bl.Campaign.load("rig", storage=storage_url).ask(4)]
    parts = [{"yield": 70.0, "cost": 2.0}, {"purity": 96.0}]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def colleague(part: dict) -> None:
        mine = bl.Campaign.load("rig", storage=storage_url)  # each opens the campaign anew
        try:
            for n in numbers:
                barrier.wait(timeout=60)
                mine.tell(n, part)
        except BaseException as e:  # reported below: a thread's exception is otherwise lost
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=colleague, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    campaign = bl.Campaign.load("rig", storage=storage_url)
    for n in numbers:
        trial = campaign.trial(n)
        assert trial.state is bl.TrialState.COMPLETED
        assert trial.values == {"yield": 70.0, "cost": 2.0, "purity": 96.0}
    assert campaign.verify() == []


def test_from_dataframe_with_several_outcomes(sqlite_url):
    frame = pd.DataFrame(
        {"x": [0.1, 0.5, 0.9], "n": [1, 3, 5], "yield": [50.0, 60.0, 70.0],
         "cost": [1.0, 2.0, None], "purity": [96.0, 94.0, 97.0]}
    )  # fmt: skip
    campaign = bl.Campaign.from_dataframe(
        "hist", frame, objectives=OBJECTIVES, outcome_constraints=[PURITY], storage=sqlite_url
    )
    assert campaign.space.names == ["x", "n"]
    states = [t.state for t in campaign.trials()]
    assert states == [bl.TrialState.COMPLETED, bl.TrialState.COMPLETED, bl.TrialState.PENDING]
    assert [t.number for t in campaign.pareto_front()] == [0]  # trial 1 breaks purity >= 95
    with pytest.raises(bl.ObjectiveError, match="not both"):
        bl.Campaign.from_dataframe(
            "other", frame, "yield", objectives=OBJECTIVES, storage=sqlite_url
        )


def test_correct_records_only_the_values_that_change(storage_url):
    campaign = create(storage_url)
    done, part, *_ = campaign.ask(3)
    campaign.tell(done.number, {"yield": 81.2, "cost": 3.1, "purity": 96.4})
    before = rows(storage_url)
    campaign.correct(done.number, {"yield": 81.2, "cost": 3.1}, reason="same again")
    assert rows(storage_url) == before  # every value unchanged: nothing written
    fixed = campaign.correct(done.number, {"yield": 81.2, "cost": 2.9}, reason="cost re-read")
    assert fixed.values == {"yield": 81.2, "cost": 2.9, "purity": 96.4}
    corrected = campaign.history(done.number).query("action == 'correct'")
    assert corrected[["outcome", "old_value", "new_value"]].values.tolist() == [["cost", 3.1, 2.9]]
    # A failed trial completed by correct: the value it already held is not logged again.
    campaign.tell(part.number, {"cost": 2.5})
    campaign.fail(part.number, reason="rig jammed")
    completed = campaign.correct(
        part.number, {"yield": 10.0, "cost": 2.5, "purity": 97.0}, reason="ran after all"
    )
    assert completed.state is bl.TrialState.COMPLETED
    corrected = campaign.history(part.number).query("action == 'correct'")
    assert sorted(corrected["outcome"]) == ["purity", "yield"]
    assert set(corrected["new_state"]) == {"completed"}
    assert campaign.verify() == []
