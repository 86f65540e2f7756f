"""``bo-loop correct / retract / history / abandon / reopen``: fixing the record, with an audit trail.

A wrong number typed at the rig is corrected, not deleted: every change keeps the old value, the
time and the reason in the campaign's history. Trials of a rig that never reports back are
abandoned in bulk so they stop steering the proposals.
"""

from __future__ import annotations

import math
import re
import shlex
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from bo_loop.campaign import Campaign
from bo_loop.cli.common import campaign_command, out
from bo_loop.cli.report import fmt
from bo_loop.rounds import files as round_files

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")


class Duration(click.ParamType):
    """A positive age such as ``90m``, ``12h``, ``2d`` or ``1w``."""

    name = "duration"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, timedelta):
            return value
        match = _DURATION.match(str(value))
        amount = float(match.group(1)) if match else math.nan
        if not match or amount <= 0:
            self.fail(
                f"must be a positive number followed by m, h, d or w (e.g. 12h, 2d), "
                f"but got {value!r}",
                param,
                ctx,
            )
        return timedelta(**{_UNITS[match.group(2)]: amount})


class OutcomeValue(click.ParamType):
    """A number, or ``NAME=NUMBER`` for one outcome of a campaign with several."""

    name = "value"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, float | tuple):
            return value
        text = str(value)
        name, sep, number = text.partition("=")
        try:
            return (name.strip(), float(number)) if sep else float(text)
        except ValueError:
            self.fail(
                f"{text!r} is not a valid float (nor NAME=NUMBER, e.g. yield=78.5)", param, ctx
            )


@campaign_command()
@click.argument("trial", type=click.IntRange(min=0))
@click.argument("values", type=OutcomeValue(), nargs=-1, required=True, metavar="VALUE...")
@click.option("--reason", required=True, help="Why the value changes (kept in the history).")
def correct(c: Campaign, trial: int, values: tuple[float | tuple[str, float], ...],
            reason: str) -> None:  # fmt: skip
    """Replace the recorded result of TRIAL with VALUE; the old one stays in the history.

    With several outcomes, name each value to replace: yield=78.5 cost=2.9 (the others keep
    their values).
    """
    pairs = [v for v in values if isinstance(v, tuple)]
    if len(pairs) not in (0, len(values)) or (not pairs and len(values) != 1):
        raise click.UsageError(
            "Give one VALUE, or NAME=VALUE for each outcome to correct (e.g. yield=78.5 cost=2.9), "
            f"but got {' '.join(str(v) for v in values)!r}."
        )
    for name in dict.fromkeys(n for n, _ in pairs):
        # dict(pairs) would keep the last of a repeated name silently: which one was meant?
        given = [v for n, v in pairs if n == name]
        if len(given) > 1:
            raise click.UsageError(
                f"Each outcome may be corrected once per command, but {name!r} is given "
                f"{len(given)} times ({' and '.join(f'{name}={fmt(v)}' for v in given)}); "
                "nothing was changed."
            )
    told: float | dict[str, float] = dict(pairs) if pairs else values[0]  # type: ignore[assignment]
    before = c.trial(trial)
    after = c.correct(trial, told, reason=reason)
    names = list(told) if isinstance(told, dict) else list(c.outcomes)
    # The library records only values that differ from those stored (`Campaign.correct`).
    unchanged = [n for n in names if n in before.values and before.values[n] == after.values.get(n)]
    if len(unchanged) == len(names) and before.state is after.state:
        held = ", ".join(f"{n} {fmt(before.values[n])}" for n in names)
        out.print(f"Trial {trial}: {held} unchanged (the value given is the one stored); "
                  "nothing was recorded.")  # fmt: skip
        return
    was = ", ".join(
        f"{n} {fmt(before.values[n])} unchanged" if n in unchanged and len(unchanged) < len(names)
        else f"{n} {fmt(before.values[n]) if n in before.values else before.state.value} -> "
        f"{fmt(after.values.get(n))}"
        for n in names
    )  # fmt: skip
    out.print(
        f"Trial {trial}: {was} (reason: {reason}). "
        f"`bo-loop history {shlex.quote(c.name)} {trial}` shows every change."
    )


