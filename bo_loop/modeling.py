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
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.models.model import Model
from torch import Tensor

from bo_loop.exceptions import BoLoopError
from bo_loop.objective import Objective
from bo_loop.propose import optimize, outcome_scale, step_seed, torch_threads, training_data
from bo_loop.space import Space
from bo_loop.surrogates import fit_surrogate
from bo_loop.trial import Trial, TrialState

#: Two-sided 95% normal quantile, for credible intervals.
Z95 = 1.959963984540054

#: Points per posterior call: a q=1 batch over a 2,000-point GP costs n x chunk floats of memory.
CHUNK = 2048

#: How many nearest observations measure the model's misfit around a recommended point.
MISFIT_NEIGHBOURS = 10

#: A categorical column's contribution to a distance when the choices differ: larger than any
#: numeric distance in the unit cube, so "near the data" always means "same choice as the data".
_CATEGORY_GAP = 10.0


@dataclass(frozen=True)
class FittedModel:
    """A surrogate fitted on a campaign's completed trials, with what is needed to use it.

    Attributes:
        model: The fitted BoTorch model; its posterior is on the signed scale (larger is better).
        space: The campaign's search space.
        objective: The campaign's objective.
        X: The ``n x d`` encoded training inputs.
        Y: The ``n x 1`` training outcomes, signed so that larger is better.
        numbers: The trial number of each training row.
        surrogate: The surrogate's name (``"gp"`` or ``"dngo"``).
        settings: The surrogate's settings it was fitted with.
        scale: What the model's outcomes are ``Y`` divided by (``propose.outcome_scale``): 1.0
            unless some outcome is beyond 2**200, whose square would overflow the model math.
    """

    model: Model
    space: Space
    objective: Objective
    X: Tensor
    Y: Tensor
    numbers: tuple[int, ...] = ()
    surrogate: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    scale: float = 1.0

    def mean_sd(self, X: Tensor, *, observation_noise: bool = False) -> tuple[Tensor, Tensor]:
        """Mean and sd of the outcome (original scale and sign) at encoded points.

        Args:
            X: An ``n x d`` tensor in the space's encoding.
            observation_noise: Include the fitted noise: the spread of a new measurement rather
                than of the true outcome.

        Returns:
            Two ``n`` tensors.
        """
        means, sds = [], []
        with torch.no_grad(), torch_threads(len(self.X)):
            for part in X.split(CHUNK):
                posterior = self.model.posterior(
                    part.unsqueeze(1), observation_noise=observation_noise
                )
                # Every surrogate here returns a Gaussian posterior (mean and variance exist).
                means.append(posterior.mean.reshape(-1) * self.objective.sign * self.scale)  # type: ignore[attr-defined]
                sds.append(posterior.variance.clamp_min(0).sqrt().reshape(-1) * self.scale)  # type: ignore[attr-defined]
        if not means:
            empty = torch.empty(0, dtype=torch.float64)
            return empty, empty
        return torch.cat(means), torch.cat(sds)

    @property
    def observed(self) -> Tensor:
        """The ``n`` training outcomes on the original scale and sign."""
        return self.Y.reshape(-1) * self.objective.sign


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
    """

    params: dict[str, Any]
    mean: float
    sd: float
    lower: float
    upper: float
    model_sd: float = 0.0
    misfit: float = 0.0
    within: str = "data"


def fit_model(
    space: Space,
    objective: Objective,
    trials: Sequence[Trial],
    seed: int,
    surrogate: str,
    settings: Mapping[str, Any],
) -> FittedModel:
    """Fit the campaign's surrogate on its completed trials (seeded as the next ask would be).

    Raises:
        BoLoopError: fewer than 2 completed trials.
    """
    X, Y = training_data(space, objective, trials)
    if len(X) < 2:
        raise BoLoopError(
            f"The surrogate needs at least 2 completed trials, but the campaign has {len(X)}."
        )
    numbers = tuple(
        t.number for t in trials if t.state is TrialState.COMPLETED and t.value is not None
    )
    this_seed = step_seed(seed, len(trials))
    scale = outcome_scale(Y)
    with torch.random.fork_rng(), torch_threads(len(X)):
        torch.manual_seed(this_seed)
        model = fit_surrogate(surrogate, X, Y / scale, bounds=space.bounds(), cat_dims=space.cat_dims,
                              seed=this_seed, settings=settings)  # fmt: skip
    return FittedModel(
        model=model, space=space, objective=objective, X=X, Y=Y, numbers=numbers,
        surrogate=surrogate, settings=dict(settings), scale=scale,
    )  # fmt: skip


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
) -> Recommendation:
    """The best setting by the (risk-adjusted) predicted outcome, and how sure the model is there.

    Args:
        fitted: The fitted surrogate.
        risk_aversion: 0 ranks by the posterior mean; ``k > 0`` by the pessimistic bound
            ``mean -/+ k * sd``.
        within: ``"data"`` chooses among the measured settings (ranked by the model, not by
            their raw outcomes, so one lucky noisy measurement does not win); ``"space"``
            optimises over the whole space, the measured settings competing too.

    Returns:
        The recommendation; its interval combines the posterior sd with the model's misfit to
        the data at and around the point (see ``misfit_at``).

    Raises:
        BoLoopError: ``within`` is not "data" or "space", or the prediction is not finite.
    """
    if within not in ("data", "space"):
        raise BoLoopError(f"within must be 'data' or 'space', but got {within!r}.")
    kappa = float(risk_aversion)
    candidates = torch.unique(fitted.X, dim=0)
    if within == "space":
        acq = _RiskAdjustedMean(fitted.model, kappa)
        with torch_threads(len(fitted.X)):
            candidates = torch.cat([optimize(acq, fitted.space, 1), candidates])
    best = candidates[int(_score(fitted, candidates, kappa).argmax())].unsqueeze(0)
    mean, sd = fitted.mean_sd(best)
    m, s = float(mean[0]), float(sd[0])
    if not (math.isfinite(m) and math.isfinite(s)):
        raise BoLoopError(f"The surrogate's prediction is not finite (mean={m}, sd={s}).")
    misfit = misfit_at(fitted, best)
    total = math.hypot(s, misfit)  # sqrt(s**2 + misfit**2), without overflow
    return Recommendation(
        params=fitted.space.decode(best)[0], mean=m, sd=total, lower=m - Z95 * total,
        upper=m + Z95 * total, model_sd=s, misfit=misfit, within=within,
    )  # fmt: skip


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
