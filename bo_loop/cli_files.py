"""Round files for ``bo-loop ask`` / ``bo-loop tell``: CSV or XLSX sheets a technician fills in.

A round file has one row per trial: ``trial``, every parameter, the objective's column (blank
until measured) and ``note``. Reading one back is checked row by row against the stored trials
(:func:`plan_tell`) before anything is recorded, so a file with one bad row records nothing.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from bo_loop.exceptions import BoLoopError
from bo_loop.objective import Objective
from bo_loop.space import Categorical, Integer, Real, Space
from bo_loop.trial import Trial, TrialState

EXTENSIONS = (".csv", ".xlsx")
TRIAL_COLUMN = "trial"
NOTE_COLUMN = "note"
FAIL_MARKERS = frozenset({"failed", "fail"})
ABANDON_MARKERS = frozenset({"abandoned", "abandon"})

#: A float parameter cell matches the stored value within this relative difference...
REL_TOLERANCE = 1e-9
#: ...or within this fraction of the parameter's range (on its log scale when ``log=True``).
#: Spreadsheets may write back fewer digits than bo_loop wrote (Excel's "General" format keeps
#: 6 to 11 significant digits); 1e-5 of the range is far below any rig's setting resolution,
#: and far above such rounding, so only a real edit is refused.
SPAN_TOLERANCE = 1e-5

Cell = str | float | int | bool | datetime | None
Action = Literal["tell", "fail", "abandon", "pending", "recorded", "error"]


class RoundFileError(BoLoopError, ValueError):
    """A round or export file cannot be written, read, or breaks the round-file rules."""


# -- paths -----------------------------------------------------------------------------------


def check_output_path(path: str | os.PathLike[str], *, force: bool, what: str = "file") -> Path:
    """Refuse an output path before any work is done: wrong extension, missing folder, or a file
    that exists (it may hold results typed by hand) unless ``force``."""
    out = Path(path)
    if out.suffix.lower() not in EXTENSIONS:
        raise RoundFileError(f"The {what} must end in .csv or .xlsx, but got {out.name!r}.")
    if not out.parent.is_dir():
        raise RoundFileError(
            f"Cannot write {str(out)!r}: the folder {str(out.parent)!r} does not exist."
        )
    if out.exists() and not force:
        raise RoundFileError(
            f"{str(out)!r} already exists and may hold results typed by hand; nothing was done. "
            "Choose another file name, or pass --force to overwrite it."
        )
    return out


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only once fully written, so a
    crash or full disk never leaves half a file where a technician expects a round."""
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        raise RoundFileError(f"Cannot write {str(path)!r}: {e}") from None
    finally:
        tmp.unlink(missing_ok=True)


# -- writing ---------------------------------------------------------------------------------


def round_columns(space: Space, objective: Objective) -> list[str]:
    """The columns of a round file, in order."""
    return [TRIAL_COLUMN, *space.names, objective.name, NOTE_COLUMN]


def check_column_names(space: Space, objective: Objective) -> None:
    """Refuse a campaign whose parameter or objective names clash with a round file's own columns
    (possible for a campaign created from Python)."""
    for name in [*space.names, objective.name]:
        if name in (TRIAL_COLUMN, NOTE_COLUMN):
            raise RoundFileError(
                f"Round files use the columns {TRIAL_COLUMN!r} and {NOTE_COLUMN!r} themselves, "
                f"so no parameter or objective may be named so, but this campaign has {name!r}."
            )


def write_round_file(
    path: Path, space: Space, objective: Objective, trials: Sequence[Trial]
) -> None:
    """Write trials as a round file (CSV or XLSX by extension), the result and note cells empty."""
    columns = round_columns(space, objective)
    rows: list[list[Any]] = [
        [t.number, *(t.params[n] for n in space.names), None, None] for t in trials
    ]
    with _atomic(path) as tmp:
        if path.suffix.lower() == ".xlsx":
            _write_xlsx(tmp, columns, rows, highlight=objective.name)
        else:
            # utf-8-sig: Excel reads a CSV without the BOM as the local code page and garbles
            # non-ASCII choices. Python's str(float) is the shortest exact repr: no digits lost.
            with open(tmp, "w", newline="", encoding="utf-8-sig") as f:
                writer = csv.writer(f)
                writer.writerow(columns)
                writer.writerows([["" if v is None else v for v in row] for row in rows])


