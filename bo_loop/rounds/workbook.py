"""Reading an XLSX round file's sheet: values as saved, refusing what would be misread
(formulas without a saved value, percentage-formatted cells)."""

from __future__ import annotations

import warnings
from pathlib import Path

from bo_loop.rounds.files import Cell, RoundFileError


def read_xlsx(path: Path, preferred: str) -> tuple[str, list[tuple[int, list[Cell]]]]:
    """The title of the sheet read and its rows, numbered as the spreadsheet shows them.

    The sheet is the one titled ``preferred`` (any case, as Excel compares titles) when the
    workbook has it: a technician who adds a sheet of notes in front of the round, or saves the
    file with another sheet active, still has the round read. Otherwise the first sheet.
    """
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    try:
        with warnings.catch_warnings():
            # openpyxl warns about spreadsheet features it drops (styles, validation); we read values only.
            warnings.simplefilter("ignore")
            wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:
        raise RoundFileError(f"Cannot read {path.name} as an Excel (.xlsx) workbook: {e}") from None
    try:
        title = _sheet_title(wb.sheetnames, preferred)
        ws = wb[title]
        rows: list[tuple[int, list[Cell]]] = []
        percent: list[str] = []
        for number, row in enumerate(ws.iter_rows(), start=1):
            values = [getattr(c, "value", None) for c in row]
            cells: list[Cell] = [v.strip() if isinstance(v, str) else v for v in values]
            rows.append((number, cells))
            for column, (c, v) in enumerate(zip(row, values, strict=True), start=1):
                if isinstance(v, int | float) and _is_percent(getattr(c, "number_format", None), v):
                    percent.append(
                        f"cell {get_column_letter(column)}{number} (row {number}) is formatted as "
                        f"a percentage (it shows {v * 100:.10g}%, holds {v!r})"
                    )
    finally:
        wb.close()
    problems = [*_uncalculated_formulas(path, title, rows), *percent]
    if problems:
        # Percentages: a CSV of the cell holds the text '83.1%', which tell refuses as not a
        # number; the workbook is refused alike rather than guessing between 83.1 and 0.831.
        why = (
            "\nA percentage cell is refused as its CSV ('83.1%') would be: format such cells as "
            "Number or General and type the value meant."
            if percent
            else ""
        )
        raise RoundFileError(
            f"Cannot read {path.name} (sheet {title!r}); nothing was recorded:\n"
            + "\n".join(f"  {p}." for p in problems)
            + why
        )
    return title, rows


def _sheet_title(titles: list[str], preferred: str) -> str:
    wanted = [t for t in titles if t.casefold() == preferred.casefold()]
    return wanted[0] if wanted else titles[0]


def _is_percent(number_format: object, value: object) -> bool:
    return (
        isinstance(number_format, str)
        and "%" in number_format
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    )


def _uncalculated_formulas(path: Path, title: str, rows: list[tuple[int, list[Cell]]]) -> list[str]:
    """Cells holding a formula but no saved value: a workbook written by a program that does not
    calculate (openpyxl, pandas) has none, and such a cell would otherwise read as blank."""
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    if not any(v is None for _, cells in rows for v in cells):
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = load_workbook(path, read_only=True, data_only=False)
    try:
        problems = []
        formulas = wb[title].iter_rows(values_only=True)
        for (number, cells), raw in zip(rows, formulas, strict=False):
            for column, (value, formula) in enumerate(zip(cells, raw, strict=False), start=1):
                if value is None and isinstance(formula, str) and formula.startswith("="):
                    problems.append(
                        f"cell {get_column_letter(column)}{number} (row {number}) holds the "
                        f"formula {formula!r} but no saved value (the program that wrote the file "
                        "did not calculate it): open the file in Excel or LibreOffice and save "
                        "it, or type the value"
                    )
        return problems
    finally:
        wb.close()
