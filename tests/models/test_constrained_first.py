"""The analytic constrained LogEI of a single ask with outcome constraints (``constrained_first``)."""

from __future__ import annotations

import math

import pytest
import torch

import bo_loop as bl
from bo_loop.models import acquisition, multi_objective, outcome_acquisition, surrogates
from bo_loop.outcomes import Outcomes
from bo_loop.trial import Trial, TrialState

SPACE = bl.Space([bl.Real("x", 0.0, 1.0)])
XS = [0.05, 0.2, 0.35, 0.45, 0.55, 0.7, 0.9]
NORMAL = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)


def _trials(values) -> list[Trial]:
    return [Trial(i, TrialState.COMPLETED, {"x": x}, values=values(x)) for i, x in enumerate(XS)]


def _fits(outcomes: Outcomes, trials: list[Trial]) -> dict:
    settings = surrogates.resolve_settings("gp", None)
    return multi_objective.fit_outcome_models(SPACE, outcomes, trials, 0, "gp", settings)


def _purity_band_campaign_data(cost_cap: bool = False):
    # Minimise cost = 10 - 10 x, subject to 93 <= purity = 100 - 10 x <= 98 (0.2 <= x <= 0.7):
    # a minimised objective and a two-sided constraint-only outcome; ``cost_cap`` adds a
    # constraint on the objective itself, cost <= 7.5 (x >= 0.25).
    cap = (bl.OutcomeConstraint("cost", "<=", 7.5),) if cost_cap else ()
    outcomes = Outcomes(
        (bl.Objective("cost", "minimize"),),
        (
            bl.OutcomeConstraint("purity", ">=", 93.0),
            bl.OutcomeConstraint("purity", "<=", 98.0),
            *cap,
        ),
    )
    trials = _trials(lambda x: {"cost": 10 - 10 * x, "purity": 100 - 10 * x})
    return outcomes, trials, _fits(outcomes, trials)


def test_feasible_intervals_agree_with_each_constraints_slack():
    outcomes, _, fits = _purity_band_campaign_data(cost_cap=True)
    intervals = outcome_acquisition.feasible_intervals(outcomes, fits)
    slacks = outcome_acquisition._constraint_callables(outcomes, fits)
    names = list(outcomes.names)
    assert set(intervals) == {names.index("cost"), names.index("purity")}
    # Model units: every value on a grid through the thresholds is inside its outcome's interval
    # exactly when every constraint on that outcome has a non-positive slack.
    grid = torch.linspace(-120.0, 120.0, 4801, dtype=torch.float64)
    for i, (lo, hi) in intervals.items():
        Z = torch.zeros(len(grid), len(names), dtype=torch.float64)
        Z[:, i] = grid
        on_i = [s for s, c in zip(slacks, outcomes.constraints, strict=True)
                if names.index(c.name) == i]  # fmt: skip
        by_slack = torch.stack([s(Z) <= 0 for s in on_i]).all(dim=0)
        inside = torch.ones(len(grid), dtype=torch.bool)
        if lo is not None:
            inside &= grid >= lo
        if hi is not None:
            inside &= grid <= hi
        assert torch.equal(by_slack, inside), (names[i], lo, hi)
    # cost is minimised (modelled as -cost): cost <= 7.5 is -cost >= -7.5.
    assert intervals[names.index("cost")] == (pytest.approx(-7.5), None)
    assert intervals[names.index("purity")] == (pytest.approx(93.0), pytest.approx(98.0))


def test_logcei_is_log_ei_plus_the_log_probability_of_every_constraint():
    outcomes, trials, fits = _purity_band_campaign_data()
    best = outcome_acquisition.best_feasible(outcomes, trials)
    # Feasible measured points: x = 0.35, 0.45, 0.55, 0.7 (on purity's bound 93): cost 3.
    assert best == pytest.approx(3.0)
    # Scored against a worse incumbent, 6, so that EI and the probability are both far from
    # underflow across the band.
    best = 6.0
    single = outcome_acquisition.constrained_single(outcomes, fits, best)
    assert single is not None
    acq, name = single
    assert name == "logcei"
    X = torch.linspace(0.0, 1.0, 23, dtype=torch.float64).reshape(-1, 1)
    with torch.no_grad():
        got = acq(X.unsqueeze(1))
    # By hand, in the outcomes' own units: EI of a minimised cost below 6, times
    # P(93 <= purity <= 98) under purity's posterior.
    mu, sd = fits["cost"].mean_sd(X)
    u = (best - mu) / sd
    ei = sd * (u * NORMAL.cdf(u) + NORMAL.log_prob(u).exp())
    mu_p, sd_p = fits["purity"].mean_sd(X)
    p_purity = NORMAL.cdf((98.0 - mu_p) / sd_p) - NORMAL.cdf((93.0 - mu_p) / sd_p)
    expected = torch.log(ei * p_purity)
    # The direct formula loses its digits in the far tails, where BoTorch's works in log space.
    finite = torch.isfinite(expected) & (expected > -20)
    assert finite.sum() >= 9
    assert torch.allclose(got[finite], expected[finite], atol=1e-6, rtol=1e-6)


