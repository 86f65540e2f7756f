"""Checking a filled-in round file against the campaign, then recording it: all rows or none.

:func:`plan_tell` decides, for every row, what ``bo-loop tell`` will do (tell, fail, abandon,
leave pending, nothing because already recorded) or every rule the row broke, before anything is
written; :func:`apply_plans` records the rows only when none broke a rule, in one transaction.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bo_loop.campaign import Campaign
from bo_loop.constraints import LinearConstraint
from bo_loop.exceptions import BoLoopError, TrialNotFoundError, TrialStateError
from bo_loop.objective import Objective
from bo_loop.outcomes import Outcomes

# The per-cell checks keep their old private names here: the plan below reads as it did.
from bo_loop.rounds.cells import REL_TOLERANCE, Problem
from bo_loop.rounds.cells import cell_number as _number
from bo_loop.rounds.cells import cell_text as _text
from bo_loop.rounds.cells import param_problem as _param_problem
from bo_loop.rounds.files import (
    CAMPAIGN_COLUMN,
    NOTE_COLUMN,
    TRIAL_COLUMN,
    Cell,
    RoundFileError,
    Sheet,
    is_blank,
)
from bo_loop.rounds.results import ABANDON_MARKERS, FAIL_MARKERS, row_results
from bo_loop.space import Space
from bo_loop.trial import Trial, TrialState

Action = Literal["tell", "partial", "fail", "abandon", "pending", "recorded", "comment", "error"]


@dataclass(frozen=True)
class RowPlan:
    """What ``tell`` will do with one row, decided before anything is recorded.

    Attributes:
        row: Spreadsheet row number (header = 1).
        trial: The trial number, or None when the cell is not one.
        result: The result cell as written (for the report; with several outcomes, see
            ``cells``).
        action: tell, fail, abandon, pending (blank result), recorded (already in the campaign
            with this result: nothing to do), comment (only a note: skipped) or error; with
            several outcomes also partial (some outcomes told, the trial stays pending).
        value: The outcome to tell (a campaign with a single outcome).
        note: The note cell, if any.
        remark: A short remark for the report (e.g. that a note is not stored).
        problems: For errors, every rule the row broke.
        values: With several outcomes: the outcome values to record (only new ones).
        cells: With several outcomes: each result cell as written, by outcome.
    """

    row: int
    trial: int | None
    result: str
    action: Action
    value: float | None = None
    note: str | None = None
    remark: str = ""
    problems: tuple[Problem, ...] = ()
    values: Mapping[str, float] = field(default_factory=dict)
    cells: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``row 4 (trial 2)``: how messages name the row."""
        return f"row {self.row}" + ("" if self.trial is None else f" (trial {self.trial})")

    @property
    def message(self) -> str:
        """Every broken rule in full: one line, or a line per rule when there are several."""
        if len(self.problems) == 1:
            return f" {self.problems[0].detail}"
        return "".join(f"\n    - {p.detail}" for p in self.problems)


def _result(cell: Cell, objective: Objective) -> tuple[Action, float | None, Problem | None]:
    """Classify a result cell: (action, value, problem)."""
    if is_blank(cell):
        return "pending", None, None
    if isinstance(cell, str) and cell.strip().casefold() in FAIL_MARKERS:
        return "fail", None, None
    if isinstance(cell, str) and cell.strip().casefold() in ABANDON_MARKERS:
        return "abandon", None, None
    raw = _number(cell)
    if raw is None:
        detail = (
            f"the result {_text(cell)!r} is not a number (write a number with a decimal point, "
            f"'failed' with the reason in {NOTE_COLUMN!r}, 'abandoned', or leave it blank)"
        )
        return "error", None, Problem("result not a number", detail)
    try:
        return "tell", objective.parse_value(raw), None
    except BoLoopError as e:
        return (
            "error",
            None,
            Problem("result refused", f"the result {_text(cell)!r} is refused: {e}"),
        )


