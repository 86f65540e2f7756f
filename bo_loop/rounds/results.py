"""The result cells of one round-file row when a campaign measures several outcomes.

A row has one result column per outcome (every objective, then every outcome that only a
constraint names). Each cell is a number, blank (not measured yet), or a marker for a run given up
('failed', 'abandoned'). The rules, checked before anything is recorded:

- every number is a finite value within its objective's known bounds;
- numbers and a marker never share a row (a run either gave results or was given up), except
  the values the trial already holds, written as told: a round file from ``bo-loop pending``
  shows them, and 'failed' in a blank cell beside them fails the trial, which keeps them;
- a value already told for the trial may be written again (a file told twice, or a round file
  written by ``bo-loop pending`` with what is known so far) but never changed here;
- a row with some outcomes filled in is a partial tell: those values are recorded and the trial
  stays pending until every outcome is in; a row with every result blank changes nothing.

Single-outcome campaigns keep their own rules in `bo_loop.rounds.tell`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from bo_loop.exceptions import BoLoopError
from bo_loop.outcomes import Outcomes
from bo_loop.rounds.cells import REL_TOLERANCE, Problem, cell_number, cell_text
from bo_loop.rounds.files import NOTE_COLUMN, Cell, is_blank
from bo_loop.trial import Trial, TrialState

FAIL_MARKERS = frozenset({"failed", "fail"})
ABANDON_MARKERS = frozenset({"abandoned", "abandon"})

ResultAction = Literal["tell", "partial", "fail", "abandon", "pending", "recorded", "error"]


@dataclass(frozen=True)
class RowResults:
    """What a row's result cells ask for.

    Attributes:
        action: tell (the trial's last missing outcomes: it completes), partial (some outcomes,
            the trial stays pending), fail, abandon, pending (nothing new), recorded (a finished
            trial written again with what it holds) or error.
        values: The outcome values to record now (never one the trial already holds).
        remark: A short remark for the report, e.g. which outcomes are still missing.
        problems: Every rule the cells broke.
    """

    action: ResultAction
    values: Mapping[str, float] = field(default_factory=dict)
    remark: str = ""
    problems: tuple[Problem, ...] = ()


def marker(cell: Cell) -> Literal["fail", "abandon"] | None:
    """'failed' / 'abandoned' (any case, also 'fail' / 'abandon') as typed in a result cell."""
    if isinstance(cell, str):
        word = cell.strip().casefold()
        if word in FAIL_MARKERS:
            return "fail"
        if word in ABANDON_MARKERS:
            return "abandon"
    return None


def _parse(outcomes: Outcomes, name: str, cell: Cell) -> tuple[float | None, Problem | None]:
    raw = cell_number(cell)
    if raw is None:
        return None, Problem(
            f"{name} not a number",
            f"{name} {cell_text(cell)!r} is not a number (write a number with a decimal point, "
            f"'failed' with the reason in {NOTE_COLUMN!r}, 'abandoned', or leave it blank)",
        )
    try:
        return outcomes.parse_one(name, raw), None
    except BoLoopError as e:
        return None, Problem(f"{name} refused", f"{name} {cell_text(cell)!r} is refused: {e}")


def _listing(names: list[str] | tuple[str, ...]) -> str:
    return ", ".join(names)


def row_results(cells: Mapping[str, Cell], outcomes: Outcomes, trial: Trial | None) -> RowResults:
    """Classify a row's result cells against the trial they belong to (None: unknown trial, only
    the cells themselves are checked)."""
    names = outcomes.names
    given: dict[str, float] = {}
    markers: dict[str, Literal["fail", "abandon"]] = {}
    problems: list[Problem] = []
    for name in names:
        cell = cells[name]
        if is_blank(cell):
            continue
        kind = marker(cell)
        if kind is not None:
            markers[name] = kind
            continue
        value, problem = _parse(outcomes, name, cell)
        if problem is not None:
            problems.append(problem)
        elif value is not None:
            given[name] = value
    # Numbers beside a marker are refused unless each is the value the trial already holds:
    # `bo-loop pending -o` writes those into the row, and the trial keeps them when given up.
    told = trial.values if trial is not None else {}
    new = [n for n, v in given.items() if n not in told or not _same(v, told[n])]
    if markers and (new or problems or len(set(markers.values())) > 1):
        shown = "; ".join(f"{n} {cell_text(cells[n])!r}" for n in names if not is_blank(cells[n]))
        held = ", ".join(f"{n} = {v!r}" for n, v in told.items())
        problems.append(Problem(
            "results and 'failed'",
            "a row holds either results or one word for a run given up ('failed' or "
            f"'abandoned'), but this one has {shown}"
            + (f" (only the values already told, {held}, may stay beside it)" if held else ""),
        ))  # fmt: skip
    if problems:
        return RowResults("error", problems=tuple(problems))
    if markers:
        return _given_up(next(iter(markers.values())), trial)
    if trial is None:
        return RowResults("tell" if given else "pending", given)
    return _against_trial(given, trial, names)


def _given_up(kind: Literal["fail", "abandon"], trial: Trial | None) -> RowResults:
    if trial is None or trial.state is TrialState.PENDING:
        return RowResults(kind)
    same = (kind == "fail" and trial.state is TrialState.FAILED) or (
        kind == "abandon" and trial.state is TrialState.ABANDONED
    )
    if same:
        return RowResults("recorded", remark=f"already {trial.state.value} with this result")
    return RowResults("error", problems=(_finished(trial),))


def _same(value: float, told: float) -> bool:
    """A number in the file is the value told, written again (as `bo-loop pending` writes it)."""
    return math.isclose(value, told, rel_tol=REL_TOLERANCE)


def _against_trial(given: dict[str, float], trial: Trial, names: tuple[str, ...]) -> RowResults:
    """Numbers (maybe none) against what the trial holds: new values, repeats, or changes."""
    changed = [
        f"{n} was told as {trial.values[n]!r}, the file says {v!r}"
        for n, v in given.items()
        if n in trial.values and not _same(v, trial.values[n])
    ]
    if trial.state is not TrialState.PENDING:
        if not given:
            return RowResults("recorded", remark=f"already {trial.state.value}")
        if trial.state is TrialState.COMPLETED and not changed:
            return RowResults("recorded", remark="already completed with these results")
        return RowResults("error", problems=(_finished(trial),))
    if changed:
        return RowResults("error", problems=(Problem(
            "told value changed",
            f"trial {trial.number}: {'; '.join(changed)}. A told value is not changed by a round "
            "file: put the told value back or clear the cell (and correct the value with "
            "`bo-loop correct` if it was wrong)",
        ),))  # fmt: skip
    new = {n: v for n, v in given.items() if n not in trial.values}
    still = [n for n in names if n not in trial.values and n not in new]
    if not new:
        waits = f"; waits for {_listing(still)}" if trial.values else ""
        return RowResults(
            "pending", remark=("no result yet" if not given else "no new result") + waits
        )
    if still:
        return RowResults("partial", new, remark=f"waits for {_listing(still)}")
    return RowResults("tell", new)


def _finished(trial: Trial) -> Problem:
    state = trial.state
    stored = ", ".join(f"{n} = {v!r}" for n, v in trial.values.items())
    return Problem(
        f"already {state.value}",
        f"trial {trial.number} is already {state.value.upper()}"
        + (f" ({stored})" if stored else "")
        + ", and only a pending trial can take a result; remove the row or clear its result cells",
    )
