"""The cells of a filled-in round file, one at a time: numbers as typed, and parameter settings
compared with the values the trial was asked at (spreadsheets round what they write back)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bo_loop.exceptions import BoLoopError
from bo_loop.rounds.files import Cell, is_blank, parse_number
from bo_loop.space import Categorical, Integer, Real

#: A float parameter cell matches the stored value within this relative difference...
REL_TOLERANCE = 1e-9
#: ...or within this fraction of the parameter's range ``high - low`` (in the parameter's own
#: units, also when ``log=True``). Spreadsheets write back fewer digits than bo_loop wrote
#: (Excel's "General" format keeps 6 to 11 significant digits, and a technician may format the
#: column with 2 decimals): 1/1000 of the range (0.1 for 20..120) lets such rounding through
#: while a real edit of a setting is refused.
SPAN_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Problem:
    """One rule a row broke: a few words for the report table, and the full sentence."""

    short: str
    detail: str


def cell_text(cell: Cell) -> str:
    if is_blank(cell):
        return ""
    if isinstance(cell, float) and cell.is_integer() and abs(cell) < 1e15:
        return repr(cell)
    return str(cell)


def cell_number(cell: Cell) -> float | None:
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
        readings.append(cell_number(cell))
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


def param_problem(p: Real | Integer | Categorical, cell: Cell, stored: Any) -> Problem | None:
    """Why a parameter cell does not show the stored value, or None when it does."""
    if isinstance(p, Categorical):
        same = not is_blank(cell) and _same_choice(p, cell, stored)
    else:
        v = cell_number(cell)
        if v is None or not math.isfinite(v):
            same = False
        elif isinstance(p, Integer):
            same = v == float(stored)
        else:
            same = _same_real(p, v, float(stored))
    if same:
        return None
    shown = "blank" if is_blank(cell) else repr(cell_text(cell))
    within = (
        f", more than {_tolerance(p):.3g} (1/1000 of its range {p.low!r}..{p.high!r}) away; "
        "a spreadsheet's rounding within that is accepted"
        if isinstance(p, Real) and cell_number(cell) is not None
        else ""
    )
    return Problem(
        f"{p.name} changed",
        f"{p.name!r} was edited: the file says {shown} but the trial was asked at {stored!r}"
        f"{within}. "
        "A trial's settings cannot change: put the asked value back, or, if the rig really ran "
        "at other settings, write 'abandoned' as the result and record the run with `bo-loop add`",
    )
