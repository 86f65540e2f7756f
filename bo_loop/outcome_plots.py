"""Figures of a campaign with several outcomes: the Pareto front of two objectives, and feasibility.

Like `bo_loop.plotting` (which re-exports these functions), every function returns a
``matplotlib.figure.Figure`` built without pyplot and opens no database: it takes a campaign's
``to_dataframe()`` (or the campaign, whose ``to_dataframe`` it calls) and, for the model's view,
tables of predictions the caller computed (``campaign.recommend()``, ``campaign.predict(...)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from bo_loop.exceptions import BoLoopError
from bo_loop.models.fitting import FittedModel
from bo_loop.models.multi_objective import p_feasible
from bo_loop.objective import Objective
from bo_loop.outcomes import OutcomeConstraint, Outcomes, non_dominated
from bo_loop.space import Categorical

if TYPE_CHECKING:
    from bo_loop.campaign import Campaign

#: Figure size (inches) of the outcome plots.
_SIZE = (6.4, 4.6)

FEASIBLE = "#1f77b4"
INFEASIBLE = "#9e9e9e"
FRONT = "#d62728"
PREDICTED = "#ff7f0e"


def new_figure(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    """``ax``'s figure and ``ax``, or a new constrained-layout figure of ``size`` inches (shared by
    `bo_loop.plotting`)."""
    if ax is not None:
        fig = ax.get_figure()
        if not isinstance(fig, Figure):
            raise BoLoopError("ax must belong to a matplotlib Figure.")
        return fig, ax
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def _source(
    source: Campaign | pd.DataFrame,
    objectives: Sequence[Objective] | None,
    outcome_constraints: Sequence[OutcomeConstraint],
) -> tuple[pd.DataFrame, Outcomes]:
    """The trials table and the outcomes, from a campaign or from a DataFrame and its outcomes."""
    if isinstance(source, pd.DataFrame):
        if not objectives:
            raise BoLoopError("Given a DataFrame, the plot needs objectives=[bl.Objective, ...].")
        return source, Outcomes(tuple(objectives), tuple(outcome_constraints))
    return source.to_dataframe(), Outcomes(source.objectives, source.outcome_constraints)


def observed_points(
    frame: pd.DataFrame, outcomes: Outcomes, x: str, y: str
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The completed trials that have ``x`` and ``y``, whether each is feasible, and which are on
    the observed front (feasible, and no feasible trial beats them in both ``x`` and ``y``).

    Returns:
        The rows, a boolean ``feasible`` array and a boolean ``on_front`` array, aligned.
    """
    missing = [c for c in ("state", x, y) if c not in frame.columns]
    if missing:
        raise BoLoopError(
            f"The trials table has no column(s) {missing!r}; it has {list(frame.columns)!r}."
        )
    done = frame[(frame["state"] == "completed") & frame[x].notna() & frame[y].notna()]
    names = [n for n in outcomes.names if n in done.columns]
    feasible = np.array(
        [
            outcomes.is_feasible({n: float(row[n]) for n in names if pd.notna(row[n])})
            for _, row in done.iterrows()
        ],
        dtype=bool,
    )
    signs = [_objective(outcomes, n).sign for n in (x, y)]
    points = [
        [signs[0] * float(a), signs[1] * float(b)]
        for a, b in zip(done[x][feasible], done[y][feasible], strict=True)
    ]
    on_front = np.zeros(len(done), dtype=bool)
    on_front[np.flatnonzero(feasible)[non_dominated(points)]] = True
    return done, feasible, on_front


def _objective(outcomes: Outcomes, name: str) -> Objective:
    found = outcomes.objective(name)
    if found is None:
        raise BoLoopError(
            f"{name!r} is not an objective of this campaign; its objectives are "
            f"{[o.name for o in outcomes.objectives]!r}."
        )
    return found


