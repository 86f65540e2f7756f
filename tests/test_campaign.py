from __future__ import annotations

import functools
import itertools
import math
import os
import warnings

import pandas as pd
import pytest

import bo_loop as bl


def forrester(x: float) -> float:
    return x * math.sin(x) + x * math.cos(2 * x)


def make(storage_url: str, name: str = "rig", **kwargs) -> bl.Campaign:
    kwargs.setdefault("objective", bl.Objective("yield", goal="maximize"))
    return bl.Campaign.create(
        name,
        kwargs.pop("parameters", [bl.Real("x", 0.0, 10.0)]),
        storage=storage_url,
        **kwargs,
    )


def snapshot(campaign: bl.Campaign) -> pd.DataFrame:
    return campaign.to_dataframe().drop(columns=["created_at", "finished_at"])


def test_ask_tell_load_round_trip(storage_url):
    campaign = make(storage_url, seed=3)
    trials = campaign.ask(2)
    assert [t.number for t in trials] == [0, 1]
    assert all(t.state is bl.TrialState.PENDING for t in trials)
    assert all(t.provenance["generator"] == "sobol" for t in trials)
    campaign.tell(0, 1.5)
    campaign.tell(1, {"yield": 2.5})
    again = bl.Campaign.load("rig", storage=storage_url)
    assert [(t.number, t.state, t.value) for t in again.trials()] == [
        (0, bl.TrialState.COMPLETED, 1.5),
        (1, bl.TrialState.COMPLETED, 2.5),
    ]
    assert again.best().number == 1
    assert again.trials()[0].params == trials[0].params


def test_create_existing_name_says_how_to_load(storage_url):
    make(storage_url)
    with pytest.raises(bl.CampaignExistsError, match=r"bl.Campaign.load\('rig', storage=...\)"):
        make(storage_url)


def test_load_missing_lists_existing(storage_url):
    make(storage_url, name="alpha")
    make(storage_url, name="beta")
    with pytest.raises(
        bl.CampaignNotFoundError, match="No campaign named 'gamma'.*'alpha', 'beta'"
    ):
        bl.Campaign.load("gamma", storage=storage_url)
    assert bl.Campaign.list(storage_url) == ["alpha", "beta"]


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (math.nan, bl.ObservationError, "must be finite, but got nan"),
        (math.inf, bl.ObservationError, "must be finite, but got inf"),
        (-math.inf, bl.ObservationError, "must be finite"),
        (None, bl.ObservationError, "must be a real number, but got None"),
        ("12.5", bl.ObservationError, "must be a real number, but got '12.5'"),
        (True, bl.ObservationError, "must be a real number, but got True"),
        (
            {"purity": 1.0},
            bl.ObservationError,
            r"exactly the objective 'yield', but got keys \['purity'\]",
        ),
        ({"yield": 1.0, "x": 2.0}, bl.ObservationError, "exactly the objective"),
        ({"yield": math.nan}, bl.ObservationError, "must be finite"),
    ],
)
def test_bad_tell_values_change_nothing(storage_url, value, error, message):
    campaign = make(storage_url)
    campaign.ask(2)
    campaign.tell(1, 4.0)
    before = snapshot(campaign)
    with pytest.raises(error, match=message):
        campaign.tell(0, value)
    pd.testing.assert_frame_equal(snapshot(campaign), before)


def test_tell_unknown_or_finished_trials_changes_nothing(storage_url):
    campaign = make(storage_url)
    campaign.ask(3)
    campaign.tell(0, 1.0)
    campaign.fail(1, reason="rig jammed")
    before = snapshot(campaign)
    with pytest.raises(bl.TrialNotFoundError, match=r"no such trial \(trial numbers here: 0..2\)"):
        campaign.tell(7, 1.0)
    with pytest.raises(bl.TrialStateError, match="Cannot tell a COMPLETED trial"):
        campaign.tell(0, 2.0)
    with pytest.raises(bl.TrialStateError, match="Cannot tell a FAILED trial"):
        campaign.tell(1, 2.0)
    with pytest.raises(bl.TrialStateError, match="Cannot fail a COMPLETED trial"):
        campaign.fail(0)
    with pytest.raises(bl.BoLoopError, match="trial number must be an integer, but got '2'"):
        campaign.tell("2", 1.0)
    with pytest.raises(bl.BoLoopError, match="trial number must be >= 0, but got trial number=-1"):
        campaign.tell(-1, 1.0)
    pd.testing.assert_frame_equal(snapshot(campaign), before)
    assert campaign.trial(1).reason == "rig jammed"