@campaign_command()
@click.argument("trial", type=click.IntRange(min=0))
@click.option("--reason", required=True, help="Why the result is withdrawn (kept in the history).")
def retract(c: Campaign, trial: int, reason: str) -> None:  # fmt: skip
    """Withdraw the recorded result of TRIAL: it no longer counts (`correct` brings it back)."""
    before = c.trial(trial)
    c.retract(trial, reason=reason)
    told = ", ".join(f"{n} {fmt(v)}" for n, v in before.values.items())
    out.print(f"Trial {trial}: {told} retracted (reason: {reason}); the model no longer uses it.")


@campaign_command()
@click.argument("trial", type=click.IntRange(min=0), required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the history to a .csv or .xlsx file.")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
def history(c: Campaign, trial: int | None, output: Path | None,
            force: bool) -> None:  # fmt: skip
    """Every change of every trial (or of TRIAL): when, what, and why."""
    path = round_files.check_output_path(output, force=force) if output else None
    frame = c.history(trial)
    table = Table(title=f"History of {c.name}" + (f", trial {trial}" if trial is not None else ""))
    several = len(c.outcomes) > 1
    value_columns = ["outcome", "value"] if several else [c.outcomes[0]]
    for column in ["trial", "at (UTC)", "action", "state", *value_columns, "reason"]:
        table.add_column(column)
    for row in frame.itertuples(index=False):
        old_state, new_state = _text(row.old_state), _text(row.new_state)
        state = new_state if old_state in ("", new_state) else f"{old_state} -> {new_state}"
        old_value, new_value = _value(row.old_value), _value(row.new_value)
        value = new_value if old_value in ("", new_value) else f"{old_value} -> {new_value or '-'}"
        at = row.at.strftime("%Y-%m-%d %H:%M:%S")
        cells = [_text(getattr(row, "outcome", None)), value] if several else [value]
        table.add_row(str(row.number), at, _text(row.action), state, *cells, _text(row.reason))
    out.print(table)
    if path is not None:
        round_files.write_table(path, frame)
        out.print(f"Wrote {len(frame)} event(s) to {path}")


def _text(value: Any) -> str:
    """A history cell as text: pandas gives missing cells as None or NaN."""
    return "" if round_files.is_blank(value) else str(value)


def _value(value: Any) -> str:
    return "" if round_files.is_blank(value) else fmt(value)


@campaign_command()
@click.argument("trials", type=click.IntRange(min=0), nargs=-1)
@click.option(
    "--older-than", type=Duration(), help="Every trial pending longer than this (2d, 12h)."
)
@click.option("--all", "every", is_flag=True, help="Every pending trial.")
@click.option("--reason", default=None, help="Why (kept in the history).")
def abandon(c: Campaign, trials: tuple[int, ...],
            older_than: timedelta | None, every: bool, reason: str | None) -> None:  # fmt: skip
    """Abandon pending trials that will not be run: TRIALS, --older-than AGE, or --all.

    Abandoned points may be proposed again. A result that turns up later is not lost: record it
    with `bo-loop correct` (or `bo-loop reopen` the trial).
    """
    chosen = [bool(trials), older_than is not None, every]
    if sum(chosen) != 1:
        raise click.UsageError("Give exactly one of: trial numbers, --older-than AGE, --all.")
    if older_than is not None:
        done = c.abandon_stale(older_than, reason=reason)
    else:
        why = reason or ("abandoned from the command line")
        done = c.abandon_pending(why, numbers=list(trials) if trials else None)
    if trials:
        skipped = sorted(set(trials) - {t.number for t in done})
        if skipped:
            out.print(f"Not pending, left as they are: trial(s) {', '.join(map(str, skipped))}")
    numbers = ", ".join(str(t.number) for t in done) or "none"
    out.print(f"Abandoned {len(done)} trial(s): {numbers}")


@campaign_command()
@click.argument("trial", type=click.IntRange(min=0))
@click.option("--reason", required=True, help="Why it is reopened (kept in the history).")
def reopen(c: Campaign, trial: int, reason: str) -> None:
    """Return a failed or abandoned TRIAL to pending, to tell it again (undo `fail`/`abandon`)."""
    before = c.trial(trial)
    c.reopen(trial, reason=reason)
    out.print(f"Trial {trial}: {before.label} -> pending (reason: {reason}).")


COMMANDS = [correct, retract, history, abandon, reopen]