def _write_xlsx(path: Path, columns: list[str], rows: list[list[Any]], *, highlight: str) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "round"
    ws.append(columns)
    for row in rows:
        ws.append(row)
    for i, name in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=i)
        cell.font = Font(bold=True)
        width = max([len(str(name)), *(len(str(r[i - 1])) for r in rows if r[i - 1] is not None)])
        ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 10), 40)
        if name == highlight:
            # The one column the technician fills in.
            for r in range(1, len(rows) + 2):
                ws.cell(row=r, column=i).fill = PatternFill("solid", fgColor="FFF2CC")
    ws.freeze_panes = "A2"
    wb.save(path)


def write_table(path: Path, frame: pd.DataFrame) -> None:
    """Write a DataFrame as CSV or XLSX by extension (``export``)."""
    frame = frame.copy()
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            # Excel has no time zones: write UTC wall-clock times, and say so in the header.
            frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
            frame = frame.rename(columns={column: f"{column}_utc"})
    with _atomic(path) as tmp:
        if path.suffix.lower() == ".xlsx":
            frame.to_excel(tmp, index=False, engine="openpyxl")
        else:
            frame.to_csv(tmp, index=False, encoding="utf-8-sig")


# -- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sheet:
    """A round file as read: its header and its non-blank rows with their spreadsheet row numbers
    (the header is row 1, as a spreadsheet shows it)."""

    name: str
    header_row: int
    columns: list[str]
    rows: list[tuple[int, dict[str, Cell]]]


def _blank(cell: Cell) -> bool:
    return (
        cell is None
        or (isinstance(cell, str) and not cell.strip())
        or (isinstance(cell, float) and math.isnan(cell))
    )


_DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d+([eE][-+]?\d+)?")


def read_round_file(path: str | os.PathLike[str]) -> Sheet:
    """Read a CSV or XLSX round file (first sheet), or raise RoundFileError saying why not."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in EXTENSIONS:
        raise RoundFileError(f"A round file must end in .csv or .xlsx, but got {p.name!r}.")
    if not p.is_file():
        raise RoundFileError(f"Cannot read {str(p)!r}: no such file.")
    raw = _read_xlsx(p) if suffix == ".xlsx" else _read_csv(p)
    while raw and all(_blank(c) for c in raw[0][1]):
        raw = raw[1:]  # leading empty rows: the header is the first row with something in it
    if not raw:
        raise RoundFileError(f"{p.name} is empty: row 1 must be the header ({TRIAL_COLUMN}, ...).")
    header_row, header = raw[0]
    body = [(number, cells) for number, cells in raw[1:] if not all(_blank(c) for c in cells)]
    width = max([len(header), *(len(cells) for _, cells in body)])
    columns: list[str] = []
    for i in range(width):
        name = "" if i >= len(header) or _blank(header[i]) else str(header[i]).strip()
        if not name and any(i < len(cells) and not _blank(cells[i]) for _, cells in body):
            # Notes scribbled in a column without a header: keep it visible as an ignored column.
            name = f"(column {i + 1})"
        columns.append(name)
    repeated = sorted({c for c in columns if c and columns.count(c) > 1})
    if repeated:
        raise RoundFileError(
            f"{p.name}, header (row {header_row}): column {repeated[0]!r} appears more than once."
        )
    rows = []
    for number, cells in body:
        padded = [*cells, *([None] * (width - len(cells)))]
        rows.append((number, {c: v for c, v in zip(columns, padded, strict=True) if c}))
    return Sheet(p.name, header_row, [c for c in columns if c], rows)


def _read_csv(path: Path) -> list[tuple[int, list[Cell]]]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RoundFileError(f"Cannot read {str(path)!r}: {e}") from None
    for encoding in ("utf-8-sig", "cp1252"):
        # Excel saves CSV in UTF-8 (with a BOM) or in the Windows code page.
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise RoundFileError(f"Cannot read {path.name}: it is neither UTF-8 nor Windows-1252 text.")
    if "\x00" in text:
        raise RoundFileError(f"Cannot read {path.name}: it is not a text (CSV) file.")
    first = text.split("\n", 1)[0]
    # Spreadsheets set to a decimal-comma locale save CSV with ';' between cells and '83,1'.
    semicolon = first.count(";") > first.count(",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";" if semicolon else ",")
    rows: list[tuple[int, list[Cell]]] = []
    try:
        for cells in reader:
            line = reader.line_num
            if semicolon:
                cells = [
                    c.replace(",", ".") if _DECIMAL_COMMA.fullmatch(c.strip()) else c for c in cells
                ]
            rows.append((line, [c.strip() for c in cells]))
    except csv.Error as e:
        raise RoundFileError(f"Cannot read {path.name}, line {reader.line_num}: {e}") from None
    return rows


def _read_xlsx(path: Path) -> list[tuple[int, list[Cell]]]:
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            # openpyxl warns about spreadsheet features it drops (styles, validation); we read values only.
            warnings.simplefilter("ignore")
            wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:
        raise RoundFileError(f"Cannot read {path.name} as an Excel (.xlsx) workbook: {e}") from None
    try:
        ws = wb.worksheets[0]
        rows: list[tuple[int, list[Cell]]] = []
        for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
            cells: list[Cell] = [v.strip() if isinstance(v, str) else v for v in values]  # type: ignore[misc]
            rows.append((number, cells))
        return rows
    finally:
        wb.close()


def read_measurements(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV or XLSX of measured rows for ``Campaign.add_observations``.

    The DataFrame's index is the spreadsheet row number, so the library's per-row errors name the
    rows as the user sees them; blank cells are None (reported as missing, not as bad text).
    """
    sheet = read_round_file(path)
    if not sheet.rows:
        raise RoundFileError(f"{sheet.name} has a header but no rows.")
    records = [
        {c: None if _blank(cells[c]) else cells[c] for c in sheet.columns}
        for _, cells in sheet.rows
    ]
    return pd.DataFrame(
        records, columns=sheet.columns, index=[row for row, _ in sheet.rows], dtype=object
    )


