"""Predictions and recommendations of a campaign with several outcomes.

``predict_outcomes`` columns, per outcome in `Outcomes.names` order: ``<outcome>_mean`` and
``<outcome>_sd``; then ``p_feasible`` (the probability that every outcome constraint holds) when
the campaign has outcome constraints. Means lie within an objective's known bounds (clipped).

``recommend_outcomes`` ranks candidate settings (the measured ones; with ``within="space"`` a
pool spread over the space too; with parameter constraints only settings satisfying them) by each objective's predicted mean (minus ``risk_aversion`` sds):

- several objectives: the candidates no other candidate beats in every objective (the model's
  estimated Pareto set), one row each;
- one objective with outcome constraints: the single best candidate, as a `Recommendation`.

With outcome constraints only candidates whose probability of feasibility is at least
``MIN_P_FEASIBLE`` compete; when none is, those with the highest probability do (the
``p_feasible`` column says how likely each is). Intervals combine the posterior sd with the
model's misfit near the point, as for one objective (`recommend.misfit_at`), and are clipped
into the known bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from torch import Tensor
from torch.quasirandom import SobolEngine

from bo_loop.exceptions import BoLoopError
from bo_loop.models.constrained import Region
from bo_loop.models.fitting import FittedModel
from bo_loop.models.multi_objective import clip, outcome_objective, p_feasible, predictions
from bo_loop.models.recommend import (
    Z95,
    Recommendation,
    measured_candidates,
    misfit_at,
    parameter_rows,
)
from bo_loop.outcomes import Outcomes, non_dominated

#: The probability of feasibility a recommended point needs (when any candidate reaches it).
MIN_P_FEASIBLE = 0.5

#: Sobol points added to the measured settings with ``within="space"``.
SPACE_POOL = 1024


def predict_outcomes(
    outcomes: Outcomes,
    fits: Mapping[str, FittedModel],
    rows: pd.DataFrame | Sequence[Mapping[str, Any]],
) -> pd.DataFrame:
    """Each outcome's predicted mean and sd at parameter rows (columns in the module doc)."""
    space = next(iter(fits.values())).space
    frame, params = parameter_rows(space, rows)
    columns = [f"{n}_{k}" for n in outcomes.names for k in ("mean", "sd")]
    columns += ["p_feasible"] if outcomes.constraints else []
    if not params:
        return pd.DataFrame({c: [] for c in columns}, index=frame.index)
    X = space.encode(params)
    out: dict[str, Any] = {}
    for name, (mean, sd) in predictions(outcomes, fits, X).items():
        out[f"{name}_mean"], out[f"{name}_sd"] = mean.numpy(), sd.numpy()
    if outcomes.constraints:
        out["p_feasible"] = p_feasible(outcomes, fits, X).numpy()
    return pd.DataFrame(out, index=frame.index, columns=columns)


def _candidates(
    fits: Mapping[str, FittedModel], within: str, seed: int, region: Region | None
) -> Tensor:
    """The measured settings (those satisfying the parameter constraints), plus with
    ``within="space"`` a pool spread over the space (or over the constrained region)."""
    space = next(iter(fits.values())).space
    X = measured_candidates(torch.cat([f.X for f in fits.values()]), region, within)
    if within == "space":
        if region is None:
            pool = SobolEngine(space.dim, scramble=True, seed=seed).draw(
                SPACE_POOL, dtype=torch.float64
            )
            pool = space.round_to_grid(space.from_unit_cube(pool))
        else:
            pool = region.sample(SPACE_POOL, seed)
        X = torch.cat([X, pool])
    return X


def _eligible(outcomes: Outcomes, fits: Mapping[str, FittedModel], X: Tensor) -> Tensor:
    """The probability of feasibility of each candidate, and which may be recommended."""
    pf = p_feasible(outcomes, fits, X)
    ok = pf >= MIN_P_FEASIBLE
    if not bool(ok.any()):
        ok = pf >= pf.max()
    return torch.stack([pf, ok.double()])


def _interval(fit: FittedModel, objective: Any, x: Tensor) -> dict[str, float]:
    mean, sd = fit.mean_sd(x)
    m, s = float(mean[0]), float(sd[0])
    if not (math.isfinite(m) and math.isfinite(s)):
        raise BoLoopError(f"The surrogate's prediction is not finite (mean={m}, sd={s}).")
    total = math.hypot(s, misfit_at(fit, x))
    return {
        "mean": objective.clip(m),
        "sd": total,
        "lower": objective.clip(m - Z95 * total),
        "upper": objective.clip(m + Z95 * total),
        "model_sd": s,
    }


def recommend_outcomes(
    outcomes: Outcomes,
    fits: Mapping[str, FittedModel],
    risk_aversion: float = 0.0,
    *,
    within: str = "data",
    region: Region | None = None,
) -> pd.DataFrame | Recommendation:
    """The model's estimated Pareto set (several objectives) or best feasible setting (one).

    Returns:
        Several objectives: a DataFrame, one row per recommended setting, best first by the
        first objective: the parameters, then per outcome ``<outcome>_mean``, ``<outcome>_sd``,
        ``<outcome>_lower``, ``<outcome>_upper`` (95 % interval), then ``p_feasible`` with
        outcome constraints. One objective: a `Recommendation` with ``p_feasible``.
    """
    first = next(iter(fits.values()))
    space, kappa = first.space, float(risk_aversion)
    X = _candidates(fits, within, first.seed, region)
    pf, ok = _eligible(outcomes, fits, X)
    X, pf = X[ok.bool()], pf[ok.bool()]
    scores = []
    for o in outcomes.objectives:
        mean, sd = fits[o.name].mean_sd(X)
        scores.append(clip(o, mean) * o.sign - kappa * sd)
    score = torch.stack(scores, dim=-1)
    if len(outcomes.objectives) == 1:
        best = int(score[:, 0].argmax())
        x = X[best].unsqueeze(0)
        o = outcomes.objectives[0]
        i = _interval(fits[o.name], o, x)
        return Recommendation(
            params=space.decode(x)[0], mean=i["mean"], sd=i["sd"], lower=i["lower"],
            upper=i["upper"], model_sd=i["model_sd"], misfit=math.sqrt(
                max(i["sd"] ** 2 - i["model_sd"] ** 2, 0.0)),
            within=within, p_feasible=float(pf[best]),
        )  # fmt: skip
    keep = non_dominated(score.tolist())
    keep.sort(key=lambda j: -float(score[j, 0]))
    rows = []
    for j in keep:
        x = X[j].unsqueeze(0)
        row: dict[str, Any] = dict(space.decode(x)[0])
        for name in outcomes.names:
            i = _interval(fits[name], outcome_objective(outcomes, name), x)
            for k in ("mean", "sd", "lower", "upper"):
                row[f"{name}_{k}"] = i[k]
        if outcomes.constraints:
            row["p_feasible"] = float(pf[j])
        rows.append(row)
    return pd.DataFrame(rows)