def plot_pareto_front(
    source: Campaign | pd.DataFrame,
    *,
    x: str | None = None,
    y: str | None = None,
    objectives: Sequence[Objective] | None = None,
    outcome_constraints: Sequence[OutcomeConstraint] = (),
    predicted: pd.DataFrame | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Two objectives against each other: every completed trial (feasible ones filled, infeasible
    ones hollow and grey), the observed Pareto front as a staircase, and the model's predicted
    front with its intervals.

    Args:
        source: A campaign, or its ``to_dataframe()`` (then ``objectives`` is needed, and
            ``outcome_constraints`` decide feasibility).
        x, y: The objectives on the axes; default the first two.
        predicted: The model's estimated Pareto set, one row per point, with columns
            ``{name}_mean``, ``{name}_lower`` and ``{name}_upper`` for ``x`` and ``y`` (see
            `pareto_estimate_table`); drawn with error bars.
        ax: Draw into these axes instead of a new figure.

    Raises:
        BoLoopError: fewer than two objectives, an unknown name, or no completed trial.
    """
    frame, outcomes = _source(source, objectives, outcome_constraints)
    names = [o.name for o in outcomes.objectives]
    if len(names) < 2 and (x is None or y is None):
        raise BoLoopError(
            f"A Pareto front needs two objectives, but this campaign has {names!r}: see "
            "plot_convergence."
        )
    x = names[0] if x is None else x
    y = names[1] if y is None else y
    ox, oy = _objective(outcomes, x), _objective(outcomes, y)
    done, feasible, on_front = observed_points(frame, outcomes, x, y)
    if done.empty:
        raise BoLoopError(f"There is no completed trial with {x!r} and {y!r} yet: nothing to plot.")
    fig, ax = new_figure(ax, _SIZE)
    xs, ys = done[x].to_numpy(dtype=float), done[y].to_numpy(dtype=float)
    if (~feasible).any():
        broken = "; ".join(str(c) for c in outcomes.constraints)
        ax.scatter(xs[~feasible], ys[~feasible], s=28, facecolors="none", edgecolors=INFEASIBLE,
                   label=f"infeasible (not {broken})", zorder=2)  # fmt: skip
    if feasible.any():
        ax.scatter(xs[feasible], ys[feasible], s=28, color=FEASIBLE,
                   label="feasible" if outcomes.constraints else "observed", zorder=3)  # fmt: skip
    if on_front.any():
        order = np.argsort(ox.sign * xs[on_front])[::-1]
        fx, fy = xs[on_front][order], ys[on_front][order]
        ax.step(fx, fy, where="post", color=FRONT, lw=1.5, zorder=4)
        ax.scatter(fx, fy, s=70, facecolors="none", edgecolors=FRONT, lw=1.5, zorder=5,
                   label=f"observed front ({len(fx)})")  # fmt: skip
    if predicted is not None and len(predicted):
        _draw_predicted(ax, predicted, x, y)
    ax.set_xlabel(f"{x} ({ox.goal}{'' if ox.bounds is None else ', bounded'})")
    ax.set_ylabel(f"{y} ({oy.goal}{'' if oy.bounds is None else ', bounded'})")
    ax.set_title(f"Pareto front: {ox.goal} {x}, {oy.goal} {y}")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def _draw_predicted(ax: Axes, predicted: pd.DataFrame, x: str, y: str) -> None:
    needed = [f"{n}_{part}" for n in (x, y) for part in ("mean", "lower", "upper")]
    missing = [c for c in needed if c not in predicted.columns]
    if missing:
        raise BoLoopError(
            f"predicted needs the columns {needed!r}, but lacks {missing!r} "
            f"(it has {list(predicted.columns)!r})."
        )
    mx, my = predicted[f"{x}_mean"].to_numpy(float), predicted[f"{y}_mean"].to_numpy(float)
    # Error bars are distances from the mean; clipped bounds can make an interval lopsided.
    xerr = np.vstack([mx - predicted[f"{x}_lower"].to_numpy(float),
                      predicted[f"{x}_upper"].to_numpy(float) - mx])  # fmt: skip
    yerr = np.vstack([my - predicted[f"{y}_lower"].to_numpy(float),
                      predicted[f"{y}_upper"].to_numpy(float) - my])  # fmt: skip
    ax.errorbar(mx, my, xerr=np.maximum(xerr, 0), yerr=np.maximum(yerr, 0), fmt="D", ms=5,
                color=PREDICTED, ecolor=PREDICTED, alpha=0.8, capsize=2, zorder=6,
                label=f"predicted front ({len(mx)}, 95% intervals)")  # fmt: skip


def plot_feasibility(
    source: Campaign | pd.DataFrame,
    *,
    objectives: Sequence[Objective] | None = None,
    outcome_constraints: Sequence[OutcomeConstraint] = (),
    probability: pd.Series | Sequence[float] | None = None,
) -> Figure:
    """Each outcome constraint along the trials: every told value against its threshold, feasible
    trials filled, and (with ``probability``) the model's probability that a trial meets every
    constraint.

    Args:
        source: A campaign, or its ``to_dataframe()`` (then ``objectives`` and
            ``outcome_constraints`` are needed).
        probability: One probability per row of the trials table (e.g. the
            ``feasibility`` column of ``campaign.predict(...)``), drawn on a second axis.

    Raises:
        BoLoopError: no outcome constraint, or no told value of a constrained outcome.
    """
    frame, outcomes = _source(source, objectives, outcome_constraints)
    constraints = outcomes.constraints
    if not constraints:
        raise BoLoopError(
            "This campaign has no outcome constraint: there is no feasibility to plot."
        )
    names = list(dict.fromkeys(c.name for c in constraints))
    frame = frame.sort_values("number")
    told = frame[[n for n in names if n in frame.columns]].notna().any(axis=1)
    if not told.any():
        raise BoLoopError(f"No trial has a told value of {names!r} yet: nothing to plot.")
    fig = Figure(figsize=(6.4, 2.6 * len(names) + 0.6), layout="constrained")
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    done = frame["state"] == "completed"
    feasible = np.array([
        bool(d) and outcomes.is_feasible({n: float(row[n]) for n in names if pd.notna(row[n])})
        for d, (_, row) in zip(done, frame.iterrows(), strict=True)
    ])  # fmt: skip
    for ax, name in zip(axes, names, strict=True):
        values = frame[name].to_numpy(dtype=float)
        numbers = frame["number"].to_numpy()
        has = ~np.isnan(values)
        ok, bad = has & feasible, has & ~feasible
        ax.scatter(numbers[ok], values[ok], s=22, color=FEASIBLE, label="feasible trial", zorder=3)
        ax.scatter(numbers[bad], values[bad], s=22, facecolors="none", edgecolors=INFEASIBLE,
                   label="infeasible or not completed", zorder=2)  # fmt: skip
        for c in (k for k in constraints if k.name == name):
            ax.axhline(c.value, color=FRONT, ls="--", lw=1.2, label=str(c))
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    if probability is not None:
        p = np.asarray(probability, dtype=float)
        if p.shape != (len(frame),):
            raise BoLoopError(
                f"probability needs one value per trial ({len(frame)}), but got shape {p.shape}."
            )
        twin = axes[0].twinx()
        twin.plot(frame["number"].to_numpy(), p, ".-", color=PREDICTED, lw=1, alpha=0.8,
                  label="P(all constraints met), model")  # fmt: skip
        twin.set_ylim(-0.02, 1.02)
        twin.set_ylabel("P(all constraints met)")
    # One legend below the panels: inside, it would hide points wherever it went.
    handles: dict[str, Any] = {}
    for a in fig.axes:
        for handle, label in zip(*a.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=2,
               fontsize="small")  # fmt: skip
    axes[-1].set_xlabel("trial number")
    axes[-1].xaxis.get_major_locator().set_params(integer=True)
    axes[0].set_title("Outcome constraints along the trials")
    return fig


def plot_feasibility_map(
    source: Campaign | Mapping[str, FittedModel],
    x: str,
    y: str,
    *,
    outcomes: Outcomes | None = None,
    at: Mapping[str, Any] | None = None,
    points: int = 40,
    ax: Axes | None = None,
) -> Figure:
    """The model's probability of meeting every outcome constraint over two numeric parameters,
    the others held at ``at`` (default: the measured setting most likely feasible).

    Args:
        source: A campaign (its ``fitted_models()`` are fitted once here), or fitted models by
            outcome (``campaign.fitted_models()``), then with ``outcomes``
            (``campaign.config.outcomes``).
        x, y: Real or integer parameters on the axes.
        at: Values of the other parameters.
        points: Grid points per axis.

    Raises:
        BoLoopError: no outcome constraint, a categorical or unknown ``x``/``y``, or fitted
            models without ``outcomes``.
    """
    if isinstance(source, Mapping):
        if outcomes is None:
            raise BoLoopError(
                "Given fitted models, the plot needs outcomes=campaign.config.outcomes."
            )
        fits = source
    else:
        fits, outcomes = source.fitted_models(), source.config.outcomes
    if not outcomes.constraints:
        raise BoLoopError(
            "This campaign has no outcome constraint: there is no feasibility to plot."
        )
    space = next(iter(fits.values())).space
    for name in (x, y):
        if name not in space.names or isinstance(space[name], Categorical):
            numeric = [p.name for p in space.parameters if not isinstance(p, Categorical)]
            raise BoLoopError(
                f"x and y must be among the numeric parameters {numeric!r}, but got {name!r}."
            )
    seen = torch.unique(torch.cat([f.X for f in fits.values()]), dim=0)
    likeliest = space.decode(seen[int(p_feasible(outcomes, fits, seen).argmax())].unsqueeze(0))[0]
    anchor = space.validate({**likeliest, **(at or {})})
    i, j = space.names.index(x), space.names.index(y)
    grid = torch.linspace(0.0, 1.0, points, dtype=torch.float64)
    gx, gy = torch.meshgrid(grid, grid, indexing="xy")
    X = space.encode([anchor]).repeat(points * points, 1)
    X[:, i], X[:, j] = gx.reshape(-1), gy.reshape(-1)
    prob = p_feasible(outcomes, fits, X).reshape(points, points).numpy()
    decoded = space.decode(X)
    xs = np.array([r[x] for r in decoded], dtype=float).reshape(points, points)
    ys = np.array([r[y] for r in decoded], dtype=float).reshape(points, points)
    fig, ax = new_figure(ax, _SIZE)
    filled = ax.contourf(xs, ys, prob, levels=np.linspace(0, 1, 11), cmap="RdYlGn", vmin=0, vmax=1)
    ax.contour(xs, ys, prob, levels=[0.5], colors="k", linewidths=1.2)
    fig.colorbar(filled, ax=ax, label="P(all constraints met)")
    measured = space.decode(seen)
    ax.scatter([r[x] for r in measured], [r[y] for r in measured], s=12, color="k",
               alpha=0.6, label="measured settings")  # fmt: skip
    for axis, p in ((ax.xaxis, space[x]), (ax.yaxis, space[y])):
        if getattr(p, "log", False):
            (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
            # Plain numbers (2, 3, 10, 60) rather than 6 x 10^1 on a short log range.
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    others = ", ".join(f"{n}={anchor[n]:.4g}" if isinstance(anchor[n], float) else f"{n}={anchor[n]}"
                       for n in space.names if n not in (x, y))  # fmt: skip
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title("P(" + "; ".join(str(c) for c in outcomes.constraints) + ")"
                 + (f" at {others}" if others else ""), fontsize="medium")  # fmt: skip
    ax.legend(loc="best", fontsize="small")
    return fig
