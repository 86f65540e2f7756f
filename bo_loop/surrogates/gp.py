"""Gaussian-process surrogate: BoTorch's SingleTaskGP, categorical columns one-hot inside the model."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from botorch.exceptions.warnings import InputDataWarning, OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor

from bo_loop.surrogates.encoding import OneHotCategorical

#: The GP needs no options yet: BoTorch's defaults (dimension-scaled lengthscale prior, inferred
#: noise) are what the benchmarks measured. Kept as a dict so campaigns can store settings later.
DEFAULT_SETTINGS: dict[str, Any] = {}

#: L-BFGS-B iterations of the marginal-likelihood fit; None keeps BoTorch's default. The fit is
#: about three quarters of an ask on Hartmann6 at 59 points (experiments/RESULTS.md, "Speed").
FIT_MAXITER: int | None = None


def fit_gp(
    train_X: Tensor,
    train_Y: Tensor,
    *,
    bounds: Tensor,
    cat_dims: dict[int, list[float]],
    seed: int,
) -> Model:
    """Fit a GP by maximising the marginal likelihood.

    Args:
        train_X: An ``n x d`` float64 tensor in the space's encoding (numeric columns in [0, 1]).
        train_Y: An ``n x 1`` float64 tensor; standardised inside the model.
        bounds: The ``2 x d`` encoded bounds; numeric columns are already scaled to them.
        cat_dims: Categorical columns (index -> allowed values), one-hot expanded inside the model.
        seed: Seeds the random restarts that the fit may take when the optimiser fails.

    Returns:
        A fitted model in eval mode whose posterior is on the scale of ``train_Y``.
    """
    del bounds  # numeric columns arrive in [0, 1] already: the encoding is the normalisation
    with torch.random.fork_rng(), warnings.catch_warnings():
        torch.manual_seed(seed)
        # Inputs are normalised by construction; categorical index columns legitimately exceed 1.
        warnings.simplefilter("ignore", InputDataWarning)
        warnings.simplefilter("ignore", OptimizationWarning)
        # Categorical columns are one-hot expanded inside the model. BoTorch's MixedSingleTaskGP
        # (a categorical kernel) fitted 5-10x slower here for no gain in the benchmarks.
        one_hot = OneHotCategorical(train_X.shape[-1], cat_dims) if cat_dims else None
        model = SingleTaskGP(
            train_X, train_Y, outcome_transform=Standardize(m=1), input_transform=one_hot
        )
        fit_options = None if FIT_MAXITER is None else {"options": {"maxiter": FIT_MAXITER}}
        fit_gpytorch_mll(
            ExactMarginalLogLikelihood(model.likelihood, model), optimizer_kwargs=fit_options
        )
    model.eval()
    return model
