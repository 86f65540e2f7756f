"""``bo-loop status / best / recommend / export / plot``: looking at a campaign."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from bo_loop.campaign import Campaign
from bo_loop.cli import outcomes as outcome_views
from bo_loop.cli import report as cli_report
from bo_loop.cli.common import campaign_command, out
from bo_loop.cli.compact import pending_line, sampled
from bo_loop.cli.progress import working
from bo_loop.rounds import files as round_files
from bo_loop.trial import TrialState


@campaign_command()
def status(c: Campaign) -> None:
    """Trials by state, best so far, and its progress (several objectives: the Pareto front)."""
    trials = c.trials()
    if outcome_views.several_objectives(c):
        outcome_views.status_several(c, trials, cli_report.counts_line(trials))
        return
    constraints = "".join(f"; {k}" for k in c.outcome_constraints)
    out.print(
        f"[bold]{c.name}[/]: {c.objective.goal} {c.objective.name!r}{constraints}, "
        f"{len(c.space)} parameters, "
        f"surrogate {c.surrogate}, storage {c.storage}",
        highlight=False,
    )
    out.print(cli_report.counts_line(trials))
    for line in [outcome_views.feasibility_line(c, trials), *outcome_views.partial_lines(trials)]:
        if line:
            out.print(line, highlight=False)
    best = c.best()
    if best is None:
        out.print("No feasible result yet." if c.outcome_constraints else "No result yet.")
    else:
        settings = ", ".join(f"{n}={cli_report.fmt(best.params[n])}" for n in c.space.names)
        out.print(Text(f"Best so far: trial {best.number}, {c.objective.name} = "
                       f"{cli_report.fmt(best.value)} ({settings})", style="bold"))  # fmt: skip
        feasible = c.is_feasible if c.outcome_constraints else None
        history = cli_report.best_so_far(c.objective, trials, feasible)
        bests = [h[2] for h in history]
        out.print(f"Best so far, per result: {cli_report.sparkline(sampled(bests))}  "
                  f"{cli_report.fmt(bests[0])} -> {cli_report.fmt(bests[-1])}")  # fmt: skip
        out.print(cli_report.convergence_table(c.objective, history))
    waiting = [t.number for t in trials if t.state is TrialState.PENDING]
    if waiting:
        out.print(pending_line(waiting))


@campaign_command()
def best(c: Campaign) -> None:
    """The best trial measured so far (several objectives: see `pareto`)."""
    if outcome_views.several_objectives(c):
        outcome_views.best_several(c)
        return
    trial = c.best()
    if trial is None:
        out.print(f"Campaign {c.name!r} has no completed trial yet.")
        return
    out.print(cli_report.best_table(c.space, c.objective, trial, c.outcome_constraints))


@campaign_command()
@click.option("--risk-aversion", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="0 picks the best predicted mean; k > 0 the best of mean -/+ k sd.")  # fmt: skip
def recommend(c: Campaign, risk_aversion: float) -> None:
    """The surrogate's best settings, with mean, sd, 95% interval.

    Several objectives: the model's estimated Pareto set, each setting with every outcome's
    interval and, under outcome constraints, the probability of meeting them all.
    """
    with working("Fitting the surrogate(s)..."):
        rec = c.recommend(risk_aversion=risk_aversion)
    if outcome_views.several_objectives(c):
        out.print(outcome_views.pareto_set_table(c, rec))
        return
    out.print(cli_report.recommendation_table(c.space, c.objective, rec))
    if rec.p_feasible is not None:
        constraints = "; ".join(str(k) for k in c.outcome_constraints)
        out.print(f"Probability of meeting {constraints}: {rec.p_feasible:.2f}", highlight=False)


@campaign_command()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write: .csv or .xlsx.")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
def export(c: Campaign, output: Path, force: bool) -> None:
    """Write every trial to a CSV or XLSX file.

    Columns: number, state, parameters, outcome, source, generator, reason, and the times (UTC).
    """
    path = round_files.check_output_path(output, force=force)
    frame = c.to_dataframe()
    round_files.write_table(path, frame)
    out.print(f"Wrote {len(frame)} trial(s) to {path}")


@campaign_command()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Image to write: .png, .pdf or .svg (overwritten if it exists).")  # fmt: skip
def plot(c: Campaign, output: Path) -> None:
    """Save a convergence plot: every result, and the best so far.

    With several objectives: the Pareto front of the first two (feasible and infeasible trials,
    the observed front).
    """
    if outcome_views.several_objectives(c):
        outcome_views.save_pareto_plot(output, c)
        out.print(f"Wrote {output}")
        return
    history = cli_report.best_so_far(c.objective, c.trials())
    cli_report.plot_convergence(output, c.name, c.objective, history)
    out.print(f"Wrote {output}")


COMMANDS = [status, best, recommend, export, plot]