def _check_header(sheet: Sheet, space: Space, outcomes: Outcomes) -> list[str]:
    """Refuse a file missing a needed column; return the columns that will be ignored."""
    needed = [TRIAL_COLUMN, *space.names, *outcomes.names]
    missing = [c for c in needed if c not in sheet.columns]
    if missing:
        extra = [c for c in sheet.columns if c not in (*needed, NOTE_COLUMN, CAMPAIGN_COLUMN)]
        close = [
            f"{found!r} for {want!r}"
            for want in missing
            for found in difflib.get_close_matches(want, extra, n=1)
        ]
        hint = f" (a misspelt column? {', '.join(close)})" if close else ""
        raise RoundFileError(
            f"{sheet.header}: missing column(s) {missing!r}{hint}; a "
            f"round file needs {needed!r} ({NOTE_COLUMN!r} optional), and has {sheet.columns!r}."
        )
    return [c for c in sheet.columns if c not in (*needed, NOTE_COLUMN, CAMPAIGN_COLUMN)]


def _check_campaign(sheet: Sheet, campaign: str) -> None:
    """Refuse a round file whose ``campaign`` column names another campaign (a blank cell, or a
    file without the column, written by hand or by an older bo_loop, is not checked)."""
    if CAMPAIGN_COLUMN not in sheet.columns:
        return
    for row, cells in sheet.rows:
        cell = cells[CAMPAIGN_COLUMN]
        if not is_blank(cell) and _text(cell).strip() != campaign:
            raise RoundFileError(
                f"{sheet.name} was written for campaign {_text(cell).strip()!r} (row {row}), but "
                f"is being told to campaign {campaign!r}; nothing was recorded. A round file can "
                f"only be told to the campaign that asked for it (its {CAMPAIGN_COLUMN!r} column)."
            )


def _trial_number(cell: Cell) -> int | None:
    n = _number(cell)
    return int(n) if n is not None and n.is_integer() and n >= 0 else None


