"""A round's points spread over a categorical parameter's choices (`round_categories`)."""

from __future__ import annotations

import pytest
import torch

import bo_loop as bl
from bo_loop.models.acquisition import resolve_settings as acquisition_settings
from bo_loop.models.fitting import fit_model
from bo_loop.models.propose import propose
from bo_loop.models.round_categories import CategoryPlan, category_plan, shares
from bo_loop.models.surrogates import resolve_settings
from bo_loop.trial import Trial, TrialState

SPACE = bl.Space([bl.Real("x", 0.0, 1.0), bl.Categorical("c", ["A", "B", "C"])])
OBJECTIVE = bl.Objective("y", "minimize")


def settings(rule: str) -> dict:
    return acquisition_settings(
        {"num_restarts": 2, "raw_samples": 32, "mc_samples": 32, "round_categories": rule}
    )


def trials_from(rows: list[tuple[float, str, float]]) -> list[Trial]:
    return [
        Trial(i, TrialState.COMPLETED, {"x": x, "c": c}, value=y)
        for i, (x, c, y) in enumerate(rows)
    ]


def run(trials: list[Trial], n: int, rule: str):
    return propose(
        SPACE, OBJECTIVE, trials, n, seed=5, surrogate="gp", settings=resolve_settings("gp", {}),
        acquisition=settings(rule), design_size=2,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("probabilities", "total", "expected"),
    [
        ([0.5, 0.3, 0.2], 4, [2, 1, 1]),
        ([0.9, 0.1], 1, [1, 0]),
        ([0.25, 0.25, 0.25, 0.25], 3, [1, 1, 1, 0]),  # ties: the first choices
        ([0.1, 0.2, 0.7], 3, [0, 1, 2]),  # remainders .3, .6, .1: the largest two
        ([0.0, 1.0, 0.0], 8, [0, 8, 0]),
        ([0.3, 0.35, 0.35], 1, [0, 1, 0]),  # equal remainders: the more probable, then the first
    ],
)
def test_shares_follow_the_probabilities_and_sum_to_the_round(probabilities, total, expected):
    assert shares(torch.tensor(probabilities), total).tolist() == expected


def test_each_point_takes_the_choice_furthest_below_its_share():
    plan = CategoryPlan({1: torch.tensor([0.5, 0.25, 0.25])})
    busy = torch.tensor([[0.1, 0.0], [0.2, 0.0]])
    # Round of 4: shares 2, 1, 1; A has its two, so B (as probable as C, and first).
    assert plan.fixed_features(busy, 4) == {1: 1.0}
    assert plan.fixed_features(torch.cat([busy, torch.tensor([[0.3, 1.0]])]), 4) == {1: 2.0}
    assert plan.fixed_features(None, 4) == {1: 0.0}


# Two points per choice. C's are the best so far; B's are close enough that the model cannot rule
# B out; A is poor everywhere it was measured.
UNSURE = [
    (0.1, "A", 3.0), (0.9, "A", 3.2), (0.05, "B", 1.2), (0.95, "B", 1.1),
    (0.45, "C", 0.8), (0.55, "C", 0.9),
]  # fmt: skip
# Five points per choice, each a parabola around x = 0.5: C's is lower by 1.8 everywhere.
SURE = [
    (x, c, base + 4 * (x - 0.5) ** 2)
    for c, base in (("A", 3.0), ("B", 2.0), ("C", 0.2))
    for x in (0.0, 0.25, 0.5, 0.75, 1.0)
]


def probabilities(rows) -> list[float]:
    trials = trials_from(rows)
    fitted = fit_model(SPACE, OBJECTIVE, trials, 5, "gp", resolve_settings("gp", {}))
    return category_plan(fitted.model, SPACE, fitted.baseline, 5).probabilities[1].tolist()


def test_the_probabilities_follow_the_model():
    unsure, sure = probabilities(UNSURE), probabilities(SURE)
    assert sum(unsure) == pytest.approx(1.0) and sum(sure) == pytest.approx(1.0)
    assert unsure[2] == max(unsure) and unsure[1] > 0.1  # B cannot be ruled out yet
    assert unsure[0] < 0.05  # A can
    assert sure[2] > 0.95  # C holds the best point once every choice is measured closely


