"""The multi-outcome acquisition's own pieces: the dominance test and the baseline pruning."""

from __future__ import annotations

import pytest
import torch
from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
from botorch.acquisition.multi_objective.utils import prune_inferior_points_multi_objective
from botorch.models.model import Model, ModelList
from botorch.posteriors.gpytorch import GPyTorchPosterior
from botorch.utils.multi_objective.pareto import is_non_dominated
from gpytorch.distributions import MultivariateNormal

from bo_loop.models import outcome_acquisition
from bo_loop.models.outcome_acquisition import non_dominated_samples, prune_baseline


@pytest.mark.parametrize("m", [2, 3])
def test_non_dominated_samples_is_botorchs_front_with_ties_and_duplicates(m, monkeypatch):
    torch.manual_seed(0)
    values = torch.randn(300, 12, m, dtype=torch.float64).round(decimals=1)  # many ties
    values[:, 4] = values[:, 7]  # a duplicated point: neither copy dominates the other
    expected = is_non_dominated(values, deduplicate=False)
    assert torch.equal(non_dominated_samples(values), expected)
    assert expected[:, 4].any()
    monkeypatch.setattr(outcome_acquisition, "_PAIRS_PER_CHUNK", 1000)  # 6 samples per chunk
    assert torch.equal(non_dominated_samples(values), expected)


class FixedOutcome(Model):
    """A one-output model whose posterior is ``f(X)`` with a negligible variance."""

    def __init__(self, f) -> None:
        super().__init__()
        self.f = f

    @property
    def num_outputs(self) -> int:
        return 1

    def posterior(self, X, output_indices=None, observation_noise=False, posterior_transform=None):
        mean = self.f(X)
        covariance = 1e-12 * torch.eye(mean.shape[-1], dtype=X.dtype).expand(
            *mean.shape, mean.shape[-1]
        )
        return GPyTorchPosterior(MultivariateNormal(mean, covariance))


def test_prune_baseline_keeps_the_feasible_front_above_the_reference_point():
    X = torch.tensor(
        [[0.1, 0.0], [0.4, 0.0], [0.4, 0.0], [0.7, 0.0], [0.9, 0.0],  # on the front
         [0.4, 0.5], [0.8, 0.9],  # dominated
         [0.99, 0.0]],  # on the front, but its second outcome is below the reference point
        dtype=torch.float64,
    )  # fmt: skip
    model = ModelList(
        FixedOutcome(lambda X: X[..., 0]),
        FixedOutcome(lambda X: 1.0 - X[..., 0] ** 2 - X[..., 1]),
        FixedOutcome(lambda X: X[..., 0] - 0.8),  # a constrained outcome: feasible when <= 0
    )
    ref = torch.tensor([0.0, 0.05], dtype=torch.float64)
    objective = IdentityMCMultiOutputObjective(outcomes=[0, 1])
    kept = prune_baseline(model, X, ref, objective, None, 3, seed=0)
    assert kept.tolist() == X[:5].tolist()
    constraints = [lambda Z: Z[..., 2]]
    kept = prune_baseline(model, X, ref, objective, constraints, 3, seed=0)
    assert kept.tolist() == X[:4].tolist()  # x = 0.9 breaks the constraint
    theirs = prune_inferior_points_multi_objective(
        model, X, ref, objective=objective, constraints=constraints
    )
    assert kept.tolist() == theirs.tolist()


def test_hvi_units_keep_ordinary_objectives_and_rescale_huge_ones() -> None:
    from bo_loop.models.outcome_acquisition import HVI_HIGH, hvi_units

    assert hvi_units(torch.tensor([0.5, 3.0, 250.0]), -10.0) == (0.0, 1.0)
    assert hvi_units(torch.tensor([2.0, 2.0]), 1.0) == (0.0, 1.0)  # no spread yet: own units
    offset, unit = hvi_units(torch.tensor([1.0e10, 3.0e10]), 0.9e10)
    assert offset == 0.9e10 and unit == 2.0**34  # 2e10 rounds to 2**34 (1.7e10)
    # tiny objectives are lifted by the models (`fitting.outcome_scale`) before they get here
    assert hvi_units(torch.tensor([1.0e-8, 4.0e-8]), 0.0) == (0.0, 1.0)
    # Small spread on a large value: measured from the reference point.
    assert hvi_units(torch.tensor([5.0e7, 5.0e7 + 3.0]), 4.0e7) == (4.0e7, 4.0)
    assert hvi_units(torch.tensor([HVI_HIGH, HVI_HIGH + 1.0]), 0.0) == (0.0, 1.0)


def _two_objective_proposals(scale: float) -> list[float]:
    import math

    import bo_loop as bl

    campaign = bl.Campaign.create(
        f"hvi-{scale}", parameters=[bl.Real("x", 0.0, 1.0), bl.Real("z", 0.0, 1.0)],
        objectives=[bl.Objective("a"), bl.Objective("b", goal="minimize")],
        storage="sqlite://", seed=0,
    )  # fmt: skip

    def outcomes(p):
        a = 1.0 + math.sin(3.0 * p["x"]) + 0.3 * p["z"]
        return {"a": scale * a, "b": scale * (1.0 + (p["x"] - 0.3) ** 2 + p["z"] ** 2)}

    for trial in campaign.ask(5):
        campaign.tell(trial.number, outcomes(trial.params))
    proposals = []
    for _ in range(2):
        (trial,) = campaign.ask(1)
        assert trial.provenance["acquisition"] == "qlognehvi"
        proposals += [trial.params["x"], trial.params["z"]]
        campaign.tell(trial.number, outcomes(trial.params))
    return proposals


def test_two_objectives_in_the_1e10s_or_1e_minus_8s_are_proposed_for_as_in_ordinary_units():
    ordinary = _two_objective_proposals(1.0)
    # Before hvi_units every acquisition value was NaN at this size and the ask crashed.
    assert _two_objective_proposals(2.0**34) == pytest.approx(ordinary, abs=1e-4)
    # Before the models lifted tiny outcomes and the reference point was inferred in their
    # units, the second proposal here was (0, 0).
    assert _two_objective_proposals(2.0**-27) == pytest.approx(ordinary, abs=1e-4)