def plan_tell(
    sheet: Sheet,
    space: Space,
    outcomes: Outcomes | Objective,
    trials: Sequence[Trial],
    *,
    campaign: str | None = None,
    constraints: Sequence[LinearConstraint] = (),
) -> tuple[list[RowPlan], list[str]]:
    """Check every row of a filled-in round file against the stored trials.

    ``outcomes``: the campaign's objective(s) and outcome constraints; a file has one result
    column per outcome. ``campaign`` (the campaign's name) is checked against the file's
    ``campaign`` column. A row whose settings were edited is refused; when the edited settings
    also break one of the ``constraints`` (the campaign's), the report says which and how to
    record such a run.

    Returns:
        One plan per row, in file order (rows that broke a rule have ``action == "error"`` and
        list every rule they broke), and the file's extra columns, which are ignored.

    Raises:
        RoundFileError: the header lacks a needed column, the file has no rows, or it was
            written for another campaign.
    """
    if isinstance(outcomes, Objective):
        outcomes = Outcomes((outcomes,))
    objective = outcomes.objectives[0]
    names = outcomes.names
    ignored = _check_header(sheet, space, outcomes)
    if campaign is not None:
        _check_campaign(sheet, campaign)
    if not sheet.rows:
        raise RoundFileError(f"{sheet.name} has a header but no trial rows.")
    by_number: Mapping[int, Trial] = {t.number: t for t in trials}
    numbers = [_trial_number(cells[TRIAL_COLUMN]) for _, cells in sheet.rows]
    rows_of: dict[int, list[int]] = {}
    for (row, _), n in zip(sheet.rows, numbers, strict=True):
        if n is not None:
            rows_of.setdefault(n, []).append(row)
    known = f"0..{max(by_number)}" if by_number else "none yet"

    plans: list[RowPlan] = []
    for (row, cells), number in zip(sheet.rows, numbers, strict=True):
        result = _text(cells[objective.name])
        note = None if is_blank(cells.get(NOTE_COLUMN)) else _text(cells.get(NOTE_COLUMN))
        if note and all(is_blank(cells[c]) for c in (TRIAL_COLUMN, *space.names, *names)):
            # A comment typed on a row of its own (e.g. under the trials) is no trial: skip it.
            plans.append(
                RowPlan(row, None, "", "comment", note=note, remark="comment only: skipped")
            )
            continue
        problems: list[Problem] = []
        trial = None if number is None else by_number.get(number)
        if number is None:
            shown = _text(cells[TRIAL_COLUMN]) or "(blank)"
            problems.append(Problem("bad trial number",
                                    f"the trial number {shown!r} is not a whole number >= 0"))  # fmt: skip
        elif trial is None:
            problems.append(Problem("no such trial",
                                    f"there is no trial {number} in this campaign (trial numbers: {known})"))  # fmt: skip
        if number is not None and len(rows_of[number]) > 1:
            others = ", ".join(str(r) for r in rows_of[number])
            problems.append(Problem("duplicate row",
                                    f"trial {number} appears in more than one row (rows {others}): keep one"))  # fmt: skip
        if trial is not None:
            edited = [
                problem for p in space.parameters
                if (problem := _param_problem(p, cells[p.name], trial.params[p.name]))
            ]  # fmt: skip
            problems += edited
            if edited and constraints:
                problems += _edit_breaks_constraints(space, cells, constraints)
        if not outcomes.is_single:
            plans.append(_plan_outcomes(row, number, cells, outcomes, trial, note, problems))
            continue
        action, value, problem = _result(cells[objective.name], objective)
        if problem:
            problems.append(problem)
        remark = "no result yet" if action == "pending" else ""
        if trial is not None and action != "error" and trial.state is not TrialState.PENDING:
            action, remark, problem = _against_finished(trial, action, value, objective)
            if problem:
                problems.append(problem)
        if note and action == "pending":
            remark = "note not stored: the trial is still pending"
        if problems:
            plans.append(RowPlan(row, number, result, "error", note=note, problems=tuple(problems)))
        else:
            plans.append(RowPlan(row, number, result, action, value, note, remark))
    return plans, ignored


def _plan_outcomes(
    row: int,
    number: int | None,
    cells: Mapping[str, Cell],
    outcomes: Outcomes,
    trial: Trial | None,
    note: str | None,
    problems: list[Problem],
) -> RowPlan:
    """A row of a campaign with several outcomes (`bo_loop.rounds.results` has the rules)."""
    shown = {n: _text(cells[n]) for n in outcomes.names}
    found = row_results(cells, outcomes, trial)
    problems = [*problems, *found.problems]
    if problems:
        return RowPlan(row, number, "", "error", note=note, problems=tuple(problems), cells=shown)
    remark = found.remark
    if note and found.action in ("pending", "partial"):
        remark = f"{remark}; note not stored: the trial is still pending"
    return RowPlan(row, number, "", found.action, None, note, remark, values=found.values,
                   cells=shown)  # fmt: skip


def _edit_breaks_constraints(
    space: Space, cells: Mapping[str, Cell], constraints: Sequence[LinearConstraint]
) -> list[Problem]:
    """The constraints the settings as written in an edited row break (numbers only)."""
    written = {p.name: _number(cells[p.name]) for p in space.parameters}
    broken = [
        str(c) for c in constraints
        if all(written[n] is not None for n in c.coefficients) and not c.holds(written)
    ]  # fmt: skip
    if not broken:
        return []
    return [
        Problem(
            "breaks a constraint",
            f"the settings as edited break the parameter constraint(s) {'; '.join(broken)}. A "
            "run outside the constraints is still a fact worth keeping: write 'abandoned' as the "
            "result and record the run with `bo-loop add`, which stores it flagged 'violates' "
            "(it is never proposed)",
        )
    ]


