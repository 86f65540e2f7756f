"""Validating measured rows (DataFrame, CSV, dicts) before they are stored."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from bo_loop.exceptions import BoLoopError, ImportRowsError, InvalidArgumentError
from bo_loop.objective import Objective
from bo_loop.outcomes import Outcomes
from bo_loop.rounds.files import RoundFileError, parse_number, read_measurements
from bo_loop.space import Categorical, Parameter, Space
from bo_loop.trial import Trial


@dataclass(frozen=True)
class ImportReport:
    """What ``add_observations`` stored and what it refused.

    Attributes:
        added: The trials stored, in order.
        rejected: ``(row_label, reason)`` for each refused row (only with ``on_error="skip"``).
    """

    added: list[Trial] = field(default_factory=list)
    rejected: list[tuple[Any, str]] = field(default_factory=list)


def _as_frame(
    data: pd.DataFrame | Sequence[Mapping[str, Any]] | str | os.PathLike[str],
) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, str | os.PathLike):
        # The same reader as `bo-loop add` (CSV with ',' or ';' and decimal commas, or XLSX; text
        # stays text, so a choice "NA" is not read as missing). Its rows are labelled as a
        # spreadsheet numbers them (the header is row 1), so "row 7" is row 7 in the open file.
        try:
            return read_measurements(data)
        except RoundFileError as e:
            raise InvalidArgumentError(f"Cannot read rows from {os.fspath(data)!r}: {e}") from None
    if isinstance(data, Sequence) and all(isinstance(r, Mapping) for r in data):
        return pd.DataFrame(list(data))
    raise InvalidArgumentError(
        f"Rows must be a DataFrame, a CSV path or a list of dicts, but got {type(data).__name__}."
    )


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars; NaN (an empty cell) -> None."""
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _coerce_number(parameter: Parameter | None, value: Any) -> Any:
    """A CSV column with one bad cell is read as text: turn numeric text back into a number."""
    if isinstance(value, str) and not isinstance(parameter, Categorical):
        number = parse_number(value)
        if number is None:
            return value
        # "11" stays 11 in messages ("must lie in [2, 9], but got 11"), as pandas read it.
        return int(value) if value.strip().lstrip("+-").isdigit() else number
    return value


def _row_problems(
    row: pd.Series, space: Space, outcomes: Outcomes
) -> tuple[dict[str, Any], dict[str, float]] | str:
    """The row's ``(params, {outcome: value})``, or the rules it broke joined by "; ".

    With several outcomes a blank cell leaves that outcome untold (the trial waits for it), but
    a row needs at least one outcome.
    """
    problems = []
    params: dict[str, Any] = {}
    for p in space.parameters:
        if p.name not in row.index:
            continue
        raw = _plain(row[p.name])
        if raw is None:
            problems.append(f"{p.name!r} is missing")
            continue
        try:
            params[p.name] = p.validate(_coerce_number(p, raw))
        except BoLoopError as e:
            problems.append(str(e))
    values: dict[str, float] = {}
    blank = []
    for name in outcomes.names:
        if name not in row.index:
            continue
        raw = _coerce_number(None, _plain(row[name]))
        if raw is None:
            blank.append(name)
            continue
        try:
            values[name] = outcomes.parse_one(name, raw)
        except BoLoopError as e:
            problems.append(f"the outcome {name!r}: {e}")
    if outcomes.is_single and blank:
        problems.append(f"the outcome {blank[0]!r} is missing")
    elif blank and not values and len(blank) == len(outcomes.names):
        problems.append(f"every outcome {blank!r} is missing (a row needs at least one)")
    if problems:
        # Each rule is one sentence; joined, they read as one: "a; b; c."
        return "; ".join(p.rstrip(".") for p in problems) + "."
    if not values or len(params) != len(space.parameters):
        return "a parameter or outcome column is missing"
    return params, values


def parse_rows(
    data: pd.DataFrame | Sequence[Mapping[str, Any]] | str | os.PathLike[str],
    space: Space,
    outcomes: Outcomes | Objective,
    *,
    on_error: Literal["raise", "skip"] = "raise",
) -> tuple[list[tuple[dict[str, Any], dict[str, float]]], list[tuple[Any, str]]]:
    """Validate every row; return the valid ``(params, {outcome: value})`` pairs and the rejects.

    Rows are labelled by the DataFrame's index; a CSV's rows by their line in the file, as a
    spreadsheet numbers them (the header is row 1, the first data row is row 2).

    Checked for every row: each parameter present, a number (an integer for ``Integer``) within
    its bounds, or one of its choices; the outcome present, a finite number within its known
    bounds (with several outcomes a blank cell is allowed, but not a row of blanks). A table with unknown
    or missing columns is refused whole, with the rows' own problems listed too.

    Raises:
        ImportRowsError: with ``on_error="raise"``, if any row is bad (listing every bad row).
    """
    if on_error not in ("raise", "skip"):
        raise InvalidArgumentError(f"on_error must be 'raise' or 'skip', but got {on_error!r}.")
    if isinstance(outcomes, Objective):
        outcomes = Outcomes((outcomes,))
    frame = _as_frame(data)
    expected = [*space.names, *outcomes.names]
    unknown = [c for c in frame.columns if c not in expected]
    missing = [c for c in expected if c not in frame.columns]
    column_problems: list[tuple[Any, str]] = []
    if unknown:
        column_problems.append(
            ("(columns)", f"unknown column(s) {unknown!r}; expected exactly {expected!r}")
        )
    if missing:
        column_problems.append(
            ("(columns)", f"missing column(s) {missing!r}; every one of {expected!r} is needed")
        )
    valid: list[tuple[dict[str, Any], dict[str, float]]] = []
    rejected: list[tuple[Any, str]] = []
    for label, row in frame.iterrows():
        problems = _row_problems(row, space, outcomes)
        if isinstance(problems, str):
            rejected.append((label, problems))
        else:
            valid.append(problems)
    if column_problems:
        # A column problem concerns every row: refuse the whole table, whatever on_error says,
        # but still report the rows' own problems so that one round of fixes is enough.
        raise ImportRowsError(column_problems + rejected)
    if rejected and on_error == "raise":
        raise ImportRowsError(rejected)
    return valid, rejected
