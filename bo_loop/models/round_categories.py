"""A round's points spread over a categorical parameter's choices by how likely each holds the best.

Sequential greedy optimisation of qLogNEI puts every point of a round where the model expects
most, and on a categorical parameter that is the choice of the best observation so far: with two
design points per choice the model cannot yet tell a choice whose points were unlucky from a poor
one, and no result comes back within a round to correct it (issue 14, "mixed" in rounds).

`CategoryPlan` matches the round to the model's belief instead: probability matching, as
Thompson sampling does, but per choice rather than per point. From joint posterior samples it
estimates, for each categorical column, the probability ``p_c`` that choice ``c`` holds the best
point. A round of ``T`` points (the pending ones and the ones asked) gets ``round(p_c * T)``
points of choice ``c`` (largest remainders), and each point after the first takes the choice
furthest below its share; within that choice the acquisition places it as before. Once the model
is sure which choice is best, every point goes there, as before. The acquisition setting
``round_categories`` ("matched" or "greedy") chooses; `acquisition.RULES` has the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import gpytorch
import torch
from botorch.models.model import Model
from torch import Tensor
from torch.quasirandom import SobolEngine

from bo_loop.parameters import Categorical
from bo_loop.space import Space

#: Sobol points of the space the probabilities are estimated over, besides the observed points,
#: and the joint posterior samples drawn there.
CANDIDATES = 512
SAMPLES = 256
#: At most this many observed points (the best by posterior mean) join the candidates, so that the
#: joint samples stay one dense Cholesky of at most 768 points on a history of any size.
OBSERVED = 256


def shares(probabilities: Tensor, total: int) -> Tensor:
    """``total`` points split in proportion to ``probabilities`` (largest remainders; equal
    remainders go to the more probable choice, then to the first). Sums to ``total``."""
    exact = probabilities.double() * total
    counts = exact.floor()
    left = total - int(counts.sum())
    order = sorted(
        range(len(counts)), key=lambda c: (-float(exact[c] - counts[c]), -float(probabilities[c]))
    )
    for c in order[:left]:
        counts[c] += 1
    return counts.long()


@dataclass(frozen=True)
class CategoryPlan:
    """For each categorical column (by index), the probability that each choice holds the best
    point."""

    probabilities: Mapping[int, Tensor]

    def fixed_features(self, busy: Tensor | None, total: int) -> dict[int, float]:
        """The choice the next point takes in each categorical column: the one furthest below its
        share of a round of ``total`` points, given the ``busy`` (pending, or chosen earlier in
        the round) encoded points; ties go to the more probable choice, then to the first."""
        fixed: dict[int, float] = {}
        for dim, probs in self.probabilities.items():
            deficit = shares(probs, total)
            if busy is not None:
                deficit -= torch.bincount(busy[:, dim].round().long(), minlength=len(probs))
            best = max(range(len(probs)), key=lambda c: (int(deficit[c]), float(probs[c]), -c))
            fixed[dim] = float(best)
        return fixed


def category_plan(model: Model, space: Space, observed: Tensor, seed: int) -> CategoryPlan:
    """`CategoryPlan` of a fitted ``model`` (larger is better) on ``space``, from ``SAMPLES`` joint
    posterior samples at ``CANDIDATES`` Sobol points and the best ``OBSERVED`` of the ``observed``
    (encoded) points.

    Leaves torch's global random state as it found it, so the acquisition's optimisation draws
    what it would have drawn without the plan.
    """
    observed = observed.to(torch.float64)
    sobol = SobolEngine(space.dim, scramble=True, seed=seed).draw(CANDIDATES, dtype=torch.float64)
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        mean = model.posterior(observed).mean.reshape(-1)  # type: ignore[attr-defined]
        best = mean.argsort(descending=True)[:OBSERVED].sort().values  # in the stored order
        candidates = torch.cat([space.from_unit_cube(sobol), observed[best]])
        # Exact Cholesky samples: past GPyTorch's default size (800) it samples by Lanczos.
        with gpytorch.settings.max_cholesky_size(len(candidates) + 1):
            draws = model.posterior(candidates).rsample(torch.Size([SAMPLES]))
    winners = candidates[draws.reshape(SAMPLES, -1).argmax(dim=-1)]
    probabilities = {}
    for dim, values in space.cat_dims.items():
        counts = torch.bincount(winners[:, dim].round().long(), minlength=len(values)).double()
        probabilities[dim] = counts / counts.sum()
    return CategoryPlan(probabilities)


def round_total(X_pending: Tensor | None, q: int) -> int:
    """Points in the round being planned: the pending ones and the ``q`` asked."""
    return q + (0 if X_pending is None else len(X_pending))


def describe(plan: CategoryPlan, space: Space) -> dict[str, dict[str, float]]:
    """The plan's probabilities by parameter name and choice (a proposal's provenance)."""
    out = {}
    for dim, probs in plan.probabilities.items():
        parameter = space.parameters[dim]
        assert isinstance(parameter, Categorical)
        out[parameter.name] = {
            str(choice): round(float(p), 4)
            for choice, p in zip(parameter.choices, probs, strict=True)
        }
    return out
