"""Checking a filled-in round file against the campaign, then recording it: all rows or none.

:func:`plan_tell` decides, for every row, what ``bo-loop tell`` will do (tell, fail, abandon,
leave pending, nothing because already recorded) or every rule the row broke, before anything is
written; :func:`apply_plans` records the rows only when none broke a rule, in one transaction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bo_loop.campaign import Campaign
from bo_loop.constraints import LinearConstraint
from bo_loop.exceptions import BoLoopError, TrialNotFoundError, TrialStateError
from bo_loop.objective import Objective
from bo_loop.rounds.files import (
    CAMPAIGN_COLUMN,
    NOTE_COLUMN,
    TRIAL_COLUMN,
    Cell,
    RoundFileError,
    Sheet,
    is_blank,
    parse_number,
)
from bo_loop.space import Categorical, Integer, Real, Space
from bo_loop.trial import Trial, TrialState

FAIL_MARKERS = frozenset({"failed", "fail"})
ABANDON_MARKERS = frozenset({"abandoned", "abandon"})

#: A float parameter cell matches the stored value within this relative difference...
REL_TOLERANCE = 1e-9
#: ...or within this fraction of the parameter's range ``high - low`` (in the parameter's own
#: units, also when ``log=True``). Spreadsheets write back fewer digits than bo_loop wrote
#: (Excel's "General" format keeps 6 to 11 significant digits, and a technician may format the
#: column with 2 decimals): 1/1000 of the range (0.1 for 20..120) lets such rounding through
#: while a real edit of a setting is refused.
SPAN_TOLERANCE = 1e-3

Action = Literal["tell", "fail", "abandon", "pending", "recorded", "comment", "error"]


@dataclass(frozen=True)
class Problem:
    """One rule a row broke: a few words for the report table, and the full sentence."""

    short: str
    detail: str


@dataclass(frozen=True)
class RowPlan:
    """What ``tell`` will do with one row, decided before anything is recorded.

    Attributes:
        row: Spreadsheet row number (header = 1).
        trial: The trial number, or None when the cell is not one.
        result: The result cell as written (for the report).
        action: tell, fail, abandon, pending (blank result), recorded (already in the campaign
            with this result: nothing to do), comment (only a note: skipped) or error.
        value: The outcome to tell.
        note: The note cell, if any.
        remark: A short remark for the report (e.g. that a note is not stored).
        problems: For errors, every rule the row broke.
    """

    row: int
    trial: int | None
    result: str
    action: Action
    value: float | None = None
    note: str | None = None
    remark: str = ""
    problems: tuple[Problem, ...] = ()

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


def _text(cell: Cell) -> str:
    if is_blank(cell):
        return ""
    if isinstance(cell, float) and cell.is_integer() and abs(cell) < 1e15:
        return repr(cell)
    return str(cell)


def _number(cell: Cell) -> float | None:
    if isinstance(cell, bool) or cell is None:
        return None
    if isinstance(cell, int | float):
        return float(cell)
    if isinstance(cell, str):
        return parse_number(cell)
    return None


def _tolerance(p: Real) -> float:
    return SPAN_TOLERANCE * (p.high - p.low)


def _same_real(p: Real, a: float, b: float) -> bool:
    return abs(a - b) <= max(REL_TOLERANCE * max(abs(a), abs(b)), _tolerance(p))


def _same_choice(p: Categorical, cell: Cell, stored: Any) -> bool:
    # A spreadsheet may hand back the choice 4 as "4.0", or True as "TRUE": try those readings too.
    readings: list[Any] = [cell]
    if isinstance(cell, str):
        readings.append(_number(cell))
        if cell.strip().casefold() in ("true", "false"):
            readings.append(cell.strip().casefold() == "true")
    want = p.index(stored)
    for reading in readings:
        try:
            if reading is not None and p.index(reading) == want:
                return True
        except BoLoopError:
            continue
    return False


def _param_problem(p: Real | Integer | Categorical, cell: Cell, stored: Any) -> Problem | None:
    """Why a parameter cell does not show the stored value, or None when it does."""
    if isinstance(p, Categorical):
        same = not is_blank(cell) and _same_choice(p, cell, stored)
    else:
        v = _number(cell)
        if v is None or not math.isfinite(v):
            same = False
        elif isinstance(p, Integer):
            same = v == float(stored)
        else:
            same = _same_real(p, v, float(stored))
    if same:
        return None
    shown = "blank" if is_blank(cell) else repr(_text(cell))
    within = (
        f", more than {_tolerance(p):.3g} (1/1000 of its range {p.low!r}..{p.high!r}) away; "
        "a spreadsheet's rounding within that is accepted"
        if isinstance(p, Real) and _number(cell) is not None
        else ""
    )
    return Problem(
        f"{p.name} changed",
        f"{p.name!r} was edited: the file says {shown} but the trial was asked at {stored!r}"
        f"{within}. "
        "A trial's settings cannot change: put the asked value back, or, if the rig really ran "
        "at other settings, write 'abandoned' as the result and record the run with `bo-loop add`",
    )


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


def _check_header(sheet: Sheet, space: Space, objective: Objective) -> list[str]:
    """Refuse a file missing a needed column; return the columns that will be ignored."""
    needed = [TRIAL_COLUMN, *space.names, objective.name]
    missing = [c for c in needed if c not in sheet.columns]
    if missing:
        raise RoundFileError(
            f"{sheet.name}, header (row {sheet.header_row}): missing column(s) {missing!r}; a "
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
    objective: Objective,
    trials: Sequence[Trial],
    *,
    campaign: str | None = None,
    constraints: Sequence[LinearConstraint] = (),
) -> tuple[list[RowPlan], list[str]]:
    """Check every row of a filled-in round file against the stored trials.

    ``campaign`` (the campaign's name) is checked against the file's ``campaign`` column. A row
    whose settings were edited is refused; when the edited settings also break one of the
    ``constraints`` (the campaign's), the report says which and how to record such a run.

    Returns:
        One plan per row, in file order (rows that broke a rule have ``action == "error"`` and
        list every rule they broke), and the file's extra columns, which are ignored.

    Raises:
        RoundFileError: the header lacks a needed column, the file has no rows, or it was
            written for another campaign.
    """
    ignored = _check_header(sheet, space, objective)
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
        if note and all(is_blank(cells[c]) for c in (TRIAL_COLUMN, *space.names, objective.name)):
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
WRITES = ("tell", "fail", "abandon")


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
    values: dict[int, float] = {}
    notes: dict[int, str] = {}
    failed: dict[int, str | None] = {}
    abandoned: dict[int, str | None] = {}
    for p in writes:
        assert p.trial is not None
        if p.action == "tell":
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
            p for p in writes if p.trial not in now or now[p.trial].state is not TrialState.PENDING
        ]
        which = ", ".join(p.label for p in changed) or "a row"
        raise RoundFileError(
            f"Nothing was recorded: {which} changed after the file was checked (someone else "
            f"recorded it meanwhile). {e}\nCheck {'that row' if len(changed) == 1 else 'those rows'}"
            ", then run the same command again: rows already recorded with the same result are "
            "recognised and skipped."
        ) from None


def summary(plans: Sequence[RowPlan]) -> str:
    """``Recorded: told 2, failed 1, left pending 1.``"""
    count = {a: sum(p.action == a for p in plans) for a in (*WRITES, "pending", "recorded")}
    parts = [f"told {count['tell']}", f"failed {count['fail']}"]
    if count["abandon"]:
        parts.append(f"abandoned {count['abandon']}")
    parts.append(f"left pending {count['pending']}")
    if count["recorded"]:
        parts.append(f"unchanged {count['recorded']}")
    return "Recorded: " + ", ".join(parts) + "."
