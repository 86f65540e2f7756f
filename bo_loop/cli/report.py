"""What ``bo-loop`` prints: rich tables of trials and tell reports, the convergence view, the plot.

Functions here only format records they are handed; they never open the database.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from bo_loop.exceptions import BoLoopError
from bo_loop.models.recommend import Recommendation
from bo_loop.objective import Objective
from bo_loop.outcomes import OutcomeConstraint
from bo_loop.rounds.tell import RowPlan
from bo_loop.space import Categorical, Integer, Real, Space
from bo_loop.trial import Trial, TrialState

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
#: The convergence table shows at most this many of the latest completed trials.
CONVERGENCE_ROWS = 10
PLOT_EXTENSIONS = (".png", ".pdf", ".svg")

_STYLE = {
    "tell": "green",
    "partial": "green",
    "fail": "yellow",
    "abandon": "yellow",
    "pending": "cyan",
    "recorded": "dim",
    "comment": "dim",
    "error": "bold red",
}
_LABEL = {
    "tell": "told",
    "partial": "partly told",
    "fail": "failed",
    "abandon": "abandoned",
    "pending": "pending",
    "recorded": "unchanged",
    "comment": "skipped",
    "error": "REFUSED",
}
#: Labels when nothing is recorded (a refused file, or a dry run): valid rows are only "ok".
_LABEL_CHECKED = {
    **_LABEL,
    "tell": "ok",
    "partial": "ok: partial",
    "fail": "ok: failed",
    "abandon": "ok: abandoned",
}


def fmt(value: Any) -> str:
    """A value for a table cell: floats with 6 significant digits, everything else as text."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def describe_parameter(p: Real | Integer | Categorical) -> str:
    if isinstance(p, Categorical):
        return "categorical: " + ", ".join(str(c) for c in p.choices)
    kind = "real" if isinstance(p, Real) else "integer"
    return f"{kind} in [{fmt(p.low)}, {fmt(p.high)}]" + (", log scale" if p.log else "")


def space_table(space: Space) -> Table:
    table = Table("parameter", "domain", title="Search space", title_justify="left")
    for p in space.parameters:
        table.add_row(Text(p.name), Text(describe_parameter(p)))
    return table


def _names(outcomes: Objective | Sequence[str]) -> list[str]:
    return [outcomes.name] if isinstance(outcomes, Objective) else list(outcomes)


def trials_table(
    space: Space,
    outcomes: Objective | Sequence[str],
    trials: Sequence[Trial],
    *,
    title: str | None = None,
    outcome: bool = True,
) -> Table:
    """Trials with their parameters and, when ``outcome``, their state and outcome(s).

    Args:
        outcomes: The objective, or every outcome's name (a column each).
    """
    names = _names(outcomes)
    extra = [*names, "state"] if outcome else []
    table = Table("trial", *space.names, *extra, title=title, title_justify="left")
    for t in trials:
        waiting = f" (waits for {', '.join(t.missing)})" if t.values and t.missing else ""
        state = t.label + (f" ({t.reason})" if t.reason else "") + waiting
        cells = [*(Text(fmt(t.values.get(n))) for n in names), Text(state)]
        table.add_row(
            str(t.number),
            *(Text(fmt(t.params[n])) for n in space.names),
            *(cells if outcome else []),
        )
    return table


def tell_table(
    plans: Sequence[RowPlan],
    outcomes: Objective | Sequence[str],
    file_name: str,
    *,
    recorded: bool,
) -> Table:
    """The per-row report of ``tell``: what each row did (or why it is refused).

    Args:
        outcomes: The objective, or every outcome's name (a result column each).
        recorded: Whether the rows are being recorded; if not, valid rows read "ok".
    """
    names = _names(outcomes)
    labels = _LABEL if recorded else _LABEL_CHECKED
    title = file_name if recorded else f"{file_name}: nothing recorded"
    table = Table("row", "trial", *names, "outcome", "detail", title=title,
                  title_justify="left")  # fmt: skip
    for p in plans:
        if p.action == "error":
            detail = "; ".join(problem.short for problem in p.problems)
        elif p.action in ("fail", "abandon") and p.note:
            detail = f"reason: {p.note}"
        elif p.action == "tell" and p.note:
            detail = f"note: {p.note}"
        else:
            detail = p.remark
        results = [p.result] if len(names) == 1 else [p.cells.get(n, "") for n in names]
        table.add_row(
            str(p.row),
            "" if p.trial is None else str(p.trial),
            *(Text(r) for r in results),
            Text(labels[p.action], style=_STYLE[p.action]),
            Text(detail),
        )
    return table