def _against_finished(
    trial: Trial, action: Action, value: float | None, objective: Objective
) -> tuple[Action, str, Problem | None]:
    """A row for a trial that is no longer pending: the same result again is a harmless repeat
    (a file told twice, or told again after an interrupted tell); anything else is refused."""
    state = trial.state
    if action == "pending":
        return "recorded", f"already {state.value}", None
    same = (
        (action == "tell" and state is TrialState.COMPLETED and trial.value is not None
         and value is not None and math.isclose(value, trial.value, rel_tol=REL_TOLERANCE))
        or (action == "fail" and state is TrialState.FAILED)
        or (action == "abandon" and state is TrialState.ABANDONED)
    )  # fmt: skip
    if same:
        return "recorded", f"already {state.value} with this result", None
    stored = f" ({objective.name} = {trial.value!r})" if trial.value is not None else ""
    return (
        "error",
        "",
        Problem(
            f"already {state.value}",
            f"trial {trial.number} is already {state.value.upper()}{stored}, and only a pending "
            "trial can take a result; remove the row or clear its result cell",
        ),
    )


#: The actions that write to the campaign.
WRITES = ("tell", "partial", "fail", "abandon")


def apply_plans(campaign: Campaign, plans: Sequence[RowPlan]) -> None:
    """Record checked rows (none of them an error) with ``Campaign.tell_many``: the whole file in
    one transaction, every row or none.

    A trial recorded by someone else between the check and this point refuses the whole file;
    the message names those rows, and nothing is recorded. A process killed midway records
    nothing either, and running the same command again records the file.

    Raises:
        RoundFileError: a trial changed after the file was checked; nothing was recorded.
    """
    assert not any(p.action == "error" for p in plans), "apply only a file without errors"
    writes = [p for p in plans if p.action in WRITES]
    if not writes:
        return
    values: dict[int, float | dict[str, float]] = {}
    notes: dict[int, str] = {}
    failed: dict[int, str | None] = {}
    abandoned: dict[int, str | None] = {}
    for p in writes:
        assert p.trial is not None
        if p.action == "partial":
            values[p.trial] = dict(p.values)  # a partial tell: the trial stays pending
        elif p.action == "tell":
            if p.values:  # several outcomes: the last missing ones
                values[p.trial] = dict(p.values)
            else:
                assert p.value is not None
                values[p.trial] = p.value
            if p.note is not None:
                notes[p.trial] = p.note
        elif p.action == "fail":
            failed[p.trial] = p.note
        else:
            abandoned[p.trial] = p.note
    try:
        campaign.tell_many(values, failed=failed, abandoned=abandoned, notes=notes)
    except (TrialStateError, TrialNotFoundError) as e:
        now = {t.number: t for t in campaign.trials()}
        changed = [
            p
            for p in writes
            if p.trial not in now
            or now[p.trial].state is not TrialState.PENDING
            or any(n in now[p.trial].values for n in p.values)
        ]
        which = ", ".join(p.label for p in changed) or "a row"
        raise RoundFileError(
            f"Nothing was recorded: {which} changed after the file was checked (someone else "
            f"recorded it meanwhile). {e}\nCheck {'that row' if len(changed) == 1 else 'those rows'}"
            ", then run the same command again: rows already recorded with the same result are "
            "recognised and skipped."
        ) from None


def summary(plans: Sequence[RowPlan]) -> str:
    """``Recorded: told 2, failed 1, left pending 1.`` (and ``partly told 1 (still pending)``
    when some rows gave only some outcomes)."""
    count = {a: sum(p.action == a for p in plans) for a in (*WRITES, "pending", "recorded")}
    parts = [f"told {count['tell']}"]
    if count["partial"]:
        parts.append(f"partly told {count['partial']} (still pending)")
    parts.append(f"failed {count['fail']}")
    if count["abandon"]:
        parts.append(f"abandoned {count['abandon']}")
    parts.append(f"left pending {count['pending']}")
    if count["recorded"]:
        parts.append(f"unchanged {count['recorded']}")
    return "Recorded: " + ", ".join(parts) + "."