@pytest.mark.parametrize("n", [0, -1, 1001, 2.0, "4", True])
def test_ask_rejects_bad_n(sqlite_url, n):
    campaign = make(sqlite_url)
    with pytest.raises(bl.BoLoopError, match="n must be"):
        campaign.ask(n)
    assert campaign.trials() == []


def test_bad_create_arguments(sqlite_url):
    with pytest.raises(bl.ObjectiveError, match="goal must be one of"):
        bl.Objective("y", goal="maximise")
    with pytest.raises(bl.ObjectiveError, match="must differ from every parameter name"):
        make(sqlite_url, objective=bl.Objective("x"))
    with pytest.raises(bl.BoLoopError, match="surrogate must be one of"):
        make(sqlite_url, surrogate="forest")
    with pytest.raises(
        bl.BoLoopError, match="seed must be between 0 and 2147483647, but got seed=-1"
    ):
        make(sqlite_url, seed=-1)
    with pytest.raises(bl.BoLoopError, match="campaign name must be a non-empty string"):
        make(sqlite_url, name="")
    with pytest.raises(bl.StorageError, match="SQLite or PostgreSQL URL"):
        make("mysql://nobody@localhost/db")
    assert not os.path.exists(sqlite_url.removeprefix("sqlite:///"))  # nothing created


def test_abandoned_points_may_return_failed_may_not(sqlite_url):
    campaign = make(sqlite_url, parameters=[bl.Integer("n", 1, 3)], initial_design_size=10)
    first = campaign.ask(3)
    assert sorted(t.params["n"] for t in first) == [1, 2, 3]
    campaign.fail(0, reason="broke")
    campaign.abandon(1)
    campaign.abandon(2)
    again = campaign.ask(2)
    assert sorted(t.params["n"] for t in again) == sorted(t.params["n"] for t in first[1:])
    with pytest.raises(bl.SpaceError, match="untried points"):
        campaign.ask(1)
    assert len(campaign.trials()) == 5


@pytest.mark.parametrize("goal", ["minimize", "maximize"])
def test_gp_campaign_finds_the_optimum(sqlite_url, goal):
    sign = 1.0 if goal == "minimize" else -1.0
    campaign = make(sqlite_url, objective=bl.Objective("y", goal=goal), seed=1)
    for _ in range(18):
        (trial,) = campaign.ask()
        campaign.tell(trial.number, sign * forrester(trial.params["x"]))
    best = campaign.best()
    # The minimum of x sin x + x cos 2x on [0, 10] is -9.5083 at x = 4.7954.
    assert sign * best.value < -9.4
    assert best.params["x"] == pytest.approx(4.7954, abs=0.05)
    assert campaign.trials()[-1].provenance["generator"] == "gp"
    rec = campaign.recommend()
    assert rec.params["x"] == pytest.approx(4.7954, abs=0.05)
    assert rec.lower <= rec.mean <= rec.upper
    pred = campaign.predict(pd.DataFrame({"x": [4.7954, 0.5]}))
    assert list(pred.columns) == ["mean", "sd"]
    assert pred["mean"].iloc[0] == pytest.approx(sign * -9.5083, abs=0.1)
    # The campaign's own table predicts as it is: columns besides the parameters are ignored.
    table = campaign.to_dataframe()
    again = campaign.predict(table)
    assert list(again.index) == list(table.index)
    assert again["mean"].to_numpy() == pytest.approx(
        campaign.predict(table[["x"]])["mean"].to_numpy()
    )


def test_provenance_of_model_proposals(sqlite_url):
    campaign = make(sqlite_url, initial_design_size=4, seed=2)
    for t in campaign.ask(4):
        campaign.tell(t.number, forrester(t.params["x"]))
    (trial,) = campaign.ask()
    p = trial.provenance
    assert p["generator"] == "gp" and p["acquisition"] == "logei"
    assert p["n_observations"] == 4
    assert math.isfinite(p["acquisition_value"]) and p["predicted_sd"] > 0
    assert math.isfinite(p["predicted_mean"])


