"""Using a fitted surrogate on a campaign's data: predictions and the recommended optimum."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.models.model import Model
from torch import Tensor

from bo_loop.exceptions import BoLoopError
from bo_loop.objective import Objective
from bo_loop.propose import optimize, step_seed, torch_threads, training_data
from bo_loop.space import Space
from bo_loop.surrogates import fit_surrogate
from bo_loop.trial import Trial

#: Two-sided 95% normal quantile, for credible intervals.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class FittedModel:
    """A surrogate fitted on a campaign's completed trials, with what is needed to use it."""

    model: Model
    space: Space
    objective: Objective
    X: Tensor
    Y: Tensor

    def mean_sd(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and sd of the outcome (original scale and sign) at ``n x d`` encoded points."""
        with torch.no_grad():
            posterior = self.model.posterior(X.unsqueeze(1))
            mean = posterior.mean.reshape(-1) * self.objective.sign  # type: ignore[attr-defined]
            sd = posterior.variance.clamp_min(0).sqrt().reshape(-1)  # type: ignore[attr-defined]
        return mean, sd


@dataclass(frozen=True)
class Recommendation:
    """The settings the surrogate predicts to be best, and how sure it is.

    Attributes:
        params: The recommended settings (integers and choices exact).
        mean: Predicted outcome there.
        sd: Predicted standard deviation of the outcome there.
        lower: Lower end of the 95% credible interval.
        upper: Upper end of the 95% credible interval.
    """

    params: dict[str, Any]
    mean: float
    sd: float
    lower: float
    upper: float


def fit_model(
    space: Space,
    objective: Objective,
    trials: Sequence[Trial],
    seed: int,
    surrogate: str,
    settings: Mapping[str, Any],
) -> FittedModel:
    """Fit the campaign's surrogate on its completed trials (seeded as the next ask would be)."""
    X, Y = training_data(space, objective, trials)
    if len(X) < 2:
        raise BoLoopError(
            f"The surrogate needs at least 2 completed trials, but the campaign has {len(X)}."
        )
    this_seed = step_seed(seed, len(trials))
    with torch.random.fork_rng(), torch_threads(len(X)):
        torch.manual_seed(this_seed)
        model = fit_surrogate(surrogate, X, Y, bounds=space.bounds(), cat_dims=space.cat_dims,
                              seed=this_seed, settings=settings)  # fmt: skip
    return FittedModel(model=model, space=space, objective=objective, X=X, Y=Y)


def predict_rows(
    fitted: FittedModel, rows: pd.DataFrame | Sequence[Mapping[str, Any]]
) -> pd.DataFrame:
    """Mean and sd at parameter rows; the result has the rows' index and columns mean, sd."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    missing = [n for n in fitted.space.names if n not in frame.columns]
    if missing:
        raise BoLoopError(f"predict needs a column for every parameter; missing {missing!r}.")
    params = [
        fitted.space.validate({n: _plain(row[n]) for n in fitted.space.names})
        for _, row in frame.iterrows()
    ]
    if not params:
        return pd.DataFrame({"mean": [], "sd": []}, index=frame.index)
    mean, sd = fitted.mean_sd(fitted.space.encode(params))
    return pd.DataFrame({"mean": mean.numpy(), "sd": sd.numpy()}, index=frame.index)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") and not isinstance(value, str) else value


class _RiskAdjustedMean(AcquisitionFunction):
    """Signed posterior mean minus ``kappa`` sds: the optimum a risk-averse user wants."""

    def __init__(self, model: Model, kappa: float):
        super().__init__(model)
        self.kappa = kappa

    def forward(self, X: Tensor) -> Tensor:
        posterior = self.model.posterior(X)
        mean = posterior.mean.squeeze(-1).squeeze(-1)  # type: ignore[attr-defined]
        sd = posterior.variance.clamp_min(1e-30).sqrt().squeeze(-1).squeeze(-1)  # type: ignore[attr-defined]
        return mean - self.kappa * sd


def recommend_point(fitted: FittedModel, risk_aversion: float) -> Recommendation:
    """Optimise the (risk-adjusted) predicted outcome over the space; observed points compete too."""
    acq = _RiskAdjustedMean(fitted.model, risk_aversion)
    with torch_threads(len(fitted.X)):
        found = optimize(acq, fitted.space, 1)
    candidates = torch.cat([found, fitted.X])
    with torch.no_grad():
        scores = acq(candidates.unsqueeze(1))
    best = candidates[int(scores.argmax())].unsqueeze(0)
    mean, sd = fitted.mean_sd(best)
    m, s = float(mean[0]), float(sd[0])
    params = fitted.space.decode(best)[0]
    if not (math.isfinite(m) and math.isfinite(s)):
        raise BoLoopError(f"The surrogate's prediction is not finite (mean={m}, sd={s}).")
    return Recommendation(params=params, mean=m, sd=s, lower=m - Z95 * s, upper=m + Z95 * s)
