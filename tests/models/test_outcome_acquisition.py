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