def counts(proposals) -> list[int]:
    return [sum(p.params["c"] == c for p in proposals) for c in ("A", "B", "C")]


def test_a_round_gives_each_choice_its_share():
    matched = run(trials_from(UNSURE), 4, "matched")
    plan = matched[0].provenance["category_probabilities"]["c"]
    expected = shares(torch.tensor([plan[c] for c in ("A", "B", "C")]), 4).tolist()
    assert expected == [0, 1, 3]
    assert counts(matched) == expected
    greedy = run(trials_from(UNSURE), 4, "greedy")
    assert matched[0].params == greedy[0].params  # the first point is a single ask's
    assert "category_probabilities" not in greedy[0].provenance
    # B a little worse, measured nearer the middle: under 1/8 likely (0.07), so no share of 4;
    # greedy qLogNEI still sends a point.
    rows = [*UNSURE[:2], (0.3, "B", 1.4), (0.7, "B", 1.3), *UNSURE[4:]]
    assert counts(run(trials_from(rows), 4, "matched")) == [0, 0, 4]
    assert counts(run(trials_from(rows), 4, "greedy")) == [0, 1, 3]
    # Sure of C: the whole round goes there.
    assert counts(run(trials_from(SURE), 4, "matched")) == [0, 0, 4]


def test_a_point_asked_while_others_are_pending_takes_the_plan_too():
    trials = trials_from(UNSURE)
    first = run(trials, 1, "matched")[0]
    assert "category_probabilities" not in first.provenance  # nothing pending: a single ask
    pending = [Trial(len(trials) + i, TrialState.PENDING, {"x": x, "c": "C"}) for i, x in
               enumerate([0.5, 0.47, 0.53])]  # fmt: skip
    nxt = run(trials + pending, 1, "matched")[0]
    assert "category_probabilities" in nxt.provenance
    assert nxt.params["c"] == "B"  # C has its 3 of the round of 4; B is furthest below its share


def test_the_plan_leaves_the_random_state_alone_and_repeats():
    trials = trials_from(UNSURE)
    fitted = fit_model(SPACE, OBJECTIVE, trials, 5, "gp", resolve_settings("gp", {}))
    torch.manual_seed(0)
    plan = category_plan(fitted.model, SPACE, fitted.baseline, 5)
    after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))
    again = category_plan(fitted.model, SPACE, fitted.baseline, 5)
    assert torch.equal(plan.probabilities[1], again.probabilities[1])


def test_only_categorical_columns_take_the_plan_as_the_point():
    space = bl.Space([bl.Categorical("c", ["A", "B", "C", "D"]), bl.Categorical("d", ["u", "v"])])
    rows = [("A", "u", 1.0), ("B", "v", 1.1), ("C", "u", 0.9), ("D", "v", 1.2)]
    trials = [
        Trial(i, TrialState.COMPLETED, {"c": c, "d": d}, value=y)
        for i, (c, d, y) in enumerate(rows)
    ]
    out = propose(
        space, OBJECTIVE, trials, 3, seed=1, surrogate="gp", settings=resolve_settings("gp", {}),
        acquisition=settings("matched"), design_size=2,
    )  # fmt: skip
    keys = [(p.params["c"], p.params["d"]) for p in out]
    assert len(set(keys)) == 3 and not set(keys) & {(c, d) for c, d, _ in rows}


def test_a_long_history_joins_the_candidates_by_its_best_points_only(monkeypatch):
    from bo_loop.models import round_categories

    trials = trials_from(SURE)  # 15 points, 5 per choice
    fitted = fit_model(SPACE, OBJECTIVE, trials, 5, "gp", resolve_settings("gp", {}))
    sizes: list[int] = []
    posterior = fitted.model.posterior

    def spy(X, *args, **kwargs):
        sizes.append(X.shape[-2])
        return posterior(X, *args, **kwargs)

    monkeypatch.setattr(fitted.model, "posterior", spy)
    monkeypatch.setattr(round_categories, "OBSERVED", 4)
    plan = category_plan(fitted.model, SPACE, fitted.baseline, 5)
    assert sizes == [15, round_categories.CANDIDATES + 4]
    assert plan.probabilities[1][2] > 0.95  # the best points kept are C's
