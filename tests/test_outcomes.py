"""Objectives with bounds, outcome constraints, feasibility and the Pareto front (issue 12).

The Pareto front and best() are checked against a brute force written independently here, on
random data with ties, several goal mixes and constraints.
"""

from __future__ import annotations

import random

import pandas as pd
import pytest

import bo_loop as bl
from bo_loop.outcomes import Outcomes, non_dominated

SPACE = [bl.Real("x", 0.0, 1.0)]

GOAL_MIXES = [
    ("maximize", "minimize"),
    ("minimize", "minimize"),
    ("maximize", "maximize"),
    ("maximize", "minimize", "maximize"),
]


def brute_force_front(rows: list[dict], goals: dict[str, str], ok) -> set[int]:
    """Indices of feasible rows that no feasible row beats, each objective by its own goal."""

    def at_least(a: float, b: float, goal: str) -> bool:
        return a >= b if goal == "maximize" else a <= b

    def strictly(a: float, b: float, goal: str) -> bool:
        return a > b if goal == "maximize" else a < b

    feasible = [i for i, r in enumerate(rows) if ok(r)]
    front = set()
    for i in feasible:
        beaten = False
        for j in feasible:
            if j == i:
                continue
            a, b = rows[j], rows[i]
            if all(at_least(a[n], b[n], g) for n, g in goals.items()) and any(
                strictly(a[n], b[n], g) for n, g in goals.items()
            ):
                beaten = True
                break
        if not beaten:
            front.add(i)
    return front


@pytest.mark.parametrize("goals", GOAL_MIXES)
@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize("data_seed", [0, 1, 2])
def test_pareto_front_equals_brute_force(sqlite_url, goals, constrained, data_seed):
    rng = random.Random(data_seed)
    names = [f"o{i}" for i in range(len(goals))]
    objectives = [bl.Objective(n, g) for n, g in zip(names, goals, strict=True)]
    constraints = [bl.OutcomeConstraint("purity", ">=", 5.0)] if constrained else []
    # Small integers: many ties and equal points, where a sloppy dominance test goes wrong.
    rows = [
        {"x": rng.random(), **{n: float(rng.randint(0, 6)) for n in names},
         **({"purity": float(rng.randint(0, 9))} if constrained else {})}
        for _ in range(40)
    ]  # fmt: skip
    campaign = bl.Campaign.create(
        "c", SPACE, objectives=objectives, outcome_constraints=constraints, storage=sqlite_url
    )
    campaign.add_observations(pd.DataFrame(rows))
    goal_of = dict(zip(names, goals, strict=True))

    def ok(r: dict) -> bool:
        return r["purity"] >= 5.0 if constrained else True

    expected = brute_force_front(rows, goal_of, ok)
    front = campaign.pareto_front()
    assert {t.number for t in front} == expected
    assert [t.number for t in front] == sorted(expected)
    if constrained:  # the rule that may never break: an infeasible trial is never on the front
        assert all(t.values["purity"] >= 5.0 for t in front)


def test_non_dominated_keeps_equal_points_and_drops_dominated():
    points = [[1.0, 1.0], [1.0, 1.0], [2.0, 0.0], [0.0, 0.0], [2.0, 0.0], [1.0, 0.5]]
    assert non_dominated(points) == [0, 1, 2, 4]


@pytest.mark.parametrize("goal", ["maximize", "minimize"])
def test_best_is_the_best_feasible_trial_never_a_violating_one(sqlite_url, goal):
    rng = random.Random(5)
    rows = [
        {"x": rng.random(), "y": rng.uniform(0, 10), "purity": rng.uniform(90, 100)}
        for _ in range(30)
    ]
    campaign = bl.Campaign.create(
        "c", SPACE, objectives=[bl.Objective("y", goal)],
        outcome_constraints=[bl.OutcomeConstraint("purity", ">=", 95.0),
                             bl.OutcomeConstraint("purity", "<=", 99.0)],
        storage=sqlite_url,
    )  # fmt: skip
    campaign.add_observations(pd.DataFrame(rows))
    feasible = [i for i, r in enumerate(rows) if 95.0 <= r["purity"] <= 99.0]
    pick = max if goal == "maximize" else min
    expected = pick(feasible, key=lambda i: rows[i]["y"])
    best = campaign.best()
    assert best is not None and best.number == expected
    assert 95.0 <= best.values["purity"] <= 99.0
    for t in campaign.trials():
        assert campaign.is_feasible(t) == (95.0 <= rows[t.number]["purity"] <= 99.0)


def test_best_is_none_when_no_trial_is_feasible_and_thresholds_are_inclusive(sqlite_url):
    campaign = bl.Campaign.create(
        "c", SPACE, objectives=[bl.Objective("y")],
        outcome_constraints=[bl.OutcomeConstraint("purity", ">=", 95.0)], storage=sqlite_url,
    )  # fmt: skip
    campaign.add_observation({"x": 0.1}, {"y": 10.0, "purity": 94.999})
    assert campaign.best() is None
    assert campaign.pareto_front() == []
    campaign.add_observation({"x": 0.2}, {"y": 1.0, "purity": 95.0})
    assert campaign.best().number == 1  # type: ignore[union-attr]


