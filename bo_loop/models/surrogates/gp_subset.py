"""The GP on a large history: hyperparameters from a subset, the posterior from a larger one.

An exact GP costs O(n^3) per evaluation of its marginal likelihood and a fit takes 20-400
evaluations, so on the 2,000-row production data a recommend took 43-67 s, and a 10,000-row
campaign would need 800 MB per covariance matrix. Past ``exact_max_rows`` observations (a GP
setting stored with the campaign) `fit_subset_gp` therefore:

1. fits the hyperparameters on ``fit_rows`` rows (the marginal likelihood's cost is cubic in them);
2. conditions the posterior on ``condition_rows`` rows with those hyperparameters (one Cholesky,
   and each posterior query is linear in them).

Both subsets come from `select_rows`: a share (``near_incumbent_share``) of the rows nearest the
best observation, where the search is decided, and the rest space-filling (greedy farthest-point
in the kernel's inputs), so the model still sees every region that was measured. The choice is a
deterministic function of the data, so a campaign reopened elsewhere fits the same model.
experiments/large_history.py measures what it costs in accuracy against the exact GP.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import torch
from botorch.models import SingleTaskGP
from torch import Tensor


def select_rows(Z: Tensor, Y: Tensor, size: int, near_share: float) -> Tensor:
    """Indices of ``size`` rows: those nearest the best observation, then space-filling ones.

    Args:
        Z: ``n x p`` kernel inputs (numeric columns in [0, 1], categorical ones one-hot).
        Y: ``n x 1`` outcomes, larger is better.
        size: How many rows to keep.
        near_share: The share of ``size`` taken nearest the best row (the best row included).

    Returns:
        The sorted indices of the rows kept (all ``n`` when ``size >= n``). Ties go to the
        lower index, so the choice depends on the data alone.
    """
    n = Z.shape[0]
    if size >= n:
        return torch.arange(n)
    best = int(Y.reshape(-1).argmax())
    to_best = torch.cdist(Z, Z[best : best + 1]).reshape(-1)
    near = max(1, round(size * near_share))
    # A stable sort: equal distances keep the row order.
    chosen = torch.sort(to_best, stable=True).indices[:near]
    taken = torch.zeros(n, dtype=torch.bool)
    taken[chosen] = True
    # Greedy farthest point: each new row is the one farthest from every row kept so far.
    gap = torch.cdist(Z, Z[chosen]).min(dim=1).values
    gap[taken] = -1.0
    picks = [chosen]
    for _ in range(size - near):
        i = int(gap.argmax())  # the first of equal maxima
        picks.append(torch.tensor([i]))
        gap = torch.minimum(gap, torch.cdist(Z, Z[i : i + 1]).reshape(-1))
        gap[i] = -1.0
    return torch.sort(torch.cat(picks)).values


def uses_subset(n: int, settings: Mapping[str, Any]) -> bool:
    """Whether a GP on ``n`` observations is fitted by `fit_subset_gp` under ``settings``."""
    limit = settings["exact_max_rows"]
    return limit is not None and n > limit


def fit_subset_gp(
    train_X: Tensor,
    train_Y: Tensor,
    features: Callable[[Tensor], Tensor],
    settings: Mapping[str, Any],
    fit_exact: Callable[[Tensor, Tensor], SingleTaskGP],
    build: Callable[[Tensor, Tensor, Any, Any], SingleTaskGP],
) -> tuple[SingleTaskGP, Tensor]:
    """A GP on many rows: hyperparameters fitted on one subset, conditioned on another.

    Args:
        train_X: ``n x d`` inputs in the space's encoding.
        train_Y: ``n x 1`` outcomes, larger is better.
        features: Encoded inputs -> kernel inputs (distances for `select_rows`).
        settings: The GP's full settings (``fit_rows``, ``condition_rows``,
            ``near_incumbent_share``).
        fit_exact: Fits an exact GP on ``(X, Y)`` (warm start included) and returns it.
        build: Builds an unfitted GP on ``(X, Y)`` with the given outcome transform and
            likelihood.

    Returns:
        The conditioned SingleTaskGP in eval mode, and its ``m x d`` training inputs.
    """
    Z = features(train_X)
    share = settings["near_incumbent_share"]
    fit_rows = select_rows(Z, train_Y, settings["fit_rows"], share)
    fitted = fit_exact(train_X[fit_rows], train_Y[fit_rows])
    fitted.eval()
    rows = select_rows(Z, train_Y, settings["condition_rows"], share)
    X, Y = train_X[rows], train_Y[rows]
    # The fitted model's outcome transform, already trained and in eval mode, standardises the
    # new rows with the fitted subset's mean and sd: the hyperparameters (constant, outputscale,
    # noise) are in those units and carry over unchanged, as does the likelihood (its prior and
    # floor: a noise-free refit's, under noise_prior "auto").
    model = build(X, Y, copy.deepcopy(fitted.outcome_transform), copy.deepcopy(fitted.likelihood))
    with torch.no_grad():
        mine = dict(model.named_parameters())
        for name, p in fitted.named_parameters():
            mine[name].copy_(p)
    model.eval()
    return model, X
