"""A search space read off a table of measurements, for users who start from data.

Each column becomes one parameter:

- text, category and boolean columns: ``Categorical`` over the values present;
- integer columns, and number columns whose values are all whole numbers (a CSV turns an
  integer column with one empty cell into floats): ``Integer`` from the column's min to max;
- other number columns: ``Real`` from min to max (on a log scale when named in ``log``).

The bounds are the data's range: the campaign then recommends and proposes only within what was
measured. Widen a parameter by passing your own definition in ``overrides``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from bo_loop.exceptions import SpaceError
from bo_loop.space import Categorical, ChoiceValue, Integer, Parameter, Real, Space

#: More distinct values than this in a text column suggest an identifier or free text, not a setting.
MAX_CHOICES = 50


def infer_space(
    data: pd.DataFrame,
    outcome: str,
    *,
    parameters: Sequence[str] | None = None,
    overrides: Mapping[str, Parameter] | None = None,
    log: Sequence[str] = (),
    max_choices: int = MAX_CHOICES,
) -> Space:
    """Infer a search space from a table of measured rows.

    Args:
        data: One row per measurement: parameter columns and the outcome column.
        outcome: The outcome's column; it is not a parameter.
        parameters: The columns to make parameters, in this order; default every column but
            ``outcome``.
        overrides: Parameter definitions to use instead of inferring, by column name (for
            example a wider ``bl.Real("speed", 0, 5)``).
        log: Number columns to search on a log scale (their values must be > 0).
        max_choices: The most distinct values a text column may have.

    Returns:
        The space, parameters in column order.

    Raises:
        SpaceError: a column is missing, empty, constant or not usable as a parameter; the
            message names the column and what to do. (The outcome's values are checked row by
            row when the rows are stored.)
    """
    if not isinstance(data, pd.DataFrame):
        raise SpaceError(f"infer_space needs a pandas DataFrame, but got {type(data).__name__}.")
    if outcome not in data.columns:
        raise SpaceError(
            f"The outcome column must be in the data, but {outcome!r} is not among {list(data.columns)!r}."
        )
    names = [c for c in data.columns if c != outcome] if parameters is None else list(parameters)
    absent = [c for c in [*names, *log, *(overrides or {})] if c not in data.columns]
    if absent:
        raise SpaceError(f"Columns {absent!r} are not in the data; it has {list(data.columns)!r}.")
    if outcome in names:
        raise SpaceError(f"The outcome {outcome!r} cannot also be a parameter.")
    overrides = dict(overrides or {})
    for name, p in overrides.items():
        if getattr(p, "name", None) != name:
            raise SpaceError(
                f"overrides[{name!r}] must be a parameter named {name!r}, but got {p!r}."
            )
    params = [
        overrides[n]
        if n in overrides
        else infer_parameter(data[n], log=n in log, max_choices=max_choices)
        for n in names
    ]
    return Space(params)


def infer_parameter(
    column: pd.Series, *, log: bool = False, max_choices: int = MAX_CHOICES
) -> Parameter:
    """Infer one parameter from a column (its name is the column's name).

    Raises:
        SpaceError: the column is empty, constant or has too many distinct text values.
    """
    name = str(column.name)
    values = column.dropna()
    if values.empty:
        raise SpaceError(
            f"Column {name!r} has no values; drop it or give its parameter in overrides."
        )
    if ptypes.is_bool_dtype(values) or not ptypes.is_numeric_dtype(values):
        return _categorical(name, values, max_choices)
    low, high = float(values.min()), float(values.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        raise SpaceError(
            f"Column {name!r} must hold finite numbers, but its range is [{low}, {high}]."
        )
    if low == high:
        raise SpaceError(
            f"A parameter needs a range, but column {name!r} holds the single value {low:g}; "
            "drop it (parameters=[...]) or give its range in overrides."
        )
    whole = ptypes.is_integer_dtype(values) or bool((values == values.round()).all())
    if whole:
        return Integer(name, int(low), int(high), log=log)
    return Real(name, low, high, log=log)


def _categorical(name: str, values: pd.Series, max_choices: int) -> Categorical:
    choices: list[Any] = list(pd.unique(values))
    if len(choices) > max_choices:
        raise SpaceError(
            f"A categorical column may have at most {max_choices} distinct values, but {name!r} has "
            f"{len(choices)}; is it an identifier? Drop it (parameters=[...]) or raise max_choices."
        )
    plain: list[ChoiceValue] = [c.item() if hasattr(c, "item") else c for c in choices]
    # Sorted so that the same data always give the same space (and the same proposals).
    plain.sort(key=lambda c: (type(c).__name__, str(c)))
    if len(plain) < 2:
        raise SpaceError(
            f"A categorical parameter needs at least 2 choices, but column {name!r} only holds "
            f"{plain[0]!r}; drop it or give its choices in overrides."
        )
    return Categorical(name, tuple(plain))