def test_before_any_feasible_trial_a_single_ask_maximises_the_probability_of_feasibility():
    outcomes, trials, fits = _purity_band_campaign_data()
    infeasible = [t for t in trials if not outcomes.is_feasible(t.values)]
    assert outcome_acquisition.best_feasible(outcomes, infeasible) is None
    single = outcome_acquisition.constrained_single(outcomes, fits, None)
    assert single is not None
    acq, name = single
    assert name == "log_p_feasible"
    X = torch.tensor([[0.1], [0.45], [0.9]], dtype=torch.float64)
    with torch.no_grad():
        values = acq(X.unsqueeze(1))
    assert int(values.argmax()) == 1  # the middle of the feasible band 0.2 <= x <= 0.7


def test_best_feasible_skips_infeasible_and_unfinished_trials():
    outcomes = Outcomes(
        (bl.Objective("y", "maximize"),), (bl.OutcomeConstraint("purity", ">=", 95.0),)
    )
    trials = [
        Trial(0, TrialState.COMPLETED, {"x": 0.1}, values={"y": 9.0, "purity": 90.0}),
        Trial(1, TrialState.COMPLETED, {"x": 0.2}, values={"y": 3.0, "purity": 96.0}),
        Trial(2, TrialState.COMPLETED, {"x": 0.3}, values={"y": 5.0, "purity": 95.0}),
        Trial(3, TrialState.PENDING, {"x": 0.4}, values={"y": 8.0, "purity": 99.0}),
    ]
    assert outcome_acquisition.best_feasible(outcomes, trials) == 5.0


def _campaign(url: str, name: str, measure, **acq) -> bl.Campaign:
    campaign = bl.Campaign.create(
        name, [bl.Real("x", 0, 1), bl.Real("y", 0, 1)], objectives=[bl.Objective("f", "minimize")],
        outcome_constraints=[bl.OutcomeConstraint("c", "<=", 0.0)], storage=url, seed=3,
        initial_design_size=6,
        acquisition_settings={"num_restarts": 2, "raw_samples": 64, "mc_samples": 64, **acq},
    )  # fmt: skip
    for t in campaign.ask(6):
        campaign.tell(t.number, measure(t.params))
    return campaign


def _gramacy_like(p: dict) -> dict[str, float]:
    x, y = p["x"], p["y"]
    return {"f": x + y, "c": 1.5 - x - 2 * y - 0.5 * math.sin(2 * math.pi * (x * x - 2 * y))}


def test_a_rounds_first_point_is_the_single_asks_point(sqlite_url):
    single = _campaign(sqlite_url, "one", _gramacy_like, constrained_first="logcei")
    batch = _campaign(sqlite_url, "four", _gramacy_like, constrained_first="logcei")
    (alone,) = single.ask(1)
    round_ = batch.ask(3)
    assert alone.provenance["acquisition"] == "logcei_qlognei"
    assert round_[0].params == alone.params
    assert len({tuple(t.params.values()) for t in round_}) == 3
    # The first point's stored value is the analytic constrained LogEI; later points differ.
    assert alone.provenance["acquisition_value"] == pytest.approx(
        round_[0].provenance["acquisition_value"]
    )


def test_with_no_feasible_trial_the_campaign_asks_for_feasibility(sqlite_url):
    def never_feasible_yet(p: dict) -> dict[str, float]:
        # Feasible only where x + y > 1.8: none of 6 design points of seed 3 is.
        return {"f": p["x"], "c": 1.8 - p["x"] - p["y"]}

    campaign = _campaign(sqlite_url, "infeasible", never_feasible_yet, constrained_first="logcei")
    assert not any(campaign.is_feasible(t) for t in campaign.trials())
    (t,) = campaign.ask(1)
    assert t.provenance["acquisition"] == "log_p_feasible_qlognei"
    assert t.params["x"] + t.params["y"] > 1.5