def test_best_with_several_objectives_points_to_pareto_front(sqlite_url):
    campaign = bl.Campaign.create(
        "c", SPACE, objectives=[bl.Objective("a"), bl.Objective("b", "minimize")],
        storage=sqlite_url,
    )  # fmt: skip
    with pytest.raises(bl.ObjectiveError, match=r"best\(\) needs a single objective.*pareto_front"):
        campaign.best()
    with pytest.raises(bl.ObjectiveError, match="use campaign.objectives"):
        campaign.objective  # noqa: B018


def test_outcomes_lists_objectives_then_constraint_only_outcomes():
    outcomes = Outcomes(
        (bl.Objective("yield"), bl.Objective("cost", "minimize")),
        (bl.OutcomeConstraint("purity", ">=", 95), bl.OutcomeConstraint("cost", "<=", 5),
         bl.OutcomeConstraint("colour", "<=", 3)),
    )  # fmt: skip
    assert outcomes.names == ("yield", "cost", "purity", "colour")


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: bl.Objective("y", bounds=(5, 5)), bl.ObjectiveError, r"lo < hi.*lo=5.0, hi=5.0"),
        (lambda: bl.Objective("y", bounds=(5, 1)), bl.ObjectiveError, r"lo < hi.*lo=5.0, hi=1.0"),
        (lambda: bl.Objective("y", bounds=(0,)), bl.ObjectiveError, "must be a pair"),
        (lambda: bl.Objective("y", bounds=(0, float("inf"))), bl.ObjectiveError, "finite"),
        (lambda: bl.Objective("y", bounds=("a", 1)), bl.ObjectiveError, "finite numbers"),
        (lambda: bl.OutcomeConstraint("p", "<", 1.0), bl.ObjectiveError, r"op must be one of .*got op='<'"),
        (lambda: bl.OutcomeConstraint("p", "==", 1.0), bl.ObjectiveError, "op must be one of"),
        (lambda: bl.OutcomeConstraint("p", ">=", float("nan")), bl.ObjectiveError, "finite number"),
        (lambda: bl.OutcomeConstraint("p", ">=", True), bl.ObjectiveError, "finite number"),
        (lambda: bl.OutcomeConstraint("", ">=", 1), bl.ObjectiveError, "non-empty string"),
    ],
)  # fmt: skip
def test_bad_objectives_and_constraints_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()


def _create(url: str, **kw):
    return bl.Campaign.create("c", SPACE, storage=url, **kw)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"objectives": [bl.Objective("a"), bl.Objective("a", "minimize")]}, "distinct"),
        ({"objective": "a", "objectives": [bl.Objective("b")]}, "not both"),
        ({"objectives": []}, "at least one objective"),
        ({"objectives": bl.Objective("a")}, "must be a list"),
        ({"objectives": [bl.Objective("a")],
          "outcome_constraints": [bl.OutcomeConstraint("x", ">=", 0)]}, "differ from every parameter"),
        ({"objectives": [bl.Objective("a")],
          "outcome_constraints": [bl.OutcomeConstraint("state", ">=", 0)]}, "must not be one of"),
        ({"objectives": [bl.Objective("a")],
          "outcome_constraints": [bl.OutcomeConstraint("p", ">=", 0),
                                  bl.OutcomeConstraint("p", ">=", 1)]}, "at most one '>='"),
        ({"objectives": [bl.Objective("a")], "outcome_constraints": ["p >= 1"]}, "OutcomeConstraint"),
        ({"objectives": [bl.Objective("a")],
          "outcome_constraints": [bl.OutcomeConstraint("p", ">=", 99),
                                  bl.OutcomeConstraint("p", "<=", 95)]},
         r"no 'p' meets p >= 99 and p <= 95 \(needs >= 99 and <= 95\)"),
        ({"objectives": [bl.Objective("a", bounds=(None, 10))],
          "outcome_constraints": [bl.OutcomeConstraint("a", ">=", 50)]},
         r"no 'a' meets a >= 50 and its known bounds \(None, 10.0\)"),
    ],
)  # fmt: skip
def test_bad_create_arguments_store_no_campaign(sqlite_url, stored_campaigns, kw, message):
    with pytest.raises(bl.ObjectiveError, match=message):
        _create(sqlite_url, **kw)
    assert stored_campaigns(sqlite_url) == []


def test_objective_keyword_with_one_objective_keeps_working(sqlite_url):
    campaign = _create(sqlite_url, objective=bl.Objective("y", "minimize", bounds=(0, None)))
    assert campaign.objectives == (bl.Objective("y", "minimize", bounds=(0.0, None)),)
    assert campaign.outcomes == ("y",)
    (trial,) = campaign.ask(1)
    campaign.tell(trial.number, 2.5)
    assert campaign.trial(trial.number).value == 2.5
    with pytest.raises(bl.ObservationError, match=r"'y' must lie within its bounds \[0.0, inf\]"):
        campaign.add_observation({"x": 0.5}, -1.0)
    reloaded = bl.Campaign.load("c", storage=sqlite_url)
    assert reloaded.objectives == campaign.objectives


def test_constraints_that_leave_one_value_or_repeat_a_bound_are_accepted(sqlite_url):
    campaign = _create(
        sqlite_url, objectives=[bl.Objective("y", bounds=(0, 100))],
        outcome_constraints=[bl.OutcomeConstraint("y", "<=", 150),  # looser than the bound
                             bl.OutcomeConstraint("p", ">=", 95), bl.OutcomeConstraint("p", "<=", 95)],
    )  # fmt: skip
    assert len(campaign.outcome_constraints) == 3
