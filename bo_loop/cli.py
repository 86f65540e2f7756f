"""The ``bo-loop`` command: campaigns from the shell, rounds as CSV/XLSX files for the rig.

A thin layer over :class:`bo_loop.Campaign`. Exit codes: 0 success, 1 a user error (any
``BoLoopError``: bad spec, bad file, unknown campaign; the message goes to stderr, never a
traceback), 2 a usage error (Click's own).

Storage: ``--storage`` (before or after the command name), else ``$BO_LOOP_STORAGE``, else
``sqlite:///campaigns.db`` in the current folder; ``init`` also reads ``storage`` from the spec,
after the flag and the environment variable.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from bo_loop import cli_audit, cli_files, cli_report, cli_tell
from bo_loop.campaign import MAX_ASK, Campaign
from bo_loop.cli_common import (
    Group,
    UserError,
    display_url,
    err,
    load_campaign,
    out,
    storage_of,
    storage_option,
)
from bo_loop.cli_files import RoundFileError
from bo_loop.cli_spec import SpecError, load_spec
from bo_loop.exceptions import BoLoopError, CampaignExistsError, StorageError
from bo_loop.storage import STORAGE_ENV, Database
from bo_loop.storage.database import is_in_memory
from bo_loop.trial import TrialState


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@storage_option
@click.version_option(package_name="bo_loop", prog_name="bo-loop")
@click.pass_context
def cli(ctx: click.Context, storage: str | None) -> None:
    """Bayesian-optimisation campaigns: ask for experiments, run them, tell the results.

    \b
    A round at the rig:
      bo-loop ask rig-yield -n 4 -o round-07.csv     # 4 new trials, pending
      (fill in the result column; 'failed' + a note if a run failed)
      bo-loop tell rig-yield round-07.csv            # checks every row, records all or none
      bo-loop status rig-yield
    """
    ctx.obj = {"storage": storage}


# -- creating and opening --------------------------------------------------------------------


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@storage_option
@click.pass_context
def init(ctx: click.Context, spec: Path, storage: str | None) -> None:
    """Create a campaign from a YAML or TOML spec (see examples/)."""
    parsed = load_spec(spec)
    where = storage_of(ctx, storage) or os.environ.get(STORAGE_ENV) or parsed.storage
    if is_in_memory(where):
        raise StorageError(
            "`bo-loop init` needs a database that outlives the command (a SQLite file or "
            f"PostgreSQL), but got {where!r}: an in-memory database is lost when the command ends."
        )
    try:
        campaign = Campaign.create(
            parsed.name, parsed.parameters, parsed.objective, storage=where,
            surrogate=parsed.surrogate, surrogate_settings=parsed.surrogate_settings,
            seed=parsed.seed, initial_design_size=parsed.initial_design_size,
        )  # fmt: skip
    except CampaignExistsError:
        raise UserError(
            f"A campaign named {parsed.name!r} already exists in {display_url(where)}; see it with "
            f"`bo-loop status {parsed.name}`, or give the spec another name."
        ) from None
    except StorageError:
        raise
    except BoLoopError as e:
        # seed, initial_design_size, surrogate: checked by Campaign.create, reported as the spec's.
        raise SpecError(f"{spec.name}: {e}") from None
    out.print(f"Created campaign [bold]{parsed.name}[/] in {display_url(where)}", highlight=False)
    out.print(cli_report.space_table(campaign.space))
    out.print(
        f"Objective: {campaign.objective.goal} {campaign.objective.name!r}; surrogate "
        f"{campaign.surrogate}; seed {campaign.seed}"
    )
    out.print(Text(f"Next: bo-loop ask {parsed.name} -n 4 -o round-01.csv", style="dim"))


@cli.command("list")
@storage_option
@click.pass_context
def list_campaigns(ctx: click.Context, storage: str | None) -> None:
    """List the campaigns in a database."""
    where = storage_of(ctx, storage)
    names = Campaign.list(where)
    if not names:
        out.print(
            f"No campaigns in {display_url(where)} yet; create one with `bo-loop init spec.yaml`."
        )
        return
    table = Table("campaign", "objective", "trials", "pending", "best",
                  title=display_url(where), title_justify="left")  # fmt: skip
    for name in names:
        campaign = Campaign.load(name, storage=where)
        trials = campaign.trials()
        best = campaign.best()
        table.add_row(
            Text(name),
            Text(f"{campaign.objective.goal} {campaign.objective.name}"),
            str(len(trials)),
            str(sum(t.state is TrialState.PENDING for t in trials)),
            "" if best is None else f"{cli_report.fmt(best.value)} (trial {best.number})",
        )
    out.print(table)


# -- a round ---------------------------------------------------------------------------------


@cli.command()
@click.argument("campaign")
@click.option("-n", "count", type=click.IntRange(1, MAX_ASK), default=1, show_default=True,
              help="How many trials to ask for.")  # fmt: skip
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Round file to write: .csv or .xlsx.")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@storage_option
@click.pass_context
def ask(ctx: click.Context, campaign: str, count: int, output: Path, force: bool,
        storage: str | None) -> None:  # fmt: skip
    """Ask for -n new trials; write them to a round file to fill in.

    The trials are pending from now on. An existing output file is never overwritten without
    --force (it may hold results typed by hand); this is checked before asking, so a refused
    command leaves the campaign as it was.
    """
    path = cli_files.check_output_path(output, force=force, what="round file")
    c = load_campaign(ctx, campaign, storage)
    cli_files.check_column_names(c.space, c.objective)
    with err.status(f"Asking for {count} trial(s): fitting the surrogate, choosing settings..."):
        trials = c.ask(count)
    try:
        cli_files.write_round_file(path, c.space, c.objective, trials)
    except RoundFileError as e:
        numbers = ", ".join(str(t.number) for t in trials)
        raise RoundFileError(
            f"{e} The new trials ({numbers}) are stored as pending: write them to another file "
            f"with `bo-loop pending {campaign} -o FILE`."
        ) from None
    table = cli_report.trials_table(
        c.space, c.objective, trials, title=f"New trials -> {path}", outcome=False
    )
    out.print(table)
    out.print(
        f"Fill in the [bold]{c.objective.name}[/] column of {path} ('failed' and a note if a run "
        f"failed; leave it blank if not run yet), then: bo-loop tell {campaign} {path}",
        highlight=False,
    )


@cli.command()
@click.argument("campaign")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the pending trials as a round file (.csv or .xlsx).")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@storage_option
@click.pass_context
def pending(ctx: click.Context, campaign: str, output: Path | None, force: bool,
            storage: str | None) -> None:  # fmt: skip
    """Show pending trials; -o writes them to a round file again.

    For a round file that was lost, or could not be written after asking.
    """
    path = cli_files.check_output_path(output, force=force) if output else None
    c = load_campaign(ctx, campaign, storage)
    trials = c.trials(TrialState.PENDING)
    table = cli_report.trials_table(
        c.space, c.objective, trials, title="Pending trials", outcome=False
    )
    out.print(table)
    if path is not None and not trials:
        out.print(f"No pending trials: {path} was not written.")
    elif path is not None:
        cli_files.check_column_names(c.space, c.objective)
        cli_files.write_round_file(path, c.space, c.objective, trials)
        out.print(f"Wrote {len(trials)} pending trial(s) to {path}")


@cli.command()
@click.argument("campaign")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--dry-run", is_flag=True, help="Check the file and print the report; record nothing."
)
@storage_option
@click.pass_context
def tell(ctx: click.Context, campaign: str, file: Path, dry_run: bool, storage: str | None) -> None:
    """Record the results in a filled-in round file (.csv or .xlsx).

    Every row is checked first: the trial must exist and be pending, its settings unchanged, its
    result a number, 'failed' (reason in the note column), 'abandoned', or blank (left pending).
    If any row breaks a rule, nothing is recorded.
    """
    c = load_campaign(ctx, campaign, storage)
    sheet = cli_files.read_round_file(file)
    plans, ignored = cli_tell.plan_tell(sheet, c.space, c.objective, c.trials())
    errors = [p for p in plans if p.action == "error"]
    recording = not errors and not dry_run
    if ignored:
        err.print(Text(f"Ignored column(s) {ignored!r}: not part of a round file.", style="yellow"))
    if not recording:
        out.print(cli_report.tell_table(plans, c.objective, sheet.name, recorded=False))
    if errors:
        lines = "\n".join(f"  {p.label}:{p.message}" for p in errors)
        raise RoundFileError(
            f"Nothing was recorded: {len(errors)} of {len(plans)} row(s) in {sheet.name} broke "
            f"the rules:\n{lines}"
        )
    if dry_run:
        out.print("Dry run: every row is valid; nothing was recorded.")
        return
    cli_tell.apply_plans(c, plans)
    out.print(cli_report.tell_table(plans, c.objective, sheet.name, recorded=True))
    out.print(cli_tell.summary(plans))


@cli.command()
@click.argument("campaign")
@click.argument("file", type=click.Path(path_type=Path))
@storage_option
@click.pass_context
def add(ctx: click.Context, campaign: str, file: Path, storage: str | None) -> None:
    """Record runs bo_loop did not propose, from a CSV or XLSX file.

    One row per run, with exactly the columns: every parameter and the objective. Every row is
    checked (settings inside the space, a numeric result); if any row is bad, nothing is stored.
    """
    c = load_campaign(ctx, campaign, storage)
    frame = cli_files.read_measurements(file)
    try:
        report = c.add_observations(frame)
    except BoLoopError as e:
        raise RoundFileError(f"{file.name}: {e}") from None
    title = f"Added from {file.name}"
    out.print(cli_report.trials_table(c.space, c.objective, report.added, title=title))
    out.print(f"Recorded {len(report.added)} run(s) as completed trials.")


# -- looking at a campaign -------------------------------------------------------------------


@cli.command()
@click.argument("campaign")
@storage_option
@click.pass_context
def status(ctx: click.Context, campaign: str, storage: str | None) -> None:
    """Trials by state, best so far, and its progress."""
    c = load_campaign(ctx, campaign, storage)
    trials = c.trials()
    out.print(
        f"[bold]{c.name}[/]: {c.objective.goal} {c.objective.name!r}, {len(c.space)} parameters, "
        f"surrogate {c.surrogate}, storage {c.storage}",
        highlight=False,
    )
    out.print(cli_report.counts_line(trials))
    best = c.best()
    if best is None:
        out.print("No result yet.")
    else:
        settings = ", ".join(f"{n}={cli_report.fmt(best.params[n])}" for n in c.space.names)
        out.print(Text(f"Best so far: trial {best.number}, {c.objective.name} = "
                       f"{cli_report.fmt(best.value)} ({settings})", style="bold"))  # fmt: skip
        history = cli_report.best_so_far(c.objective, trials)
        bests = [h[2] for h in history]
        out.print(f"Best so far, per result: {cli_report.sparkline(bests)}  "
                  f"{cli_report.fmt(bests[0])} -> {cli_report.fmt(bests[-1])}")  # fmt: skip
        out.print(cli_report.convergence_table(c.objective, history))
    waiting = [str(t.number) for t in trials if t.state is TrialState.PENDING]
    if waiting:
        out.print(f"Pending trials: {', '.join(waiting)}")


@cli.command()
@click.argument("campaign")
@storage_option
@click.pass_context
def best(ctx: click.Context, campaign: str, storage: str | None) -> None:
    """The best trial measured so far."""
    c = load_campaign(ctx, campaign, storage)
    trial = c.best()
    if trial is None:
        out.print(f"Campaign {campaign!r} has no completed trial yet.")
        return
    out.print(cli_report.best_table(c.space, c.objective, trial))


@cli.command()
@click.argument("campaign")
@click.option("--risk-aversion", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="0 picks the best predicted mean; k > 0 the best of mean -/+ k sd.")  # fmt: skip
@storage_option
@click.pass_context
def recommend(ctx: click.Context, campaign: str, risk_aversion: float, storage: str | None) -> None:
    """The surrogate's best settings, with mean, sd, 95% interval."""
    c = load_campaign(ctx, campaign, storage)
    with err.status("Fitting the surrogate..."):
        rec = c.recommend(risk_aversion=risk_aversion)
    out.print(cli_report.recommendation_table(c.space, c.objective, rec))