def test_mixed_space_proposals_are_exact(storage_url):
    campaign = make(
        storage_url,
        parameters=[
            bl.Real("temperature", 20.0, 120.0),
            bl.Integer("pressure", 1, 10),
            bl.Categorical("catalyst", ["A", "B", "C"]),
            bl.Real("flow", 0.1, 10.0, log=True),
        ],
        initial_design_size=6,
        seed=5,
    )

    def measure(p):
        bonus = {"A": 0.0, "B": 3.0, "C": 1.0}[p["catalyst"]]
        return (
            -(((p["temperature"] - 70) / 30) ** 2)
            - (p["pressure"] - 4) ** 2 / 10
            + bonus
            + math.log(p["flow"])
        )

    for t in campaign.ask(6):
        campaign.tell(t.number, measure(t.params))
    for _ in range(2):
        for t in campaign.ask(3):
            assert type(t.params["pressure"]) is int and 1 <= t.params["pressure"] <= 10
            assert t.params["catalyst"] in ("A", "B", "C")
            assert 0.1 <= t.params["flow"] <= 10.0
            # The round rule (acquisition setting batch): LogEI's first point, qLogNEI after.
            assert t.provenance["acquisition"] == "logei_qlognei"
            campaign.tell(t.number, measure(t.params))
    keys = [tuple(sorted(t.params.items())) for t in campaign.trials()]
    assert len(set(keys)) == len(keys), "a proposal repeated an existing trial"


def test_integer_space_never_repeats_a_trial(sqlite_url):
    campaign = make(
        sqlite_url,
        parameters=[bl.Integer("a", 0, 3), bl.Integer("b", 0, 3)],
        initial_design_size=4,
        seed=0,
    )
    for _ in range(8):
        for t in campaign.ask(1):
            campaign.tell(t.number, -((t.params["a"] - 2) ** 2) - (t.params["b"] - 1) ** 2)
    keys = [(t.params["a"], t.params["b"]) for t in campaign.trials()]
    assert len(set(keys)) == len(keys) == 8
    assert campaign.best().params == {"a": 2, "b": 1}


def test_pending_trials_are_avoided(sqlite_url):
    campaign = make(sqlite_url, initial_design_size=5, seed=4)
    for t in campaign.ask(5):
        campaign.tell(t.number, forrester(t.params["x"]))
    (alone,) = campaign.ask(1)
    # Ask again while that trial is still pending: qLogNEI with it as a pending point (the
    # round rule's, acquisition setting batch "logei_qlognei").
    (second,) = campaign.ask(1)
    assert second.provenance["acquisition"] == "logei_qlognei"
    assert abs(second.params["x"] - alone.params["x"]) > 0.05
    batch = campaign.ask(3)
    xs = sorted([alone.params["x"], second.params["x"]] + [t.params["x"] for t in batch])
    assert min(b - a for a, b in itertools.pairwise(xs)) > 0.02


def test_near_duplicate_observations_ask_without_numerical_warnings(sqlite_url):
    # Replicates at (almost) one setting make the GP's covariance nearly singular; GPyTorch adds
    # jitter, which is right, and its NumericalWarning must not reach the user's notebook.
    from linear_operator.utils.warnings import NumericalWarning

    campaign = make(sqlite_url, parameters=[bl.Real("x", 0, 1), bl.Real("z", 0, 1)])
    replicates = [{"x": 0.5 + 1e-9 * i, "z": 0.5, "yield": 1.0 + 1e-6 * i} for i in range(30)]
    spread = [{"x": 0.1 * i, "z": 0.2, "yield": float(i)} for i in range(1, 8)]
    campaign.add_observations(pd.DataFrame(replicates + spread))
    with warnings.catch_warnings():
        warnings.simplefilter("error", NumericalWarning)
        assert len(campaign.ask(2)) == 2


def test_add_observation_validates_against_the_space(storage_url):
    campaign = make(storage_url, parameters=[bl.Real("x", 0, 10), bl.Integer("n", 1, 5)])
    trial = campaign.add_observation({"x": 2.5, "n": 3.0}, 7.0)
    assert trial.source == "manual" and trial.params == {"x": 2.5, "n": 3}
    assert type(trial.params["n"]) is int
    before = snapshot(campaign)
    with pytest.raises(bl.SpaceError, match=r"'x' must lie in \[0.0, 10.0\], but got 12"):
        campaign.add_observation({"x": 12, "n": 3}, 1.0)
    with pytest.raises(bl.SpaceError, match="'n' must be an integer, but got 2.5"):
        campaign.add_observation({"x": 1, "n": 2.5}, 1.0)
    with pytest.raises(bl.ObservationError):
        campaign.add_observation({"x": 1, "n": 2}, math.nan)
    pd.testing.assert_frame_equal(snapshot(campaign), before)


