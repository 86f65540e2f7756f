"""Proposals, predictions and recommendations of campaigns with several outcomes (issue 12)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

import bo_loop as bl
from bo_loop.models import multi_objective, outcome_acquisition
from bo_loop.outcomes import Outcomes
from bo_loop.trial import Trial, TrialState

SPACE = [bl.Real("x", 0.0, 1.0), bl.Real("y", 0.0, 1.0)]
CHEAP = {"num_restarts": 2, "raw_samples": 64, "mc_samples": 64}
SURROGATES = {"gp": None, "dngo": {"ensemble": 1, "epochs": 30, "hidden": [20, 20]}}


def measure(p: dict) -> dict[str, float]:
    x, y = p["x"], p["y"]
    return {
        "yield": 100 * math.exp(-4 * ((x - 0.7) ** 2 + (y - 0.3) ** 2)),
        "cost": 1 + 2 * x + y,
        "purity": 90 + 10 * y,
    }


def campaign_with_data(url: str, surrogate: str = "gp", n: int = 6, **kw) -> bl.Campaign:
    options = {
        "objectives": [bl.Objective("yield", bounds=(0, 100)), bl.Objective("cost", "minimize")],
        "outcome_constraints": [bl.OutcomeConstraint("purity", ">=", 95.0)],
        **kw,
    }
    campaign = bl.Campaign.create(
        "mo", SPACE, storage=url, seed=0, surrogate=surrogate,
        surrogate_settings=SURROGATES[surrogate], acquisition_settings=CHEAP,
        initial_design_size=n, **options,
    )  # fmt: skip
    for t in campaign.ask(n):
        values = measure(t.params)
        campaign.tell(t.number, {k: v for k, v in values.items() if k in campaign.outcomes})
    return campaign


@pytest.mark.parametrize("surrogate", ["gp", "dngo"])
def test_ask_proposes_distinct_points_and_keeps_away_from_pending(sqlite_url, surrogate):
    campaign = campaign_with_data(sqlite_url, surrogate)
    batch = campaign.ask(4)
    keys = {tuple(t.params.values()) for t in batch}
    assert len(keys) == 4
    for t in batch:
        assert t.provenance["acquisition"] == "qlognehvi"
        assert t.provenance["surrogate"] == surrogate
        assert set(t.provenance["predicted"]) == {"yield", "cost", "purity"}
        assert 0.0 <= t.provenance["p_feasible"] <= 1.0
        assert 0.0 <= t.provenance["predicted"]["yield"]["mean"] <= 100.0
    more = campaign.ask(2)  # the four are still pending: none of them is proposed again
    assert len(keys | {tuple(t.params.values()) for t in more}) == 6
    assert campaign.verify() == []


def test_partially_told_trials_are_pending_points_and_train_their_outcomes(sqlite_url, monkeypatch):
    campaign = campaign_with_data(sqlite_url)
    half, untold = campaign.ask(2)
    campaign.tell(half.number, {"yield": measure(half.params)["yield"]})
    seen: dict = {}
    real = outcome_acquisition.build_outcome_acquisition

    def spy(outcomes, fits, X_baseline, X_pending, *args, **kw):
        seen.setdefault("pending", X_pending)
        seen.setdefault("numbers", {n: f.numbers for n, f in fits.items()})
        return real(outcomes, fits, X_baseline, X_pending, *args, **kw)

    monkeypatch.setattr(multi_objective, "build_outcome_acquisition", spy)
    campaign.ask(1)
    encoded = bl.Space(SPACE).encode([half.params, untold.params])
    assert seen["pending"] is not None and len(seen["pending"]) == 2
    assert torch.allclose(seen["pending"], encoded)
    assert half.number in seen["numbers"]["yield"]  # its yield trains the yield model ...
    assert half.number not in seen["numbers"]["cost"]  # ... but not the others
    assert untold.number not in seen["numbers"]["yield"]


def test_one_objective_with_a_constraint_uses_constrained_logei(sqlite_url):
    campaign = campaign_with_data(sqlite_url, objectives=[bl.Objective("yield", bounds=(0, 100))])
    assert campaign.outcomes == ("yield", "purity")
    (trial,) = campaign.ask(1)
    # Analytic constrained LogEI for a single ask, constrained qLogNEI for pending points.
    assert trial.provenance["acquisition"] == "logcei_qlognei"
    assert 0.0 <= trial.provenance["predicted_mean"] <= 100.0
    rec = campaign.recommend()
    assert isinstance(rec, bl.Recommendation)
    assert rec.p_feasible is not None and rec.p_feasible >= 0.5
    assert 0.0 <= rec.lower <= rec.mean <= rec.upper <= 100.0
    best = campaign.best()
    assert best is not None and best.values["purity"] >= 95.0


def test_a_reopened_campaign_proposes_the_same_points(tmp_path):
    first = campaign_with_data(f"sqlite:///{tmp_path / 'a.db'}")
    second = campaign_with_data(f"sqlite:///{tmp_path / 'b.db'}")
    a = first.ask(2)
    reopened = bl.Campaign.load("mo", storage=f"sqlite:///{tmp_path / 'b.db'}")
    b = reopened.ask(2)
    assert [t.params for t in a] == [t.params for t in b]
    assert second.trials()[-1].params == b[-1].params


def test_predict_and_recommend_columns(sqlite_url):
    campaign = campaign_with_data(sqlite_url)
    rows = pd.DataFrame({"x": [0.1, 0.7, 1.0], "y": [0.9, 0.3, 0.0]}, index=[7, 8, 9])
    predicted = campaign.predict(rows)
    assert list(predicted.columns) == [
        "yield_mean", "yield_sd", "cost_mean", "cost_sd", "purity_mean", "purity_sd", "p_feasible",
    ]  # fmt: skip
    assert list(predicted.index) == [7, 8, 9]
    assert predicted["yield_mean"].between(0, 100).all()
    assert predicted["p_feasible"].between(0, 1).all()
    front = campaign.recommend()
    assert isinstance(front, pd.DataFrame) and len(front) >= 1
    for name in ("yield", "cost", "purity"):
        assert {f"{name}_{k}" for k in ("mean", "sd", "lower", "upper")} <= set(front.columns)
    assert front["yield_lower"].between(0, 100).all() and front["yield_upper"].between(0, 100).all()
    assert (front["p_feasible"] >= 0.5).all() or front["p_feasible"].nunique() == 1
    # The estimated Pareto set: no recommended row is beaten in both predicted objectives.
    pts = list(zip(front["yield_mean"], -front["cost_mean"], strict=True))
    for i, p in enumerate(pts):
        assert not any(
            q[0] >= p[0] and q[1] >= p[1] and q != p for j, q in enumerate(pts) if j != i
        )
    with pytest.raises(bl.BoLoopError, match="fitted_models"):
        campaign.fitted_model()
    assert list(campaign.fitted_models()) == ["yield", "cost", "purity"]


def _trial(number: int, values: dict) -> Trial:
    return Trial(number, TrialState.COMPLETED, {"x": 0.0}, values=values)


def test_reference_point_from_bounds_else_inferred_from_the_feasible_front():
    outcomes = Outcomes(
        (bl.Objective("yield", bounds=(0, 100)), bl.Objective("cost", "minimize")),
        (bl.OutcomeConstraint("purity", ">=", 95.0),),
    )
    trials = [
        _trial(0, {"yield": 80.0, "cost": 3.0, "purity": 96.0}),
        _trial(1, {"yield": 60.0, "cost": 1.0, "purity": 97.0}),
        _trial(2, {"yield": 99.0, "cost": 0.5, "purity": 90.0}),  # infeasible: not the front
    ]
    ref = outcome_acquisition.reference_point(outcomes, trials)
    # yield: its lower bound; cost (no upper bound): nadir -3 minus 10 % of the range 2.
    assert ref == pytest.approx([0.0, -3.2])
    bounded = Outcomes(
        (bl.Objective("a", bounds=(0, 1)), bl.Objective("b", "minimize", bounds=(0, 5)))
    )
    assert outcome_acquisition.reference_point(bounded, []) == [0.0, -5.0]


@pytest.mark.parametrize("surrogate", ["gp", "dngo"])
def test_constrained_proposals_go_to_the_feasible_optimum_not_the_unconstrained_one(
    sqlite_url, surrogate
):
    # y = 10 x is best at x = 1, but purity = 100 - 10 x >= 95 holds only for x <= 0.5.
    campaign = bl.Campaign.create(
        "c", [bl.Real("x", 0, 1)], objectives=[bl.Objective("y")],
        outcome_constraints=[bl.OutcomeConstraint("purity", ">=", 95.0)], storage=sqlite_url,
        seed=0, initial_design_size=6, surrogate=surrogate,
        surrogate_settings=SURROGATES[surrogate], acquisition_settings=CHEAP,
    )  # fmt: skip
    proposed = []
    for k in range(9):
        (t,) = campaign.ask(1)
        x = t.params["x"]
        campaign.tell(t.number, {"y": 10 * x, "purity": 100 - 10 * x})
        if k >= 6:
            proposed.append(x)
    assert all(0.35 <= x <= 0.6 for x in proposed), proposed
    best = campaign.best()
    assert best is not None and best.params["x"] <= 0.5


def _constrained_acquisition_values(unit: float, rule: str) -> torch.Tensor:
    """The acquisition (``constrained_first=rule``) of y = 10 x subject to purity = 100 - 10 x
    >= 95, with purity measured in ``unit`` (purity / unit, threshold 95 / unit), at a grid of x
    across the boundary x = 0.5."""
    from bo_loop.models import acquisition, surrogates

    space = bl.Space([bl.Real("x", 0, 1)])
    outcomes = Outcomes((bl.Objective("y"),), (bl.OutcomeConstraint("purity", ">=", 95.0 / unit),))
    xs = [0.05, 0.2, 0.35, 0.45, 0.55, 0.7, 0.9]
    trials = [
        Trial(
            i, TrialState.COMPLETED, {"x": x}, values={"y": 10 * x, "purity": (100 - 10 * x) / unit}
        )
        for i, x in enumerate(xs)
    ]
    settings = surrogates.resolve_settings("gp", None)
    fits = multi_objective.fit_outcome_models(space, outcomes, trials, 0, "gp", settings)
    acq_settings = acquisition.resolve_settings({"mc_samples": 64, "constrained_first": rule})
    best = outcome_acquisition.best_feasible(outcomes, trials)
    acq, _ = outcome_acquisition.build_outcome_acquisition(
        outcomes, fits, space.encode([t.params for t in trials]), None, 0, acq_settings, None, best
    )
    grid = torch.linspace(0.3, 0.7, 41, dtype=torch.float64).reshape(-1, 1, 1)
    with torch.no_grad():
        return acq(grid)


@pytest.mark.parametrize("rule", ["qlognei", "logcei"])
def test_constraint_smoothing_does_not_depend_on_the_outcomes_unit(rule):
    # BoTorch's eta (1e-3 in the outcome's own units) blurs feasibility over 1e-3 of purity
    # in one unit and over 1e-3 of 1000 x purity in the other: the acquisition, and so the
    # proposals, changed with the unit a lab reports purity in (issue 12, Gramacy benchmark).
    # The smoothing scales with each constrained outcome's spread, so only the unit changes.
    # The analytic rule has no smoothing: its probability of feasibility is unit-free.
    in_percent = _constrained_acquisition_values(1.0, rule)
    in_per_mille_of_percent = _constrained_acquisition_values(1000.0, rule)
    assert torch.isfinite(in_percent).all()
    assert torch.allclose(in_percent, in_per_mille_of_percent, atol=1e-3, rtol=0)
    # The best point is just inside the boundary x = 0.5; past it (x >= 0.55, purity <= 94.5)
    # the log acquisition is far below that.
    grid = torch.linspace(0.3, 0.7, 41, dtype=torch.float64)
    assert 0.46 <= float(grid[in_percent.argmax()]) <= 0.5
    assert float(in_percent[grid >= 0.55].max()) < float(in_percent.max()) - 5


def test_constraint_eta_is_a_fraction_of_each_constrained_outcomes_spread():
    outcomes = Outcomes((bl.Objective("y"),), (bl.OutcomeConstraint("purity", ">=", 95.0),))
    space = bl.Space([bl.Real("x", 0, 1)])
    from bo_loop.models import surrogates

    settings = surrogates.resolve_settings("gp", None)
    etas = []
    for unit in (1.0, 1000.0):
        trials = [_trial(i, {"y": float(i), "purity": (90.0 + i) / unit}) for i in range(4)]
        for i, t in enumerate(trials):
            t.params["x"] = i / 4
        fits = multi_objective.fit_outcome_models(space, outcomes, trials, 0, "gp", settings)
        etas.append(float(outcome_acquisition.constraint_eta(outcomes, fits, 1e-5)[0]))
    spread = float(torch.tensor([90.0, 91.0, 92.0, 93.0]).std())
    assert etas[0] == pytest.approx(1e-5 * spread)
    assert etas[1] == pytest.approx(etas[0] / 1000.0)