def best_so_far(
    objective: Objective,
    trials: Sequence[Trial],
    is_feasible: Callable[[Trial], bool] | None = None,
) -> list[tuple[int, float, float]]:
    """``(trial number, outcome, best outcome so far)`` for each completed trial, in number order.

    ``is_feasible``: with outcome constraints, only a feasible trial can become the best (an
    infeasible one is listed, the best so far unchanged; rows before the first feasible trial
    are left out).
    """
    rows: list[tuple[int, float, float]] = []
    best: float | None = None
    for t in trials:
        value = t.values.get(objective.name)
        if t.state is not TrialState.COMPLETED or value is None:
            continue
        if is_feasible is None or is_feasible(t):
            best = value if best is None or objective.is_better(value, best) else best
        if best is not None:
            rows.append((t.number, value, best))
    return rows


def sparkline(values: Sequence[float]) -> str:
    """One block character per value, scaled between the smallest and the largest."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if math.isclose(low, high):
        return SPARK_BLOCKS[len(SPARK_BLOCKS) // 2] * len(values)
    top = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[round((v - low) / (high - low) * top)] for v in values)


def counts_line(trials: Sequence[Trial]) -> str:
    counts = {s.value: sum(t.label == s.value for t in trials) for s in TrialState}
    retracted = sum(t.label == "retracted" for t in trials)
    parts = [f"{n} {label}" for label, n in counts.items()]
    parts += [f"{retracted} retracted"] if retracted else []
    return f"{len(trials)} trials: " + ", ".join(parts)


def convergence_table(objective: Objective, history: Sequence[tuple[int, float, float]]) -> Table:
    """The latest completed trials with their outcome and the best so far; a new best is starred."""
    shown = history[-CONVERGENCE_ROWS:]
    hidden = len(history) - len(shown)
    title = "Best so far" + (f" (latest {len(shown)} of {len(history)} results)" if hidden else "")
    table = Table("trial", objective.name, "best so far", title=title, title_justify="left")
    previous = history[hidden - 1][2] if hidden else None
    for number, value, best in shown:
        improved = previous is None or best != previous
        table.add_row(str(number), fmt(value), Text(fmt(best) + (" *" if improved else ""),
                                                     style="green" if improved else ""))  # fmt: skip
        previous = best
    return table


def best_table(
    space: Space,
    objective: Objective,
    trial: Trial,
    constraints: Sequence[OutcomeConstraint] = (),
) -> Table:
    """The best trial's objective, its other outcomes (each with the constraints it meets: the
    reason the trial counts as feasible), then its settings."""
    table = Table("", "value", title=f"Best trial: {trial.number}", title_justify="left")
    table.add_row(Text(objective.name, style="bold"), Text(fmt(trial.value), style="bold"))
    for name, value in trial.values.items():
        if name == objective.name:
            continue
        met = [str(k) for k in constraints if k.name == name]
        table.add_row(Text(name), Text(fmt(value) + (f"  (meets {', '.join(met)})" if met else "")))
    for n in space.names:
        table.add_row(Text(n), Text(fmt(trial.params[n])))
    return table


def recommendation_table(space: Space, objective: Objective, rec: Recommendation) -> Table:
    table = Table("", "value", title="Recommended settings (the surrogate's optimum)",
                  title_justify="left")  # fmt: skip
    for n in space.names:
        table.add_row(Text(n), Text(fmt(rec.params[n])))
    table.add_row(Text(f"predicted {objective.name}", style="bold"),
                  Text(f"{fmt(rec.mean)} ± {fmt(rec.sd)} (sd)", style="bold"))  # fmt: skip
    table.add_row(Text("95% interval"), Text(f"{fmt(rec.lower)} .. {fmt(rec.upper)}"))
    return table


def plot_convergence(
    path: Path, name: str, objective: Objective, history: Sequence[tuple[int, float, float]]
) -> None:
    """Save a convergence plot: every result as a dot, the best so far as a step line."""
    if path.suffix.lower() not in PLOT_EXTENSIONS:
        raise BoLoopError(
            f"A plot file must end in one of {list(PLOT_EXTENSIONS)}, but got {path.name!r}."
        )
    if not history:
        raise BoLoopError(
            f"Campaign {name!r} has no completed trial yet: there is nothing to plot."
        )
    # Figure without pyplot: no GUI backend, no global state; savefig renders with Agg.
    from matplotlib.figure import Figure

    numbers = [h[0] for h in history]
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(numbers, [h[1] for h in history], "o", color="0.6", label="result")
    ax.step(numbers, [h[2] for h in history], where="post", color="C0", lw=2, label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(objective.name)
    ax.set_title(f"{name}: {objective.goal} {objective.name}")
    ax.legend()
    try:
        fig.savefig(path, dpi=120)
    except OSError as e:
        raise BoLoopError(f"Cannot write {str(path)!r}: {e}") from None
