"""The ``bo-loop`` group and the commands that are not about one campaign: ``init``, ``list``, ``db``."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from bo_loop.campaign import Campaign
from bo_loop.cli import audit, results, rounds
from bo_loop.cli import outcomes as outcome_views
from bo_loop.cli import report as cli_report
from bo_loop.cli.common import (
    Group,
    UserError,
    display_url,
    out,
    storage_of,
    storage_option,
)
from bo_loop.exceptions import BoLoopError, CampaignExistsError, StorageError
from bo_loop.rounds.spec import SpecError, load_spec
from bo_loop.storage import STORAGE_ENV, Database
from bo_loop.storage.database import is_in_memory
from bo_loop.trial import TrialState


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@storage_option
@click.option("-q", "--quiet", is_flag=True,
              help="No progress indicator while fitting or importing (it shows only at a terminal).")  # fmt: skip
@click.version_option(package_name="bo_loop", prog_name="bo-loop")
@click.pass_context
def cli(ctx: click.Context, storage: str | None, quiet: bool) -> None:
    """Bayesian-optimisation campaigns: ask for experiments, run them, tell the results.

    \b
    A round at the rig:
      bo-loop ask rig-yield -n 4 -o round-07.csv     # 4 new trials, pending
      (fill in the result column; 'failed' + a note if a run failed)
      bo-loop tell rig-yield round-07.csv            # checks every row, records all or none
      bo-loop status rig-yield
    """
    ctx.obj = {"storage": storage, "quiet": quiet}


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
    # One objective and no outcome constraint: created exactly as before multiple outcomes.
    outcomes = (
        {"objective": parsed.objective}
        if len(parsed.objectives) == 1 and not parsed.outcome_constraints
        else {"objectives": parsed.objectives, "outcome_constraints": parsed.outcome_constraints}
    )
    try:
        campaign = Campaign.create(
            parsed.name, parsed.parameters, storage=where, **outcomes,
            surrogate=parsed.surrogate, surrogate_settings=parsed.surrogate_settings,
            seed=parsed.seed, initial_design_size=parsed.initial_design_size,
            acquisition_settings=parsed.acquisition_settings,
            parameter_constraints=parsed.parameter_constraints,
        )  # fmt: skip
    except CampaignExistsError:
        raise UserError(
            f"A campaign named {parsed.name!r} already exists in {display_url(where)}; see it with "
            f"`bo-loop status {shlex.quote(parsed.name)}`, or give the spec another name."
        ) from None
    except StorageError:
        raise
    except BoLoopError as e:
        # seed, initial_design_size, surrogate: checked by Campaign.create, reported as the spec's.
        raise SpecError(f"{spec.name}: {e}") from None
    out.print(f"Created campaign [bold]{parsed.name}[/] in {display_url(where)}", highlight=False)
    out.print(cli_report.space_table(campaign.space))
    if campaign.parameter_constraints:
        out.print("Constraints (every proposal satisfies them):")
        for c in campaign.parameter_constraints:
            out.print(Text(f"  {c}"))
    if len(campaign.objectives) == 1 and not campaign.outcome_constraints:
        out.print(
            f"Objective: {campaign.objective.goal} {campaign.objective.name!r}; surrogate "
            f"{campaign.surrogate}; seed {campaign.seed}"
        )
    else:
        out.print(outcome_views.outcomes_table(campaign.objectives, campaign.outcome_constraints))
        out.print(f"Surrogate {campaign.surrogate}; seed {campaign.seed}")
    out.print(
        Text(f"Next: bo-loop ask {shlex.quote(parsed.name)} -n 4 -o round-01.csv", style="dim")
    )


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
        if outcome_views.several_objectives(campaign):
            front = campaign.pareto_front()
            best = f"Pareto front: {len(front)} trial(s)" if front else ""
        else:
            found = campaign.best()
            best = "" if found is None else f"{cli_report.fmt(found.value)} (trial {found.number})"
        table.add_row(
            Text(name),
            Text(", ".join(f"{o.goal} {o.name}" for o in campaign.objectives)),
            str(len(trials)),
            str(sum(t.state is TrialState.PENDING for t in trials)),
            best,
        )
    out.print(table)


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


# -- the commands on one campaign, by job ----------------------------------------------------

for _command in [*rounds.COMMANDS, *results.COMMANDS, *outcome_views.COMMANDS, *audit.COMMANDS]:
    cli.add_command(_command)


def main() -> None:
    """Entry point of the ``bo-loop`` console script."""
    cli(prog_name="bo-loop")