def test_add_observations_is_all_or_nothing(storage_url):
    campaign = make(storage_url, parameters=[bl.Real("x", 0, 10), bl.Categorical("c", ["A", "B"])])
    rows = pd.DataFrame(
        {"x": [1.0, 11.0, 3.0, 4.0], "c": ["A", "B", "Z", "B"], "yield": [1.0, 2.0, 3.0, None]}
    )
    with pytest.raises(bl.ImportRowsError) as info:
        campaign.add_observations(rows)
    assert [label for label, _ in info.value.problems] == [1, 2, 3]
    assert "row 2: 'c' must be one of ['A', 'B'], but got 'Z'" in str(info.value)
    assert "row 3: the outcome 'yield' is missing" in str(info.value)
    assert campaign.trials() == []
    report = campaign.add_observations(rows, on_error="skip")
    assert [t.params for t in report.added] == [{"x": 1.0, "c": "A"}]
    assert len(report.rejected) == 3
    with pytest.raises(bl.ImportRowsError, match=r"unknown column\(s\) \['extra'\]"):
        campaign.add_observations(rows.assign(extra=1), on_error="skip")
    assert len(campaign.trials()) == 1


def test_to_dataframe_columns(sqlite_url):
    campaign = make(sqlite_url, parameters=[bl.Real("x", 0, 10), bl.Categorical("c", ["A", "B"])])
    campaign.ask(2)
    campaign.tell(0, 3.0)
    df = campaign.to_dataframe()
    assert list(df.columns[:5]) == ["number", "state", "x", "c", "yield"]
    assert list(df["state"]) == ["completed", "pending"]
    assert df["yield"].iloc[0] == 3.0 and pd.isna(df["yield"].iloc[1])
    assert set(df["source"]) == {"bo_loop"}


def test_set_surrogate_keeps_data_and_is_stored(sqlite_url):
    campaign = make(sqlite_url)
    campaign.ask(2)
    campaign.tell(0, 1.0)
    before = snapshot(campaign)
    campaign.set_surrogate("dngo", {"ensemble": 2})
    assert bl.Campaign.load("rig", storage=sqlite_url).surrogate == "dngo"
    assert bl.Campaign.load("rig", storage=sqlite_url).surrogate_settings["ensemble"] == 2
    pd.testing.assert_frame_equal(snapshot(campaign), before)
    with pytest.raises(bl.BoLoopError, match="Unknown setting"):
        campaign.set_surrogate("gp", {"ensemble": 2})
    assert bl.Campaign.load("rig", storage=sqlite_url).surrogate == "dngo"


# -- rounds: tell_many records every result of a round, or none ----------------------------------


def test_tell_many_records_a_round_in_one_transaction(storage_url):
    campaign = make(storage_url)
    campaign.ask(5)
    done = campaign.tell_many(
        [(3, 1.5), (0, {"yield": 2.5})], failed={1: "rig jammed"}, abandoned=[4]
    )
    assert [(t.number, t.state, t.value, t.reason) for t in done] == [
        (0, bl.TrialState.COMPLETED, 2.5, None),
        (1, bl.TrialState.FAILED, None, "rig jammed"),
        (3, bl.TrialState.COMPLETED, 1.5, None),
        (4, bl.TrialState.ABANDONED, None, None),
    ]
    assert done == [
        t for t in bl.Campaign.load("rig", storage=storage_url).trials() if t.number != 2
    ]
    assert len({t.finished_at for t in done}) == 1  # one transaction, one moment
    history = campaign.history()
    assert history["action"].tolist() == ["ask"] * 5 + ["tell", "fail", "tell", "abandon"]
    assert history["number"].tolist()[5:] == [0, 1, 3, 4]
    assert campaign.verify() == []
    assert campaign.tell_many({}) == []


def test_tell_many_refuses_the_whole_round_naming_every_offending_trial(storage_url):
    campaign = make(storage_url)
    campaign.ask(6)
    campaign.tell(1, 9.0)
    campaign.abandon(4)
    before, events = snapshot(campaign), campaign.history()
    with pytest.raises(bl.TrialStateError) as refused:
        campaign.tell_many({0: 1.0, 1: 2.0, 2: 3.0, 7: 4.0}, failed={4: None, 5: "leak"})
    message = str(refused.value)
    assert "3 of the round's 6 trial(s) cannot; nothing was recorded" in message
    assert "trial 1 is COMPLETED" in message
    assert "trial 4 is ABANDONED" in message
    assert "trial 7: no such trial (trial numbers here: 0..5)" in message
    with pytest.raises(bl.TrialNotFoundError, match=r"trial 70: no such trial"):
        campaign.tell_many({0: 1.0, 70: 2.0})
    pd.testing.assert_frame_equal(snapshot(campaign), before)
    pd.testing.assert_frame_equal(campaign.history(), events)
    assert campaign.verify() == []


