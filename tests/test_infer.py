from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bo_loop as bl
from bo_loop.infer import infer_parameter, infer_space


def test_kinds_and_bounds_come_from_the_columns():
    data = pd.DataFrame(
        {
            "pressure": [2, 5, 9],
            "temperature": [10.0, 29.0, 15.0],  # whole numbers stored as floats (a CSV with a gap)
            "speed": [0.1, 2.5, 1.0],
            "catalyst": ["B", "A", "B"],
            "stirred": [True, False, True],
            "yield": [1.0, 2.0, 3.0],
        }
    )
    space = infer_space(data, outcome="yield")
    assert space == bl.Space(
        [
            bl.Integer("pressure", 2, 9),
            bl.Integer("temperature", 10, 29),
            bl.Real("speed", 0.1, 2.5),
            bl.Categorical("catalyst", ["A", "B"]),
            bl.Categorical("stirred", [False, True]),
        ]
    )
    for p in space:
        if isinstance(p, bl.Integer):
            assert type(p.low) is int and type(p.high) is int


def test_missing_values_do_not_shape_the_bounds():
    column = pd.Series([1.5, np.nan, 4.0], name="flow")
    assert infer_parameter(column) == bl.Real("flow", 1.5, 4.0)
    assert infer_parameter(column, log=True) == bl.Real("flow", 1.5, 4.0, log=True)


def test_parameters_log_and_overrides():
    data = pd.DataFrame({"a": [1.0, 10.0], "b": [0.5, 0.7], "note": ["x", "y"], "y": [0.0, 1.0]})
    space = infer_space(
        data, "y", parameters=["b", "a"], log=["a"], overrides={"b": bl.Real("b", 0.0, 1.0)}
    )
    assert space.names == ["b", "a"]
    assert space["a"] == bl.Integer("a", 1, 10, log=True)
    assert space["b"] == bl.Real("b", 0.0, 1.0)


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        (pd.DataFrame({"x": [1.0, 2.0]}), {"outcome": "y"}, "'y' is not among"),
        (pd.DataFrame({"x": [3.0, 3.0], "y": [1.0, 2.0]}), {"outcome": "y"}, "single value 3"),
        (pd.DataFrame({"x": [np.nan, np.nan], "y": [1.0, 2.0]}), {"outcome": "y"}, "has no values"),
        (pd.DataFrame({"x": ["a", "a"], "y": [1.0, 2.0]}), {"outcome": "y"}, "only holds 'a'"),
        (
            pd.DataFrame({"id": [f"r{i}" for i in range(60)], "y": np.arange(60.0)}),
            {"outcome": "y"},
            "is it an identifier",
        ),
        (
            pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0]}),
            {"outcome": "y", "parameters": ["z"]},
            r"\['z'\]",
        ),
        (
            pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0]}),
            {"outcome": "y", "parameters": ["x", "y"]},
            "cannot also",
        ),
        (
            pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0]}),
            {"outcome": "y", "overrides": {"x": bl.Real("z", 0, 1)}},
            "must be a parameter named 'x'",
        ),
        (
            pd.DataFrame({"x": [-1.0, 2.0], "y": [1.0, 2.0]}),
            {"outcome": "y", "log": ["x"]},
            "low > 0",
        ),
    ],
)
def test_unusable_columns_are_named(data, kwargs, message):
    with pytest.raises(bl.SpaceError, match=message):
        infer_space(data, **kwargs)


def test_the_same_data_give_the_same_space():
    data = pd.DataFrame({"c": ["z", "a", "m", "a"], "y": [1.0, 2.0, 3.0, 4.0]})
    assert infer_space(data, "y") == infer_space(data.iloc[::-1], "y")
