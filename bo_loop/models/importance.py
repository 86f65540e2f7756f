"""Which parameters move the predicted outcome: first-order (main-effect) indices of a fitted model."""

from __future__ import annotations

import pandas as pd
import torch
from torch import Tensor

from bo_loop.models.fitting import FittedModel
from bo_loop.space import Space


def importance(
    fitted: FittedModel, *, samples: int = 256, levels: int = 16, seed: int = 0
) -> pd.DataFrame:
    """How much each parameter moves the predicted outcome: first-order (main-effect) indices.

    For parameter ``i``, the main effect is ``g_i(v) = E[mean(x) | x_i = v]``, the model's mean
    averaged over the other parameters drawn uniformly from the space. Its share of the mean's
    variance, ``Var(g_i) / Var(mean)``, is the first-order Sobol index; ``effect_range`` is
    ``max g_i - min g_i`` in the outcome's units. Both use only the posterior mean, so they
    work for every surrogate (a GP's lengthscales would not).

    Args:
        fitted: The fitted surrogate.
        samples: Random settings of the other parameters per level (the same for every level).
        levels: Values per parameter: every choice or integer when there are at most this many,
            else evenly spaced ones.
        seed: Seeds the sample.

    Returns:
        A DataFrame indexed by parameter name with columns ``first_order`` and ``effect_range``,
        sorted by ``first_order``, largest first.
    """
    space = fitted.space
    generator = torch.Generator().manual_seed(seed)
    base = space.from_unit_cube(
        torch.rand(samples, space.dim, generator=generator, dtype=torch.float64)
    )
    total_mean, _ = fitted.mean_sd(base)
    total_var = float(total_mean.var(correction=0))
    rows = []
    for i in range(space.dim):
        values = _levels(space, i, levels)
        X = base.repeat(len(values), 1)
        X[:, i] = values.repeat_interleave(samples)
        mean, _ = fitted.mean_sd(X)
        effect = mean.reshape(len(values), samples).mean(-1)
        rows.append(
            {
                "parameter": space.names[i],
                "first_order": float(effect.var(correction=0)) / total_var
                if total_var > 0
                else 0.0,
                "effect_range": float(effect.max() - effect.min()),
            }
        )
    frame = pd.DataFrame(rows).set_index("parameter")
    return frame.sort_values("first_order", ascending=False)


def _levels(space: Space, i: int, levels: int) -> Tensor:
    """Encoded values of parameter ``i`` at which to evaluate its main effect."""
    grid = space.cat_dims.get(i) or space.discrete_dims.get(i)
    if grid is not None and len(grid) <= levels:
        return torch.tensor(grid, dtype=torch.float64)
    column = torch.zeros(levels, space.dim, dtype=torch.float64)
    column[:, i] = torch.linspace(0.0, 1.0, levels, dtype=torch.float64)
    upper = space.bounds()[1, i]
    column[:, i] = column[:, i] * upper
    return space.round_to_grid(column)[:, i].unique()
