"""Figures of a campaign and its surrogate (matplotlib). No database access happens here.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot, so nothing depends
on a global figure state: in Jupyter the returned figure displays itself, and a script saves it
with ``fig.savefig("x.png")``.

Model figures take a ``FittedModel`` (``campaign.fitted_model()``: fit once, draw many) or a
campaign, from which they fit one. They work for every surrogate: they only use its posterior
mean and sd.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from bo_loop.exceptions import BoLoopError
from bo_loop.models.cross_validation import Comparison, CrossValidation
from bo_loop.models.fitting import FittedModel
from bo_loop.models.importance import importance
from bo_loop.models.recommend import recommend_point
from bo_loop.objective import Objective
from bo_loop.outcome_plots import (
    new_figure,
    plot_feasibility,
    plot_feasibility_map,
    plot_pareto_front,
)
from bo_loop.space import Categorical, Integer, Real, Space

#: Several outcomes (Pareto front, feasibility) live in `bo_loop.outcome_plots`, shown here too.
__all__ = [
    "plot_contour", "plot_convergence", "plot_cross_validation", "plot_feasibility",
    "plot_feasibility_map",
    "plot_importance", "plot_pareto_front", "plot_slice",
]  # fmt: skip

if TYPE_CHECKING:
    from bo_loop.campaign import Campaign

#: Colours: observations, the model, the truth, the recommendation.
OBSERVED = "#1f77b4"
MODEL = "#d62728"
TRUTH = "#444444"
STAR = "#ff7f0e"

#: An observation counts as "on" a slice when its other coordinates (unit cube) are this close.
ON_SLICE = 0.1


def _new_figure(ax: Axes | None, size: tuple[float, float] = (6.4, 4.2)) -> tuple[Figure, Axes]:
    return new_figure(ax, size)


def _fitted(source: FittedModel | Campaign) -> FittedModel:
    if isinstance(source, FittedModel):
        return source
    return source.fitted_model()


# -- convergence ---------------------------------------------------------------------------


def plot_convergence(
    source: Campaign | pd.DataFrame, objective: Objective | None = None, *, ax: Axes | None = None
) -> Figure:
    """Every completed trial's outcome, and the best so far, against trial number.

    Args:
        source: A campaign, or its ``to_dataframe()`` (then ``objective`` is needed).
        objective: The objective, when ``source`` is a DataFrame.
        ax: Draw into these axes instead of a new figure.

    Raises:
        BoLoopError: no completed trial, or a DataFrame without ``objective``.
    """
    if isinstance(source, pd.DataFrame):
        if objective is None:
            raise BoLoopError("plot_convergence needs objective=... when given a DataFrame.")
        frame = source
    else:
        frame, objective = source.to_dataframe(), source.objective
    done = frame[frame["state"] == "completed"].sort_values("number")
    if done.empty:
        raise BoLoopError("There is no completed trial yet: nothing to plot.")
    numbers = done["number"].to_numpy()
    values = done[objective.name].to_numpy(dtype=float)
    best = (
        np.maximum.accumulate(values)
        if objective.goal == "maximize"
        else np.minimum.accumulate(values)
    )
    fig, ax = _new_figure(ax)
    sources = done["source"].to_numpy() if "source" in done else np.full(len(done), "bo_loop")
    for kind, label, colour in (
        ("manual", "measured (not proposed)", "#9e9e9e"),
        ("bo_loop", "proposed", OBSERVED),
    ):
        mask = sources == kind
        if mask.any():
            ax.scatter(
                numbers[mask], values[mask], s=14, color=colour, alpha=0.7, label=label, zorder=2
            )
    ax.step(numbers, best, where="post", color=MODEL, lw=2, label="best so far", zorder=3)
    ax.set_xlabel("trial number")
    ax.set_ylabel(objective.name)
    ax.set_title(f"Convergence: best {objective.name} so far ({objective.goal})")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


# -- slices --------------------------------------------------------------------------------


def _anchor(fitted: FittedModel, at: Mapping[str, Any] | None) -> dict[str, Any]:
    """The full setting a slice passes through: ``at`` over the recommendation."""
    base = dict(recommend_point(fitted).params)
    if at:
        unknown = [k for k in at if k not in fitted.space.names]
        if unknown:
            raise BoLoopError(
                f"Unknown parameter(s) {unknown!r}; the space has {fitted.space.names!r}."
            )
        base.update(at)
    return fitted.space.validate(base)


def _axis_values(space: Space, name: str, points: int) -> Tensor:
    """Encoded values along one parameter: every choice/integer when few, else a fine grid."""
    p = space[name]
    if isinstance(p, Categorical):
        return torch.arange(len(p.choices), dtype=torch.float64)
    if isinstance(p, Integer) and p.high - p.low + 1 <= points:
        return torch.tensor(p.grid(), dtype=torch.float64)
    return torch.linspace(0.0, 1.0, points, dtype=torch.float64)


def _decoded(space: Space, name: str, encoded: Tensor) -> list[Any]:
    i = space.names.index(name)
    X = torch.zeros(len(encoded), space.dim, dtype=torch.float64)
    X[:, i] = encoded
    return [row[name] for row in space.decode(X)]


def _near_slice(fitted: FittedModel, anchor: Tensor, free: list[int]) -> np.ndarray:
    """Which observations lie near the slice through ``anchor`` (all when every dim is free)."""
    others = [j for j in range(fitted.space.dim) if j not in free]
    if not others:
        return np.ones(len(fitted.X), dtype=bool)
    diff = (fitted.X[:, others] - anchor[others]).abs()
    for k, j in enumerate(others):
        if j in fitted.space.cat_dims:
            # A different choice is never "near".
            diff[:, k] = torch.where(diff[:, k] > 0.5, torch.inf, 0.0)
    return (diff.pow(2).sum(-1).sqrt() <= ON_SLICE).numpy()


def plot_slice(
    source: FittedModel | Campaign,
    parameter: str | None = None,
    *,
    at: Mapping[str, Any] | None = None,
    truth: Callable[[dict[str, Any]], float] | None = None,
    band: float = 2.0,
    points: int = 200,
    ax: Axes | None = None,
) -> Figure:
    """The surrogate along one parameter, the others held fixed: mean, mean +/- band sd, data.

    Args:
        source: A fitted model, or a campaign (fitted here).
        parameter: The parameter on the x axis; default the first.
        at: Values of the other parameters; default the recommendation's.
        truth: Optional true function of a full parameter dict, drawn for comparison.
        band: Half-width of the band in sds (2 by default; 1 for the "+/- sigma" figure).
        points: Grid points along a real parameter.
        ax: Draw into these axes instead of a new figure.

    Observations are drawn on the slice's axis: solid when their other parameters are near
    the slice, faint otherwise (they are projected from elsewhere in the space).
    """
    fitted = _fitted(source)
    space = fitted.space
    name = parameter or space.names[0]
    if name not in space.names:
        raise BoLoopError(f"Unknown parameter {name!r}; the space has {space.names!r}.")
    i = space.names.index(name)
    anchor_params = _anchor(fitted, at)
    anchor = space.encode([anchor_params])[0]
    grid = _axis_values(space, name, points)
    X = anchor.repeat(len(grid), 1)
    X[:, i] = grid
    mean, sd = (t.numpy() for t in fitted.mean_sd(X))
    xs = _decoded(space, name, grid)
    p = space[name]
    fig, ax = _new_figure(ax)
    categorical = isinstance(p, Categorical)
    pos = np.arange(len(xs)) if categorical else np.asarray(xs, dtype=float)
    label_band = f"mean ± {band:g} sd"
    if isinstance(p, Categorical):
        ax.errorbar(pos, mean, yerr=band * sd, fmt="s", color=MODEL, capsize=6, label=label_band)
        ax.set_xticks(pos, [str(c) for c in p.choices])
    else:
        ax.fill_between(
            pos, mean - band * sd, mean + band * sd, color=MODEL, alpha=0.18, label=label_band
        )
        ax.plot(pos, mean, color=MODEL, lw=2, label="surrogate mean")
        if isinstance(p, Real | Integer) and p.log:
            ax.set_xscale("log")
    if truth is not None:
        true_values = [truth({**anchor_params, name: x}) for x in xs]
        ax.plot(pos, true_values, color=TRUTH, lw=1.2, ls="--", label="true function")
    obs_x = fitted.X[:, i]
    obs_pos = (
        obs_x.numpy() if categorical else np.asarray(_decoded(space, name, obs_x), dtype=float)
    )
    near = _near_slice(fitted, anchor, [i])
    y = fitted.observed.numpy()
    if (~near).any():
        ax.scatter(
            obs_pos[~near],
            y[~near],
            s=10,
            color="#9e9e9e",
            alpha=0.35,
            label="observations (elsewhere)",
        )
    if near.any():
        ax.scatter(obs_pos[near], y[near], s=22, color=OBSERVED, edgecolor="white", lw=0.5, zorder=3,
                   label="observations")  # fmt: skip
    ax.set_xlabel(name)
    ax.set_ylabel(fitted.objective.name)
    fixed = ", ".join(f"{k}={_short(v)}" for k, v in anchor_params.items() if k != name)
    title = f"{fitted.surrogate.upper() or 'Surrogate'} along {name}"
    ax.set_title(title + (f"\n(others at {fixed})" if fixed else ""), fontsize="medium")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


# -- contour -------------------------------------------------------------------------------


def plot_contour(
    source: FittedModel | Campaign,
    x: str | None = None,
    y: str | None = None,
    *,
    at: Mapping[str, Any] | None = None,
    resolution: int = 60,
    ax: Axes | None = None,
) -> Figure:
    """The surrogate's mean over two numeric parameters, the others held fixed.

    Args:
        source: A fitted model, or a campaign (fitted here).
        x: Parameter on the x axis; default the first numeric one.
        y: Parameter on the y axis; default the second numeric one.
        at: Values of the other parameters; default the recommendation's.
        resolution: Grid points per real axis.
        ax: Draw into these axes instead of a new figure.

    Raises:
        BoLoopError: fewer than two numeric parameters, or a categorical one was named.
    """
    fitted = _fitted(source)
    space = fitted.space
    numeric = [p.name for p in space.parameters if not isinstance(p, Categorical)]
    x = x or (numeric[0] if numeric else None)
    y = y or next((n for n in numeric if n != x), None)
    if x is None or y is None or x == y:
        raise BoLoopError(
            f"A contour needs two different numeric parameters, but got x={x!r}, y={y!r}."
        )
    for name in (x, y):
        if name not in numeric:
            raise BoLoopError(
                f"A contour needs numeric parameters; {name!r} is not one of {numeric!r}."
            )
    i, j = space.names.index(x), space.names.index(y)
    anchor_params = _anchor(fitted, at)
    anchor = space.encode([anchor_params])[0]
    gx, gy = _axis_values(space, x, resolution), _axis_values(space, y, resolution)
    X = anchor.repeat(len(gx) * len(gy), 1)
    X[:, i] = gx.repeat(len(gy))
    X[:, j] = gy.repeat_interleave(len(gx))
    mean, _ = fitted.mean_sd(X)
    Z = mean.reshape(len(gy), len(gx)).numpy()
    px = np.asarray(_decoded(space, x, gx), dtype=float)
    py = np.asarray(_decoded(space, y, gy), dtype=float)
    fig, ax = _new_figure(ax, (6.4, 5.0))
    filled = ax.contourf(px, py, Z, levels=20, cmap="viridis")
    ax.contour(px, py, Z, levels=10, colors="white", linewidths=0.5, alpha=0.5)
    fig.colorbar(filled, ax=ax, label=f"predicted {fitted.objective.name}")
    near = _near_slice(fitted, anchor, [i, j])
    ox = np.asarray(_decoded(space, x, fitted.X[:, i]), dtype=float)
    oy = np.asarray(_decoded(space, y, fitted.X[:, j]), dtype=float)
    ax.scatter(
        ox[~near], oy[~near], s=6, color="white", alpha=0.25, label="observations (elsewhere)"
    )
    ax.scatter(
        ox[near], oy[near], s=14, color="white", edgecolor="black", lw=0.4, label="observations"
    )
    ax.scatter([anchor_params[x]], [anchor_params[y]], marker="*", s=220, color=STAR,
               edgecolor="black", zorder=4, label="slice point" if at else "recommendation")  # fmt: skip
    for name, setter in ((x, ax.set_xscale), (y, ax.set_yscale)):
        p = space[name]
        if isinstance(p, Real | Integer) and p.log:
            setter("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    fixed = ", ".join(f"{k}={_short(v)}" for k, v in anchor_params.items() if k not in (x, y))
    title = f"{fitted.surrogate.upper() or 'Surrogate'} mean of {fitted.objective.name}"
    ax.set_title(title + (f"\n(others at {fixed})" if fixed else ""), fontsize="medium")
    ax.legend(loc="upper left", fontsize="x-small", framealpha=0.6)
    return fig


# -- cross-validation ----------------------------------------------------------------------


def plot_cross_validation(result: CrossValidation | Comparison, *, band: float = 2.0) -> Figure:
    """Held-out predictions against observations, with +/- band sd error bars; one panel each.

    Args:
        result: ``cross_validate(...)`` or ``campaign.cross_validate()`` (several surrogates).
        band: Half-width of the error bars in sds.
    """
    results = list(result.results.values()) if isinstance(result, Comparison) else [result]
    if not results:
        raise BoLoopError("Nothing to plot: the comparison holds no cross-validation.")
    fig = Figure(figsize=(4.6 * len(results), 4.6), layout="constrained")
    axes = fig.subplots(1, len(results), sharex=True, sharey=True, squeeze=False)[0]
    all_values = np.concatenate(
        [np.r_[r.predictions["observed"], r.predictions["mean"]] for r in results]
    )
    low, high = float(all_values.min()), float(all_values.max())
    pad = 0.05 * (high - low or 1.0)
    for ax, cv in zip(axes, results, strict=True):
        p = cv.predictions
        # Many points: thin error bars so the cloud stays readable.
        thin = len(p) > 200
        ax.errorbar(p["observed"], p["mean"], yerr=band * p["sd"], fmt="o", ms=2.5 if thin else 4,
                    color=OBSERVED, ecolor=OBSERVED, elinewidth=0.4 if thin else 0.9,
                    alpha=0.45 if thin else 0.85, capsize=0 if thin else 2)  # fmt: skip
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color=TRUTH, ls="--", lw=1)
        ax.set_title(
            f"{cv.surrogate.upper()}: RMSE {cv.rmse:.3g}, MLPD {cv.mlpd:.3g}\n"
            f"±{band:g} sd covers {100 * cv.coverage:.0f}% ({cv.folds}-fold, n={len(p)})",
            fontsize="medium",
        )
        ax.set_xlabel("observed")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"predicted (held out) ± {band:g} sd")
    axes[0].set_xlim(low - pad, high + pad)
    axes[0].set_ylim(low - pad, high + pad)
    return fig


# -- importance ----------------------------------------------------------------------------


def plot_importance(
    source: FittedModel | Campaign, *, samples: int = 256, seed: int = 0, ax: Axes | None = None
) -> Figure:
    """Each parameter's first-order (main-effect) share of the predicted outcome's variance.

    Args:
        source: A fitted model, or a campaign (fitted here).
        samples: Monte Carlo settings per level (see ``bo_loop.models.importance.importance``).
        seed: Seeds the sample.
        ax: Draw into these axes instead of a new figure.
    """
    fitted = _fitted(source)
    table = importance(fitted, samples=samples, seed=seed).iloc[::-1]
    fig, ax = _new_figure(ax, (6.4, 0.8 + 0.55 * len(table)))
    bars = ax.barh(table.index, table["first_order"], color=OBSERVED)
    for bar, (_, row) in zip(bars, table.iterrows(), strict=True):
        ax.text(bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2,
                f"{row['first_order']:.2f}  (range {row['effect_range']:.3g})",
                va="center", fontsize="small")  # fmt: skip
    ax.set_xlim(0, 1.25)
    ax.set_xlabel("first-order index: share of the predicted outcome's variance")
    ax.set_title(f"{fitted.surrogate.upper() or 'Surrogate'}: parameter importance (main effects)",
                 fontsize="medium")  # fmt: skip
    ax.grid(axis="x", alpha=0.3)
    return fig