@cli.command()
@click.argument("campaign")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write: .csv or .xlsx.")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@storage_option
@click.pass_context
def export(
    ctx: click.Context, campaign: str, output: Path, force: bool, storage: str | None
) -> None:
    """Write every trial to a CSV or XLSX file.

    Columns: number, state, parameters, outcome, source, generator, reason, and the times (UTC).
    """
    path = cli_files.check_output_path(output, force=force)
    c = load_campaign(ctx, campaign, storage)
    frame = c.to_dataframe()
    cli_files.write_table(path, frame)
    out.print(f"Wrote {len(frame)} trial(s) to {path}")


@cli.command()
@click.argument("campaign")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Image to write: .png, .pdf or .svg (overwritten if it exists).")  # fmt: skip
@storage_option
@click.pass_context
def plot(ctx: click.Context, campaign: str, output: Path, storage: str | None) -> None:
    """Save a convergence plot: every result, and the best so far."""
    c = load_campaign(ctx, campaign, storage)
    history = cli_report.best_so_far(c.objective, c.trials())
    cli_report.plot_convergence(output, c.name, c.objective, history)
    out.print(f"Wrote {output}")


# -- the database ----------------------------------------------------------------------------


# -- corrections and housekeeping (bo_loop.cli_audit) ------------------------------------------

for _command in cli_audit.COMMANDS:
    cli.add_command(_command)


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@storage_option
@click.pass_context
def upgrade(ctx: click.Context, storage: str | None) -> None:
    """Upgrade the database schema to this bo_loop's revision (back the database up first)."""
    where = storage_of(ctx, storage)
    before, after = Database(where, check_schema=False).upgrade()
    if before == after:
        out.print(f"{display_url(where)} is at schema revision {after}; nothing to do.")
    else:
        out.print(f"{display_url(where)}: schema revision {before or '(empty)'} -> {after}")


def main() -> None:
    """Entry point of the ``bo-loop`` console script."""
    cli(prog_name="bo-loop")


if __name__ == "__main__":
    main()
