"""Round files for ``bo-loop ask`` / ``bo-loop tell``: CSV or XLSX sheets a technician fills in.

A round file has one row per trial: ``trial``, every parameter, one result column per outcome
(the objective, or every objective and constrained outcome; blank until measured), ``note`` and
``campaign`` (the campaign's name on every row, so that a file cannot be told to another
campaign). Lines starting with ``#`` above the header say what the technician must respect (the
campaign's parameter constraints, values held this round); the reader skips them. This module
writes and reads such files (and ``export``/``add``
tables); checking a filled-in round against the campaign is :mod:`bo_loop.rounds.tell`.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bo_loop.exceptions import BoLoopError
from bo_loop.objective import Objective
from bo_loop.outcomes import Outcomes
from bo_loop.space import Space
from bo_loop.trial import Trial

EXTENSIONS = (".csv", ".xlsx")
TRIAL_COLUMN = "trial"
NOTE_COLUMN = "note"
CAMPAIGN_COLUMN = "campaign"
#: The sheet of an XLSX round file that `write_round_file` writes and the reader looks for first.
ROUND_SHEET = "round"
#: What starts a comment line above a round file's header.
COMMENT = "#"

#: A cell as read: text from a CSV; text, numbers, booleans or dates from a workbook.
Cell = str | float | int | bool | datetime | None


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


def outcome_names(outcomes: Outcomes | Objective) -> tuple[str, ...]:
    """The result columns: the objective's name, or every outcome's."""
    return (outcomes.name,) if isinstance(outcomes, Objective) else outcomes.names


def round_columns(
    space: Space, outcomes: Outcomes | Objective, *, campaign: bool = True
) -> list[str]:
    """The columns of a round file, in order (``campaign``: with the campaign column)."""
    return [TRIAL_COLUMN, *space.names, *outcome_names(outcomes), NOTE_COLUMN] + (
        [CAMPAIGN_COLUMN] if campaign else []
    )


def check_column_names(space: Space, outcomes: Outcomes | Objective) -> None:
    """Refuse a campaign whose parameter or outcome names clash with a round file's own columns
    (possible for a campaign created from Python)."""
    for name in [*space.names, *outcome_names(outcomes)]:
        if name in (TRIAL_COLUMN, NOTE_COLUMN, CAMPAIGN_COLUMN):
            raise RoundFileError(
                f"Round files use the columns {TRIAL_COLUMN!r}, {NOTE_COLUMN!r} and "
                f"{CAMPAIGN_COLUMN!r} themselves, "
                f"so no parameter or objective may be named so, but this campaign has {name!r}."
            )


def write_round_file(
    path: Path,
    space: Space,
    outcomes: Outcomes | Objective,
    trials: Sequence[Trial],
    *,
    campaign: str | None = None,
    comments: Sequence[str] = (),
) -> None:
    """Write trials as a round file (CSV or XLSX by extension), the result and note cells empty
    (with several outcomes, a pending trial's outcomes told so far are filled in).

    ``campaign`` (the campaign's name) fills a ``campaign`` column on every row, which
    ``bo-loop tell`` checks; None writes no such column. Each of ``comments`` is written as a
    line ``# comment`` above the header (e.g. ``constraint: water + ethanol == 1``).
    """
    columns = round_columns(space, outcomes, campaign=campaign is not None)
    names = outcome_names(outcomes)
    own = [] if campaign is None else [campaign]
    rows: list[list[Any]] = [
        [t.number, *(t.params[n] for n in space.names),
         *(t.values.get(n) if len(names) > 1 else None for n in names), None, *own]
        for t in trials
    ]  # fmt: skip
    above = [f"{COMMENT} {c}" for c in comments]
    with _atomic(path) as tmp:
        if path.suffix.lower() == ".xlsx":
            _write_xlsx(tmp, columns, rows, highlight=names, comments=above)
        else:
            # utf-8-sig: Excel reads a CSV without the BOM as the local code page and garbles
            # non-ASCII choices. Python's str(float) is the shortest exact repr: no digits lost.
            with open(tmp, "w", newline="", encoding="utf-8-sig") as f:
                writer = csv.writer(f)
                writer.writerows([line] for line in above)
                writer.writerow(columns)
                writer.writerows([["" if v is None else v for v in row] for row in rows])


def _write_xlsx(
    path: Path,
    columns: list[str],
    rows: list[list[Any]],
    *,
    highlight: Sequence[str],
    comments: Sequence[str] = (),
) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = ROUND_SHEET
    for line in comments:
        ws.append([line])
    header = len(comments) + 1
    ws.append(columns)
    for row in rows:
        ws.append(row)
    for i, name in enumerate(columns, start=1):
        cell = ws.cell(row=header, column=i)
        cell.font = Font(bold=True)
        width = max([len(str(name)), *(len(str(r[i - 1])) for r in rows if r[i - 1] is not None)])
        ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 10), 40)
        if name in highlight:
            # The columns the technician fills in.
            for r in range(header, header + len(rows) + 1):
                ws.cell(row=r, column=i).fill = PatternFill("solid", fgColor="FFF2CC")
    ws.freeze_panes = f"A{header + 1}"
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
    (the header is row 1, as a spreadsheet shows it), and for a workbook the sheet read."""

    name: str
    header_row: int
    columns: list[str]
    rows: list[tuple[int, dict[str, Cell]]]
    sheet: str | None = None

    @property
    def header(self) -> str:
        """``r.xlsx, sheet 'round', header (row 1)``: where messages about the header point."""
        where = self.name if self.sheet is None else f"{self.name}, sheet {self.sheet!r}"
        return f"{where}, header (row {self.header_row})"


def is_blank(cell: Cell) -> bool:
    """An empty cell: None, NaN, or only whitespace."""
    return (
        cell is None
        or (isinstance(cell, str) and not cell.strip())
        or (isinstance(cell, float) and math.isnan(cell))
    )


def parse_number(text: str) -> float | None:
    """A number typed in a cell, or None. Python's ``float`` also takes "1_000" and "١٢"; a
    spreadsheet never writes a number so, so such text is not read as one."""
    text = text.strip()
    if "_" in text or not text.isascii():
        return None
    try:
        return float(text)
    except ValueError:
        return None


_DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d+([eE][-+]?\d+)?")


def read_round_file(path: str | os.PathLike[str]) -> Sheet:
    """Read a CSV or XLSX round file, or raise RoundFileError saying why not.

    Of a workbook, the sheet named `ROUND_SHEET` (as ``bo-loop ask`` writes it) is read when there
    is one, else the first sheet.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in EXTENSIONS:
        raise RoundFileError(f"A round file must end in .csv or .xlsx, but got {p.name!r}.")
    if not p.is_file():
        raise RoundFileError(f"Cannot read {str(p)!r}: no such file.")
    sheet_name, raw = _read_xlsx(p) if suffix == ".xlsx" else (None, _read_csv(p))
    while raw and (all(is_blank(c) for c in raw[0][1]) or _is_comment(raw[0][1])):
        # Leading empty rows and "# ..." lines: the header is the first other row.
        raw = raw[1:]
    if not raw:
        where = p.name if sheet_name is None else f"{p.name}, sheet {sheet_name!r},"
        raise RoundFileError(f"{where} is empty: row 1 must be the header ({TRIAL_COLUMN}, ...).")
    header_row, header = raw[0]
    body = [(number, cells) for number, cells in raw[1:] if not all(is_blank(c) for c in cells)]
    if suffix == ".csv":
        _check_row_lengths(p.name, header_row, len(header), body)
    width = max([len(header), *(len(cells) for _, cells in body)])
    columns: list[str] = []
    for i in range(width):
        name = "" if i >= len(header) or is_blank(header[i]) else str(header[i]).strip()
        if not name and any(i < len(cells) and not is_blank(cells[i]) for _, cells in body):
            # Notes scribbled in a column without a header: keep it visible as an ignored column.
            name = f"(column {i + 1})"
        columns.append(name)
    rows = []
    for number, cells in body:
        padded = [*cells, *([None] * (width - len(cells)))]
        rows.append((number, {c: v for c, v in zip(columns, padded, strict=True) if c}))
    sheet = Sheet(p.name, header_row, [c for c in columns if c], rows, sheet_name)
    repeated = sorted({c for c in columns if c and columns.count(c) > 1})
    if repeated:
        raise RoundFileError(f"{sheet.header}: column {repeated[0]!r} appears more than once.")
    return sheet


def _is_comment(cells: Sequence[Cell]) -> bool:
    """A "# ..." line above the header: its first non-blank cell is text starting with #."""
    first = next((c for c in cells if not is_blank(c)), None)
    return isinstance(first, str) and first.startswith(COMMENT)


def _check_row_lengths(
    name: str, header_row: int, width: int, body: list[tuple[int, list[Cell]]]
) -> None:
    """Refuse CSV rows with more cells than the header: a spreadsheet writes every row as wide as
    the header, so an extra cell means a value was split, most often a decimal comma typed in a
    comma-separated file (2,677 is read as the two cells 2 and 677, shifting the cells after it)."""
    for number, cells in body:
        if len(cells) > width:
            raise RoundFileError(
                f"{name}, row {number} has {len(cells)} cells but the header (row {header_row}) "
                f"has {width}: every row must have at most as many cells as the header. A number "
                "written with a decimal comma (2,677) in a comma-separated file splits into two "
                "cells: write it with a decimal point (2.677), or save the file from the "
                "spreadsheet again. Nothing was recorded."
            )


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
    # The header decides the separator ("# ..." lines above it are free text).
    first = next((t for t in text.split("\n") if not t.lstrip('"').startswith(COMMENT)), "")
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


def _read_xlsx(path: Path) -> tuple[str, list[tuple[int, list[Cell]]]]:
    from bo_loop.rounds.workbook import read_xlsx  # workbook imports this module

    return read_xlsx(path, ROUND_SHEET)


def read_measurements(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV or XLSX of measured rows for ``Campaign.add_observations``.

    The DataFrame's index is the spreadsheet row number, so the library's per-row errors name the
    rows as the user sees them; blank cells are None (reported as missing, not as bad text).
    """
    sheet = read_round_file(path)
    if not sheet.rows:
        raise RoundFileError(f"{sheet.name} has a header but no rows.")
    records = [
        {c: None if is_blank(cells[c]) else cells[c] for c in sheet.columns}
        for _, cells in sheet.rows
    ]
    return pd.DataFrame(
        records, columns=sheet.columns, index=[row for row, _ in sheet.rows], dtype=object
    )


@dataclass(frozen=True)
class AddedRuns:
    """A file for ``bo-loop add``, with a round file's own columns taken out of it."""

    frame: pd.DataFrame
    """The other columns (parameters and outcomes), indexed by spreadsheet row number."""
    dropped: list[str]
    """The round-file columns the file had (``trial``, ``note``, ``campaign``): not stored."""
    notes: dict[int, str]
    """Spreadsheet row number -> the note written there (``add`` has nowhere to store it)."""


def read_added_runs(path: str | os.PathLike[str], *, campaign: str) -> AddedRuns:
    """Read runs for ``bo-loop add`` (see `read_measurements`), accepting rows copied from a
    round file of ``campaign``.

    A run at settings of one's own is often a round file's row with its settings edited (then
    marked 'abandoned' there): its ``trial`` cell names the trial it was not (``add`` makes a new
    one), its ``note`` cannot be stored, and its ``campaign`` cell must name this campaign or be
    blank. Any other column is left for `Campaign.add_observations` to refuse.

    Raises:
        RoundFileError: a ``campaign`` cell names another campaign; nothing is stored.
    """
    frame = read_measurements(path)
    name = Path(path).name
    own = [c for c in (TRIAL_COLUMN, NOTE_COLUMN, CAMPAIGN_COLUMN) if c in frame.columns]
    if CAMPAIGN_COLUMN in frame.columns:
        for row, cell in frame[CAMPAIGN_COLUMN].items():
            if cell is not None and str(cell).strip() != campaign:
                raise RoundFileError(
                    f"{name}, row {row}: the {CAMPAIGN_COLUMN!r} column says {str(cell).strip()!r}, "
                    f"but the runs are being added to campaign {campaign!r}; nothing was stored. "
                    f"A row copied from a round file can only be added to its campaign (clear "
                    "the cell if the run belongs to this one)."
                )
    notes: dict[int, str] = {}
    if NOTE_COLUMN in frame.columns:
        notes = {
            int(row): str(cell) for row, cell in frame[NOTE_COLUMN].items() if cell is not None
        }
    return AddedRuns(frame.drop(columns=own), own, notes)
