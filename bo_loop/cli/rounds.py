"""``bo-loop ask / pending / tell / add``: a round at the rig, as CSV or XLSX files.

The files themselves (reading, writing, checking a filled-in round) are `bo_loop.rounds`, which
does not depend on Click; these commands print what it found and what was recorded.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

import click
from rich.text import Text

from bo_loop.campaign import MAX_ASK, Campaign
from bo_loop.cli import report as cli_report
from bo_loop.cli.common import campaign_command, err, out
from bo_loop.cli.compact import added_summary
from bo_loop.cli.progress import working
from bo_loop.exceptions import BoLoopError
from bo_loop.rounds import files as round_files
from bo_loop.rounds import tell as round_tell
from bo_loop.rounds.files import RoundFileError
from bo_loop.trial import Trial, TrialState


@campaign_command()
@click.option("-n", "count", type=click.IntRange(1, MAX_ASK), default=1, show_default=True,
              help="How many trials to ask for.")  # fmt: skip
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Round file to write: .csv or .xlsx.")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@click.option("--fix", "fix", multiple=True, metavar="NAME=VALUE",
              help="Hold a parameter at a value for this round (repeatable), e.g. --fix temperature=80.")  # fmt: skip
def ask(c: Campaign, count: int, output: Path, force: bool, fix: tuple[str, ...]) -> None:  # fmt: skip
    """Ask for -n new trials; write them to a round file to fill in.

    The trials are pending from now on. An existing output file is never overwritten without
    --force (it may hold results typed by hand); this is checked before asking, so a refused
    command leaves the campaign as it was. Every trial satisfies the campaign's parameter
    constraints and the --fix values.
    """
    path = round_files.check_output_path(output, force=force, what="round file")
    round_files.check_column_names(c.space, c.config.outcomes)
    fixed = _parse_fix(fix)
    with working(f"Asking for {count} trial(s): fitting the surrogate, choosing settings..."):
        trials = c.ask(count, fixed=fixed or None)
    try:
        round_files.write_round_file(
            path, c.space, c.config.outcomes, trials, campaign=c.name,
            comments=_constraint_lines(c, fixed),
        )  # fmt: skip
    except RoundFileError as e:
        numbers = ", ".join(str(t.number) for t in trials)
        raise RoundFileError(
            f"{e} The new trials ({numbers}) are stored as pending: write them to another file "
            f"with `bo-loop pending {shlex.quote(c.name)} -o FILE`."
        ) from None
    table = cli_report.trials_table(
        c.space, c.outcomes, trials, title=f"New trials -> {path}", outcome=False
    )
    out.print(table)
    for constraint in c.parameter_constraints:
        out.print(f"Constraint: {constraint}", highlight=False)
    for line in _category_lines(trials):
        out.print(line, highlight=False)
    if len(c.outcomes) == 1:
        what = f"the [bold]{c.outcomes[0]}[/] column"
        blank = "leave it blank if not run yet"
    else:
        what = "the " + ", ".join(f"[bold]{n}[/]" for n in c.outcomes) + " columns"
        blank = "leave a cell blank until measured: the rest is recorded, the trial stays pending"
    out.print(
        f"Fill in {what} of {path} ('failed' and a note if a run failed; {blank}), then: "
        f"bo-loop tell {shlex.quote(c.name)} {shlex.quote(str(path))}",
        highlight=False,
    )


def _category_lines(trials: Sequence[Trial]) -> list[str]:
    """One line per categorical parameter a round was spread over (acquisition setting
    ``round_categories``): each choice's probability of holding the best point, most likely
    first."""
    plan = next(
        (t.provenance["category_probabilities"] for t in trials
         if "category_probabilities" in (t.provenance or {})),
        None,
    )  # fmt: skip
    if not plan:
        return []
    return [
        f"Spread over {name} by the model's probability that a choice holds the best point: "
        + ", ".join(
            f"{choice} {p:.2f}" for choice, p in sorted(probs.items(), key=lambda kv: -kv[1])
        )
        for name, probs in plan.items()
    ]


def _constraint_lines(c: Campaign, fixed: dict[str, object]) -> list[str]:
    """The lines above a round file's header: the constraints every row satisfies, and the
    values held this round."""
    lines = [f"constraint: {constraint}" for constraint in c.parameter_constraints]
    if fixed:
        lines.append("held this round: " + ", ".join(f"{k} = {v}" for k, v in fixed.items()))
    return lines


def _parse_fix(entries: tuple[str, ...]) -> dict[str, object]:
    """``NAME=VALUE`` pairs as a dict; a VALUE that reads as a number becomes one."""
    fixed: dict[str, object] = {}
    for entry in entries:
        name, sep, text = entry.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"--fix must read NAME=VALUE, but got {entry!r}.")
        number = round_files.parse_number(text.strip())
        fixed[name.strip()] = text.strip() if number is None else number
    return fixed


@campaign_command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the pending trials as a round file (.csv or .xlsx).")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
def pending(c: Campaign, output: Path | None, force: bool) -> None:  # fmt: skip
    """Show pending trials; -o writes them to a round file again.

    For a round file that was lost, or could not be written after asking.
    """
    path = round_files.check_output_path(output, force=force) if output else None
    trials = c.trials(TrialState.PENDING)
    # Trials told in part show what they hold and what they wait for.
    table = cli_report.trials_table(
        c.space, c.outcomes, trials, title="Pending trials", outcome=any(t.values for t in trials)
    )
    out.print(table)
    if path is not None and not trials:
        out.print(f"No pending trials: {path} was not written.")
    elif path is not None:
        round_files.check_column_names(c.space, c.config.outcomes)
        round_files.write_round_file(
            path, c.space, c.config.outcomes, trials, campaign=c.name,
            comments=_constraint_lines(c, {}),
        )  # fmt: skip
        out.print(f"Wrote {len(trials)} pending trial(s) to {path}")


@campaign_command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--dry-run", is_flag=True, help="Check the file and print the report; record nothing."
)
def tell(c: Campaign, file: Path, dry_run: bool) -> None:
    """Record the results in a filled-in round file (.csv or .xlsx).

    Every row is checked first: the trial must exist and be pending, its settings unchanged, its
    result a number, 'failed' (reason in the note column), 'abandoned', or blank (left pending).
    With several outcomes (a column each), a row with some filled in records those and leaves the
    trial pending until the rest comes. If any row breaks a rule, nothing is recorded.
    """
    sheet = round_files.read_round_file(file)
    plans, ignored = round_tell.plan_tell(
        sheet, c.space, c.config.outcomes, c.trials(), campaign=c.name,
        constraints=c.parameter_constraints,
    )  # fmt: skip
    errors = [p for p in plans if p.action == "error"]
    recording = not errors and not dry_run
    if ignored:
        err.print(Text(f"Ignored column(s) {ignored!r}: not part of a round file.", style="yellow"))
    if not recording:
        out.print(cli_report.tell_table(plans, c.outcomes, sheet.name, recorded=False))
    if errors:
        lines = "\n".join(f"  {p.label}:{p.message}" for p in errors)
        raise RoundFileError(
            f"Nothing was recorded: {len(errors)} of {len(plans)} row(s) in {sheet.name} broke "
            f"the rules:\n{lines}"
        )
    if dry_run:
        out.print("Dry run: every row is valid; nothing was recorded.")
        return
    round_tell.apply_plans(c, plans)
    out.print(cli_report.tell_table(plans, c.outcomes, sheet.name, recorded=True))
    out.print(round_tell.summary(plans))


@campaign_command()
@click.argument("file", type=click.Path(path_type=Path))
def add(c: Campaign, file: Path) -> None:
    """Record runs bo_loop did not propose, from a CSV or XLSX file.

    One row per run, with exactly the columns: every parameter and every outcome (the objective,
    or each objective and constrained outcome). A row copied from a round file may keep its
    trial, note and campaign columns: they are not stored (a new trial is made; a campaign cell
    must name this campaign). Every row is checked (settings inside the space, numeric results
    within known bounds); if any row is bad, nothing is stored. With several outcomes a row with
    some left blank is stored partly told: its trial stays pending until the rest is told.
    """
    runs = round_files.read_added_runs(file, campaign=c.name)
    frame = runs.frame
    try:
        with working(f"Checking and storing {len(frame)} row(s) from {file.name}..."):
            report = c.add_observations(frame)
    except BoLoopError as e:
        raise RoundFileError(f"{file.name}: {e}") from None
    if runs.dropped:
        err.print(
            Text(f"Ignored column(s) {runs.dropped!r}: a round file's own, not stored "
                 "(every run added is a new trial).", style="yellow")
        )  # fmt: skip
    if runs.notes:
        numbers = list(runs.notes)
        rows = ", ".join(str(r) for r in numbers[:10]) + (
            f" (and {len(numbers) - 10} more)" if len(numbers) > 10 else ""
        )
        err.print(
            Text(f"The note(s) of row(s) {rows} were not stored: `bo-loop add` keeps no notes.",
                 style="yellow")
        )  # fmt: skip
    added_summary(c.space, c.objectives, c.outcomes, report.added, file.name)
    # A row with outcomes left blank is stored partly told, still pending: count it as such.
    waiting = sum(t.state is TrialState.PENDING for t in report.added)
    if waiting:
        out.print(
            f"Recorded {len(report.added)} run(s): {len(report.added) - waiting} as completed "
            f"trials, {waiting} partly told (pending until every outcome is told).",
            highlight=False,
        )
    else:
        out.print(f"Recorded {len(report.added)} run(s) as completed trials.")
    for t in report.added:
        if t.provenance.get("violates"):
            out.print(
                Text(
                    f"Trial {t.number} breaks {'; '.join(t.provenance['violates'])}: stored as "
                    "measured, flagged 'violates' (bo_loop never proposes such a point).",
                    style="yellow",
                )
            )


COMMANDS = [ask, pending, tell, add]