@pytest.mark.parametrize(
    ("values", "failed", "error", "message"),
    [
        ([(0, 1.0), (0, 2.0)], {}, bl.InvalidArgumentError,
         r"trial 0 appears twice \(in values and in values\)"),
        ({0: 1.0}, {0: "leak"}, bl.InvalidArgumentError, r"appears twice \(in values and in failed\)"),
        ({0: 1.0, 1: math.nan}, {}, bl.ObservationError, "must be finite, but got nan"),
        ({0: 1.0, -1: 2.0}, {}, bl.InvalidArgumentError, "must be >= 0, but got trial number=-1"),
        ({0: 1.0}, {1: 7}, bl.InvalidArgumentError, "reason must be a string, but got 7"),
        ([(0, 1.0, 2.0)], {}, bl.InvalidArgumentError, r"pairs, but got the entry \(0, 1.0, 2.0\)"),
        ("0=1.0", {}, bl.InvalidArgumentError, "values must be a dict"),
        ({0: math.inf, 1: "2"}, {True: None}, bl.InvalidArgumentError,
         "3 entries of the round broke the rules; nothing was recorded"),
    ],
)  # fmt: skip
def test_tell_many_bad_entries_change_nothing(storage_url, values, failed, error, message):
    campaign = make(storage_url)
    campaign.ask(3)
    before = snapshot(campaign)
    with pytest.raises(error, match=message):
        campaign.tell_many(values, failed=failed)
    pd.testing.assert_frame_equal(snapshot(campaign), before)
    assert campaign.verify() == []


def _cost(campaign: bl.Campaign, work) -> tuple[int, int | None]:
    """SQL statements ``work`` sends, and (on SQLite) the virtual-machine steps they take.

    SQLite's progress handler counts the bytecode steps of every statement: a scan of all trials
    costs steps in proportion to them, where lookups by trial number cost about the same at any
    campaign size.
    """
    import sqlalchemy as sa

    statements = 0
    steps = [0]
    handled = []

    def tick() -> int:
        steps[0] += 1
        return 0

    def before(conn, cursor, statement, parameters, context, executemany):
        nonlocal statements
        statements += 1
        raw = conn.connection.driver_connection
        if campaign._db.is_sqlite and raw not in handled:
            raw.set_progress_handler(tick, 1)
            handled.append(raw)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", before)
    try:
        work()
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", before)
        for raw in handled:
            raw.set_progress_handler(None, 1)
    return statements, steps[0] if campaign._db.is_sqlite else None


def test_tell_many_cost_grows_with_the_round_not_the_campaign(storage_url):
    """A round of k rows reads and writes those k trials: the same work at 50 or 500 trials."""
    cost = {}
    for n in (50, 500):
        campaign = make(storage_url, name=f"rig-{n}", initial_design_size=1000)
        campaign.ask(n)
        for k in (10, 40):
            first = 0 if k == 10 else 10  # each round tells pending trials of its own
            round_ = {number: float(number) for number in range(first, first + k)}
            cost[n, k] = _cost(campaign, functools.partial(campaign.tell_many, round_))
        # The meter sees a whole-campaign read: reading every trial costs ~10x at 500 trials.
        cost[n, "all"] = _cost(campaign, campaign.trials)
        assert campaign.verify() == []
    assert cost[50, 10][0] == cost[500, 10][0]
    assert cost[50, 40][0] == cost[500, 40][0]
    assert cost[50, 40][0] <= 4 * cost[50, 10][0]  # at most linear in k
    single = _cost(campaign, lambda: campaign.tell(60, 1.0))
    assert single[0] <= cost[500, 10][0]
    if cost[50, 10][1] is not None:  # SQLite: the work done, not just the statements sent
        assert cost[500, "all"][1] > 5 * cost[50, "all"][1]
        for k in (10, 40):
            assert cost[500, k][1] < 1.3 * cost[50, k][1], cost
        assert cost[50, 40][1] < 4 * 1.3 * cost[50, 10][1], cost
        assert single[1] < 1.3 * cost[50, 10][1] / 10 * 3, cost  # ~ one row of a 10-row round
