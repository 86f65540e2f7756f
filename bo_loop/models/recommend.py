"""Using a fitted surrogate on a campaign's data: predictions and the recommended optimum.

Recommending from a surrogate has two known traps, and ``recommend_point`` avoids both on purpose:

- Extrapolation. Maximising a model's mean over the whole space finds where the model
  extrapolates a rising trend furthest, not a better setting: on the 2,000-row production data of
  issue 5 a GP and DNGO both put the optimum at the sparsest corner (high Speed), predicting a
  yield of 105-111 where the truth is capped at 100, 2-4 sd away. By default the recommendation
  is therefore the best *measured* setting as ranked by the model (``within="data"``, the usual
  in-sample choice for noisy problems: ranked by the model's mean, not the raw outcome, so that
  one lucky noisy measurement does not win); ``within="space"`` optimises over the whole space.
- Misfit. A smooth surrogate cannot follow a kink (a yield capped at 100): next to it the mean
  overshoots the data by ~1.5 while the posterior sd, which only knows the fitted noise, is 0.15.
  The interval of a recommendation is therefore widened by the model's misfit to the data at and
  around the point: the part of the residuals that the fitted noise does not explain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.models.model import Model
from torch import Tensor

from bo_loop.exceptions import BoLoopError
from bo_loop.models.acquisition import DEFAULT_SETTINGS as DEFAULT_ACQUISITION
from bo_loop.models.acquisition import optimize
from bo_loop.models.constrained import Region
from bo_loop.models.fitting import CHUNK, FittedModel, torch_threads
from bo_loop.space import Space

#: Two-sided 95% normal quantile, for credible intervals.
Z95 = 1.959963984540054

#: How many nearest observations measure the model's misfit around a recommended point.
MISFIT_NEIGHBOURS = 10

#: A categorical column's contribution to a distance when the choices differ: larger than any
#: numeric distance in the unit cube, so "near the data" always means "same choice as the data".
_CATEGORY_GAP = 10.0


@dataclass(frozen=True)
class Recommendation:
    """The settings the surrogate predicts to be best, and how sure it is.

    Attributes:
        params: The recommended settings (integers and choices exact).
        mean: Predicted outcome there.
        sd: Standard deviation of the true outcome there: the surrogate's posterior sd combined
            with its misfit to the nearest observations (``sqrt(model_sd**2 + misfit**2)``).
        lower: Lower end of the 95% interval, ``mean - 1.96 sd``.
        upper: Upper end of the 95% interval, ``mean + 1.96 sd``.
        model_sd: The surrogate's own posterior sd there.
        misfit: Root mean square of the residuals of the nearest observations beyond what the
            fitted noise explains (0 when the model reproduces the data near the point).
        within: ``"data"`` (searched near measured settings) or ``"space"`` (the whole space).
        p_feasible: With outcome constraints, the probability that every one holds there (the
            outcomes' surrogates taken as independent); None without.

    Predictions and interval ends lie within the objective's known bounds (clipped).
    """

    params: dict[str, Any]
    mean: float
    sd: float
    lower: float
    upper: float
    model_sd: float = 0.0
    misfit: float = 0.0
    within: str = "data"
    p_feasible: float | None = None


def predict_rows(
    fitted: FittedModel, rows: pd.DataFrame | Sequence[Mapping[str, Any]]
) -> pd.DataFrame:
    """Mean and sd at parameter rows; the result has the rows' index and columns mean, sd.

    The mean is clipped into the objective's known bounds.
    """
    frame, params = parameter_rows(fitted.space, rows)
    if not params:
        return pd.DataFrame({"mean": [], "sd": []}, index=frame.index)
    mean, sd = fitted.mean_sd(fitted.space.encode(params))
    if fitted.objective.bounds is not None:
        lo, hi = fitted.objective.bounds
        mean = mean.clamp(min=lo, max=hi)
    return pd.DataFrame({"mean": mean.numpy(), "sd": sd.numpy()}, index=frame.index)


def parameter_rows(
    space: Space, rows: pd.DataFrame | Sequence[Mapping[str, Any]]
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The rows as a DataFrame and their validated parameters, one dict per row."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    missing = [n for n in space.names if n not in frame.columns]
    if missing:
        raise BoLoopError(f"predict needs a column for every parameter; missing {missing!r}.")
    params = [
        space.validate({n: _plain(row[n]) for n in space.names}) for _, row in frame.iterrows()
    ]
    return frame, params


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


# -- distances in the encoded space --------------------------------------------------------


def _metric_coords(space: Space, X: Tensor) -> Tensor:
    """Coordinates in which Euclidean distance means "how different are these settings".

    Numeric columns are already in [0, 1]; a categorical index column is scaled so that two
    different choices are further apart than any two numeric settings.
    """
    Z = X.clone()
    for i in space.cat_dims:
        Z[:, i] = Z[:, i] * _CATEGORY_GAP
    return Z


def _nearest(space: Space, points: Tensor, data: Tensor, k: int = 1) -> tuple[Tensor, Tensor]:
    """Distances to and indices of the ``k`` nearest rows of ``data`` for each point."""
    a, b = _metric_coords(space, points), _metric_coords(space, data)
    dists, idx = [], []
    for part in a.split(CHUNK):
        d = torch.cdist(part, b, compute_mode="donot_use_mm_for_euclid_dist")
        values, where = d.topk(min(k, len(b)), dim=-1, largest=False)
        dists.append(values)
        idx.append(where)
    return torch.cat(dists), torch.cat(idx)


def _score(fitted: FittedModel, X: Tensor, kappa: float) -> Tensor:
    """Signed mean minus ``kappa`` sd: larger is a better recommendation."""
    mean, sd = fitted.mean_sd(X)
    return mean * fitted.objective.sign - kappa * sd


def misfit_at(fitted: FittedModel, x: Tensor, k: int = MISFIT_NEIGHBOURS) -> float:
    """The model's misfit at ``x``: how far it disagrees with the data there, beyond noise.

    Two measures, the larger wins: the residual of the observations at ``x`` itself (when ``x``
    was measured), and the RMS residual of the ``k`` nearest observations. Each counts only the
    part of the squared residual that the fitted noise variance does not explain.

    Args:
        fitted: The fitted surrogate.
        x: A ``1 x d`` encoded point.
        k: How many nearest observations make the neighbourhood.

    Returns:
        The misfit on the outcome's scale; 0 where the model reproduces the data within its noise.
    """
    dist, idx = _nearest(fitted.space, x, fitted.X, k=k)
    near = fitted.X[idx[0]]
    mean, sd = fitted.mean_sd(near)
    _, sd_noisy = fitted.mean_sd(near, observation_noise=True)
    u = fitted.scale  # squares in the model's units: those of outcomes near 1e155 overflow
    residual = fitted.observed[idx[0]] / u - mean / u
    excess = residual.pow(2) - ((sd_noisy / u).pow(2) - (sd / u).pow(2)).clamp_min(0)
    # A recommendation is the point where the model is highest, so where it overshoots most: at a
    # measured setting its own residual is the most direct evidence of that overshoot.
    own = excess[dist[0] <= 1e-12]
    worst = max(float(excess.mean()), float(own.mean()) if len(own) else 0.0)
    return math.sqrt(worst) * u if worst > 0 else 0.0


def recommend_point(
    fitted: FittedModel,
    risk_aversion: float = 0.0,
    *,
    within: Literal["data", "space"] = "data",
    acquisition: Mapping[str, Any] = DEFAULT_ACQUISITION,
    region: Region | None = None,
) -> Recommendation:
    """The best setting by the (risk-adjusted) predicted outcome, and how sure the model is there.

    Args:
        fitted: The fitted surrogate.
        risk_aversion: 0 ranks by the posterior mean; ``k > 0`` by the pessimistic bound
            ``mean -/+ k * sd``.
        within: ``"data"`` chooses among the measured settings (ranked by the model, not by
            their raw outcomes, so one lucky noisy measurement does not win); ``"space"``
            optimises over the whole space, the measured settings competing too.
        acquisition: The optimiser's effort (the campaign's acquisition settings).
        region: The campaign's parameter constraints (`constrained.region_for`): the
            recommendation satisfies them, in either mode; measured settings that break them
            (the operator's own, flagged ``violates``) are never recommended.

    Returns:
        The recommendation; its interval combines the posterior sd with the model's misfit to
        the data at and around the point (see ``misfit_at``).

    Raises:
        BoLoopError: ``within`` is not "data" or "space", the prediction is not finite, or
            ``within="data"`` and no measured setting satisfies the constraints.
    """
    if within not in ("data", "space"):
        raise BoLoopError(f"within must be 'data' or 'space', but got {within!r}.")
    kappa = float(risk_aversion)
    candidates = measured_candidates(fitted.X, region, within)
    if within == "space":
        acq = _RiskAdjustedMean(fitted.model, kappa)
        with torch_threads(len(fitted.X)):
            if region is None:
                best = optimize(acq, fitted.space, 1, acquisition)
            else:
                best = region.optimize(
                    acq, 1, acquisition["num_restarts"], acquisition["raw_samples"]
                )
            candidates = torch.cat([best, candidates])
    best = candidates[int(_score(fitted, candidates, kappa).argmax())].unsqueeze(0)
    mean, sd = fitted.mean_sd(best)
    m, s = float(mean[0]), float(sd[0])
    if not (math.isfinite(m) and math.isfinite(s)):
        raise BoLoopError(f"The surrogate's prediction is not finite (mean={m}, sd={s}).")
    misfit = misfit_at(fitted, best)
    total = math.hypot(s, misfit)  # sqrt(s**2 + misfit**2), without overflow
    clip = fitted.objective.clip
    return Recommendation(
        params=fitted.space.decode(best)[0], mean=clip(m), sd=total,
        lower=clip(m - Z95 * total), upper=clip(m + Z95 * total), model_sd=s, misfit=misfit,
        within=within,
    )  # fmt: skip


def measured_candidates(X: Tensor, region: Region | None, within: str) -> Tensor:
    """The distinct measured settings of ``X`` that may be recommended: those satisfying the
    parameter constraints (the operator's own, flagged ``violates``, never are).

    Raises:
        BoLoopError: ``within="data"`` and every measured setting breaks a constraint.
    """
    candidates = torch.unique(X, dim=0)
    if region is None:
        return candidates
    candidates = candidates[_inside(region, candidates)]
    if within == "data" and not len(candidates):
        raise BoLoopError(
            "within='data' recommends a measured setting that satisfies the parameter "
            "constraints, but every measured setting breaks one of: "
            f"{'; '.join(str(c) for c in region.constraints)}. Use within='space'."
        )
    return candidates


def _inside(region: Region, X: Tensor) -> Tensor:
    """Which rows of ``X`` decode to settings satisfying every constraint (a boolean mask)."""
    rows = region.space.decode(X)
    return torch.tensor(
        [all(c.holds(p) for c in region.constraints) for p in rows], dtype=torch.bool
    )