@pytest.mark.parametrize(
    ("rule", "cost_cap", "expected"),
    [
        ("logcei", False, "logcei_qlognei"),
        ("qlognei", False, "qlognei_constrained"),
        # A constraint on the objective itself: not independent of it, so qLogNEI decides.
        ("logcei", True, "qlognei_constrained"),
    ],
)
def test_which_acquisition_scores_a_single_ask(rule, cost_cap, expected):
    settings = acquisition.resolve_settings({"constrained_first": rule})
    outcomes, trials, fits = _purity_band_campaign_data(cost_cap)
    X = SPACE.encode([t.params for t in trials])
    best = outcome_acquisition.best_feasible(outcomes, trials)
    _, name = outcome_acquisition.build_outcome_acquisition(
        outcomes, fits, X, None, 0, settings, None, best
    )
    assert name == expected


def test_an_unknown_rule_is_refused():
    with pytest.raises(bl.SettingsError, match="constrained_first"):
        acquisition.resolve_settings({"constrained_first": "analytic"})


@pytest.mark.parametrize("rule", ["logcei", "qlognei"])
def test_the_analytic_rule_starts_a_restart_at_the_best_feasible_point(
    sqlite_url, monkeypatch, rule
):
    seen = []
    real = multi_objective.optimize

    def spy(acq, space, n, settings, **kw):
        seen.append(kw.get("incumbent"))
        return real(acq, space, n, settings, **kw)

    monkeypatch.setattr(multi_objective, "optimize", spy)
    campaign = _campaign(sqlite_url, rule, _gramacy_like, constrained_first=rule)
    feasible = [t for t in campaign.trials() if campaign.is_feasible(t)]
    campaign.ask(1)
    assert len(seen) == 1
    if rule == "qlognei":
        assert seen[0] is None
        return
    best = min(feasible, key=lambda t: t.values["f"])
    assert torch.equal(seen[0], campaign.space.encode([best.params])[0])


class _NarrowPeak(torch.nn.Module):
    """A toy acquisition: a broad hill at (0.9, 0.9) (value up to 1) and, at ``peak``, a spike
    of width 1e-3 (value 2) that no Sobol raw sample hits."""

    def __init__(self, peak: torch.Tensor) -> None:
        super().__init__()
        self.peak = peak
        self.model = None
        self.X_pending = None

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        x = X[..., 0, :]
        hill = torch.exp(-((x - 0.9) ** 2).sum(-1) / 0.1)
        spike = 2 * torch.exp(-((x - self.peak) ** 2).sum(-1) / 1e-6)
        return hill + spike

    def set_X_pending(self, X_pending=None) -> None:
        self.X_pending = X_pending


@pytest.mark.filterwarnings("ignore")
def test_a_search_from_the_incumbent_finds_a_peak_the_raw_samples_miss():
    space = bl.Space([bl.Real("x", 0.0, 1.0), bl.Real("y", 0.0, 1.0)])
    peak = torch.tensor([0.3141, 0.2718], dtype=torch.float64)
    settings = acquisition.resolve_settings({"num_restarts": 4, "raw_samples": 64})
    torch.manual_seed(0)
    plain = acquisition.optimize(_NarrowPeak(peak), space, 1, settings)
    torch.manual_seed(0)
    started = acquisition.optimize(_NarrowPeak(peak), space, 1, settings, incumbent=peak + 2e-4)
    assert torch.allclose(plain[0], torch.tensor([0.9, 0.9], dtype=torch.float64), atol=1e-3)
    assert torch.allclose(started[0], peak, atol=1e-4)


def test_parameter_constraints_keep_qlognei(sqlite_url):
    campaign = bl.Campaign.create(
        "region", [bl.Real("x", 0, 1), bl.Real("y", 0, 1)], objectives=[bl.Objective("f", "minimize")],
        outcome_constraints=[bl.OutcomeConstraint("c", "<=", 0.0)],
        parameter_constraints=["x + y <= 1.2"], storage=sqlite_url, seed=3, initial_design_size=6,
        acquisition_settings={"num_restarts": 2, "raw_samples": 64, "mc_samples": 64},
    )  # fmt: skip
    assert campaign.config.acquisition["constrained_first"] == "logcei"
    for t in campaign.ask(6):
        campaign.tell(t.number, _gramacy_like(t.params))
    (t,) = campaign.ask(1)
    assert t.provenance["acquisition"] == "qlognei_constrained"
    assert t.params["x"] + t.params["y"] <= 1.2 + 1e-9
