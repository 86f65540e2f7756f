"""What ``bo-loop`` prints for a campaign with several outcomes, and the ``pareto`` command.

A campaign measures several outcomes when it has several objectives, or outcome constraints
(``purity >= 95``). With several objectives there is no single best trial: ``status``, ``best``
and ``pareto`` show the Pareto front instead, the feasible completed trials that no other
feasible trial beats in every objective. Functions here format records they are handed, except
the command itself.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from rich.table import Table
from rich.text import Text

from bo_loop.campaign import Campaign
from bo_loop.cli.common import campaign_command, out
from bo_loop.cli.report import PLOT_EXTENSIONS, fmt
from bo_loop.exceptions import BoLoopError
from bo_loop.objective import Objective
from bo_loop.outcome_plots import plot_pareto_front
from bo_loop.outcomes import OutcomeConstraint
from bo_loop.space import Space
from bo_loop.trial import Trial, TrialState


def several_objectives(c: Campaign) -> bool:
    return len(c.objectives) > 1


def _bounds(o: Objective) -> str:
    """`` in [0, 100]`` (empty without bounds)."""
    if o.bounds is None:
        return ""
    lo, hi = o.bounds
    return f" in [{'-inf' if lo is None else fmt(lo)}, {'inf' if hi is None else fmt(hi)}]"


def describe_objective(o: Objective) -> str:
    """``maximize yield in [0, 100]``."""
    return f"{o.goal} {o.name}{_bounds(o)}"


def goals_line(c: Campaign) -> str:
    """``maximize yield in [0, 100], minimize cost; purity >= 95``."""
    goals = ", ".join(describe_objective(o) for o in c.objectives)
    constraints = "; ".join(str(k) for k in c.outcome_constraints)
    return goals + (f"; {constraints}" if constraints else "")


def outcomes_table(
    objectives: Sequence[Objective], constraints: Sequence[OutcomeConstraint]
) -> Table:
    """The outcomes a trial reports: each objective with its goal and bounds, each constraint."""
    table = Table("outcome", "role", title="Outcomes (a result column each in round files)",
                  title_justify="left")  # fmt: skip
    named = [o.name for o in objectives]
    for o in objectives:
        bound = [str(k) for k in constraints if k.name == o.name]
        table.add_row(Text(o.name), Text(", ".join([f"{o.goal}{_bounds(o)}", *bound])))
    for name in dict.fromkeys(k.name for k in constraints if k.name not in named):
        bound = [str(k) for k in constraints if k.name == name]
        table.add_row(Text(name), Text("constraint: " + ", ".join(bound)))
    return table


def front_table(
    space: Space, names: Sequence[str], trials: Sequence[Trial], *, title: str
) -> Table:
    """Trials with every outcome, then their settings."""
    table = Table("trial", *names, *space.names, title=title, title_justify="left")
    for t in trials:
        table.add_row(
            str(t.number),
            *(Text(fmt(t.values.get(n)), style="bold") for n in names),
            *(Text(fmt(t.params[n])) for n in space.names),
        )
    return table


def feasibility_line(c: Campaign, trials: Sequence[Trial]) -> str | None:
    """``9 completed trials: 7 meet every outcome constraint, 2 do not`` (None without any)."""
    if not c.outcome_constraints:
        return None
    done = [t for t in trials if t.state is TrialState.COMPLETED]
    feasible = sum(c.is_feasible(t) for t in done)
    return (
        f"{len(done)} completed trial(s): {feasible} meet every outcome constraint "
        f"({'; '.join(str(k) for k in c.outcome_constraints)}), {len(done) - feasible} do not"
    )


def partial_lines(trials: Sequence[Trial]) -> list[str]:
    """One line per pending trial told in part: what it has, what it waits for."""
    lines = []
    for t in trials:
        if t.state is TrialState.PENDING and t.values and t.missing:
            told = ", ".join(f"{n} = {fmt(v)}" for n, v in t.values.items())
            lines.append(f"Trial {t.number}: told {told}; waits for {', '.join(t.missing)}")
    return lines


def print_front(c: Campaign, trials: Sequence[Trial] | None = None) -> list[Trial]:
    """Print the Pareto front (or that there is none yet); returns it."""
    front = c.pareto_front()
    if not front:
        out.print("No feasible completed trial yet: the Pareto front is empty.")
        return front
    goals = ", ".join(f"{o.goal} {o.name}" for o in c.objectives)
    title = (
        f"Pareto front ({goals}): {len(front)} feasible trial(s), none beaten in every objective"
    )
    out.print(front_table(c.space, c.outcomes, front, title=title))
    return front


def status_several(c: Campaign, trials: Sequence[Trial], counts: str) -> None:
    """``bo-loop status`` for a campaign with several objectives."""
    out.print(
        f"[bold]{c.name}[/]: {goals_line(c)}; {len(c.space)} parameters, surrogate "
        f"{c.surrogate}, storage {c.storage}",
        highlight=False,
    )
    out.print(counts)
    for line in [feasibility_line(c, trials), *partial_lines(trials)]:
        if line:
            out.print(line, highlight=False)
    print_front(c, trials)
    waiting = [str(t.number) for t in trials if t.state is TrialState.PENDING]
    if waiting:
        out.print(f"Pending trials: {', '.join(waiting)}")


@campaign_command()
def pareto(c: Campaign) -> None:
    """The Pareto front: feasible completed trials no other beats in every objective.

    Feasible: every outcome constraint holds for the trial's measured values. One objective: the
    best feasible trial(s).
    """
    trials = c.trials()
    line = feasibility_line(c, trials)
    if line:
        out.print(line, highlight=False)
    print_front(c, trials)


def best_several(c: Campaign) -> None:
    """``bo-loop best`` for a campaign with several objectives: no single best, the front."""
    out.print(
        f"Campaign {c.name!r} has {len(c.objectives)} objectives "
        f"({', '.join(o.name for o in c.objectives)}): no single trial is best. These are the "
        f"trials no other beats in every objective (`bo-loop pareto {shlex.quote(c.name)}`):",
        highlight=False,
    )
    print_front(c)


def pareto_set_table(c: Campaign, estimate: pd.DataFrame) -> Table:
    """``campaign.recommend()`` of several objectives: one row per setting of the estimated
    Pareto set, its settings, each outcome's predicted mean with its 95% interval, and the
    probability of meeting every outcome constraint."""
    feasibility = "p_feasible" in estimate.columns
    table = Table(
        *c.space.names, *(f"{n} (95% interval)" for n in c.outcomes),
        *(["P(feasible)"] if feasibility else []),
        title=f"Estimated Pareto set: {len(estimate)} setting(s) the model rates unbeaten in "
        "every objective",
        title_justify="left",
    )  # fmt: skip
    for _, row in estimate.iterrows():
        table.add_row(
            *(Text(fmt(row[n])) for n in c.space.names),
            *(Text(f"{fmt(row[f'{n}_mean'])} [{fmt(row[f'{n}_lower'])}, {fmt(row[f'{n}_upper'])}]")
              for n in c.outcomes),
            *([Text(f"{row['p_feasible']:.2f}")] if feasibility else []),
        )  # fmt: skip
    return table


def save_pareto_plot(path: Path, c: Campaign) -> None:
    """``bo-loop plot`` for several objectives: the first two against each other."""
    if path.suffix.lower() not in PLOT_EXTENSIONS:
        raise BoLoopError(
            f"A plot file must end in one of {list(PLOT_EXTENSIONS)}, but got {path.name!r}."
        )
    fig = plot_pareto_front(c)
    try:
        fig.savefig(path, dpi=120)
    except OSError as e:
        raise BoLoopError(f"Cannot write {str(path)!r}: {e}") from None


COMMANDS = [pareto]