# -- checking a filled-in file against the campaign ------------------------------------------


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
            with this result: nothing to do) or error.
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
    def message(self) -> str:
        """Every broken rule in full: one line, or a line per rule when there are several."""
        if len(self.problems) == 1:
            return f" {self.problems[0].detail}"
        return "".join(f"\n    - {p.detail}" for p in self.problems)


def _text(cell: Cell) -> str:
    if _blank(cell):
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
        try:
            return float(cell.strip())
        except ValueError:
            return None
    return None


def _same_real(p: Real, a: float, b: float) -> bool:
    span = p.high - p.low
    if p.log:
        if a <= 0 or b <= 0:
            return False
        a, b, span = math.log(a), math.log(b), math.log(p.high) - math.log(p.low)
    return abs(a - b) <= max(REL_TOLERANCE * max(abs(a), abs(b)), SPAN_TOLERANCE * span)


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
        same = not _blank(cell) and _same_choice(p, cell, stored)
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
    shown = "blank" if _blank(cell) else repr(_text(cell))
    return Problem(
        f"{p.name} changed",
        f"{p.name!r} was edited: the file says {shown} but the trial was asked at {stored!r}. "
        "A trial's settings cannot change: put the asked value back, or, if the rig really ran "
        "at other settings, write 'abandoned' as the result and record the run with `bo-loop add`",
    )


def _result(cell: Cell, objective: Objective) -> tuple[Action, float | None, Problem | None]:
    """Classify a result cell: (action, value, problem)."""
    if _blank(cell):
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
    return [c for c in sheet.columns if c not in (*needed, NOTE_COLUMN)]


def _trial_number(cell: Cell) -> int | None:
    n = _number(cell)
    return int(n) if n is not None and n.is_integer() and n >= 0 else None


def plan_tell(
    sheet: Sheet, space: Space, objective: Objective, trials: Sequence[Trial]
) -> tuple[list[RowPlan], list[str]]:
    """Check every row of a filled-in round file against the stored trials.

    Returns:
        One plan per row, in file order (rows that broke a rule have ``action == "error"`` and
        list every rule they broke), and the file's extra columns, which are ignored.

    Raises:
        RoundFileError: the header lacks a needed column, or the file has no rows.
    """
    ignored = _check_header(sheet, space, objective)
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
        note = None if _blank(cells.get(NOTE_COLUMN)) else _text(cells.get(NOTE_COLUMN))
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
            for p in space.parameters:
                problem = _param_problem(p, cells[p.name], trial.params[p.name])
                if problem:
                    problems.append(problem)
        action, value, problem = _result(cells[objective.name], objective)
        if problem:
            problems.append(problem)
        remark = "no result yet" if action == "pending" else ""
        if trial is not None and action != "error" and trial.state is not TrialState.PENDING:
            action, remark, problem = _against_finished(trial, action, value, objective)
            if problem:
                problems.append(problem)
        if note and action in ("tell", "pending"):
            remark = "note not stored: only a failed or abandoned trial keeps one"
        if problems:
            plans.append(RowPlan(row, number, result, "error", note=note, problems=tuple(problems)))
        else:
            plans.append(RowPlan(row, number, result, action, value, note, remark))
    return plans, ignored


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
