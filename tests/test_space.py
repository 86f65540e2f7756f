from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import bo_loop as bl
from bo_loop.space import Space, params_key


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: bl.Real("t", 5, 1), "`low < high` must hold for 't', but got low=5, high=1"),
        (lambda: bl.Real("t", 1, 1), "`low < high` must hold"),
        (
            lambda: bl.Real("t", 0, 10, log=True),
            "log-scale parameter needs `low > 0`, but 't' has low=0",
        ),
        (lambda: bl.Real("t", -1, 10, log=True), "has low=-1"),
        (lambda: bl.Real("t", 0, math.inf), "must be finite, but got low=0, high=inf"),
        (lambda: bl.Real("t", math.nan, 1), "must be finite"),
        (lambda: bl.Real("t", "0", 1), "must be numbers"),
        (lambda: bl.Real("", 0, 1), "non-empty string, but got name=''"),
        (lambda: bl.Real("   ", 0, 1), "non-empty string"),
        (lambda: bl.Real(3, 0, 1), "non-empty string, but got name=3"),
        (lambda: bl.Real("number", 0, 1), "must not be one of"),
        (lambda: bl.Integer("p", 1.5, 10), "must be integers, but got low=1.5"),
        (lambda: bl.Integer("p", 10, 1), "`low < high` must hold for 'p', but got low=10, high=1"),
        (lambda: bl.Integer("p", 0, 10, log=True), "needs `low > 0`"),
        (lambda: bl.Categorical("c", ["A"]), "at least 2 choices, but 'c' has choices=['A']"),
        (lambda: bl.Categorical("c", []), "at least 2 choices"),
        (lambda: bl.Categorical("c", ["A", "B", "A"]), "must be unique, but got duplicates 'A'"),
        (lambda: bl.Categorical("c", [1, 1.0]), "must be unique"),
        (lambda: bl.Categorical("c", "AB"), "must be a list"),
        (lambda: bl.Categorical("c", ["A", None]), "strings, numbers or booleans, but got None"),
        (
            lambda: Space([bl.Real("x", 0, 1), bl.Integer("x", 0, 3)]),
            "unique, but got duplicates ['x']",
        ),
        (lambda: Space([]), "at least one parameter"),
        (lambda: Space(["x"]), "must be bl.Real, bl.Integer or bl.Categorical"),
    ],
)
def test_bad_definitions_name_the_rule_and_value(make, message):
    with pytest.raises(bl.SpaceError) as info:
        make()
    assert message in str(info.value)


def test_true_and_one_are_different_choices():
    c = bl.Categorical("c", [True, 1, "1"])
    assert c.validate(True) is True
    assert c.validate(1) == 1 and c.validate(1) is not True
    assert c.validate("1") == "1"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (11.0, "must lie in [0.0, 10.0], but got 11.0"),
        (-0.1, "must lie in"),
        (math.nan, "must be finite, but got nan"),
        (math.inf, "must be finite"),
        ("3", "must be a number, but got '3'"),
        (None, "must be a number, but got None"),
        (True, "must be a number, but got True"),
    ],
)
def test_real_value_validation(value, message):
    with pytest.raises(bl.SpaceError, match=message.replace("[", r"\[").replace("]", r"\]")):
        bl.Real("x", 0, 10).validate(value)


def test_integer_value_validation():
    p = bl.Integer("p", 1, 10)
    assert p.validate(3.0) == 3 and isinstance(p.validate(3.0), int)
    with pytest.raises(bl.SpaceError, match="must be an integer, but got 2.5"):
        p.validate(2.5)
    with pytest.raises(bl.SpaceError, match=r"must lie in \[1, 10\], but got 11"):
        p.validate(11)


def test_space_validate_missing_and_unknown():
    space = Space([bl.Real("x", 0, 1), bl.Integer("n", 1, 3)])
    with pytest.raises(bl.SpaceError, match=r"Missing parameter\(s\) \['n'\]"):
        space.validate({"x": 0.5})
    with pytest.raises(bl.SpaceError, match=r"Unknown parameter\(s\) \['z'\]"):
        space.validate({"x": 0.5, "n": 1, "z": 3})


MIXED = Space(
    [
        bl.Real("temperature", 20.0, 120.0),
        bl.Integer("pressure", 1, 10),
        bl.Categorical("catalyst", ["A", "B", "C"]),
        bl.Real("flow", 0.1, 10.0, log=True),
        bl.Integer("batch", 1, 1000, log=True),
        bl.Categorical("mode", [1, 2.5, True]),
    ]
)


def test_decode_returns_ints_and_exact_choice_objects():
    X = torch.rand(64, MIXED.dim, generator=torch.Generator().manual_seed(0)) * MIXED.bounds()[1]
    for row in MIXED.decode(X):
        assert type(row["pressure"]) is int and 1 <= row["pressure"] <= 10
        assert type(row["batch"]) is int and 1 <= row["batch"] <= 1000
        assert row["catalyst"] in ("A", "B", "C")
        assert any(row["mode"] is c for c in (1, 2.5, True))
        assert 0.1 <= row["flow"] <= 10.0
        assert MIXED.validate(row) == row


def test_log_encoding_is_geometric():
    p = bl.Real("flow", 0.1, 10.0, log=True)
    assert p.to_unit(1.0) == pytest.approx(0.5)
    assert p.from_unit(0.5) == pytest.approx(1.0)


def test_from_unit_cube_visits_every_integer_and_choice():
    space = Space([bl.Integer("p", 2, 9), bl.Categorical("c", ["A", "B", "C"])])
    rows = space.decode(
        space.from_unit_cube(torch.rand(400, 2, generator=torch.Generator().manual_seed(1)))
    )
    assert {r["p"] for r in rows} == set(range(2, 10))
    assert {r["c"] for r in rows} == {"A", "B", "C"}


def test_config_round_trip():
    assert Space.from_config(MIXED.to_config()) == MIXED


@settings(max_examples=200, deadline=None)
@given(
    t=st.floats(20.0, 120.0),
    p=st.integers(1, 10),
    c=st.sampled_from(["A", "B", "C"]),
    f=st.floats(0.1, 10.0),
    b=st.integers(1, 1000),
    m=st.sampled_from([1, 2.5, True]),
)
def test_encode_decode_round_trip(t, p, c, f, b, m):
    row = MIXED.validate(
        {"temperature": t, "pressure": p, "catalyst": c, "flow": f, "batch": b, "mode": m}
    )
    back = MIXED.decode(MIXED.encode([row]))[0]
    assert back["pressure"] == p and back["batch"] == b and back["catalyst"] == c
    assert back["mode"] is m or (back["mode"] == m and type(back["mode"]) is type(m))
    assert back["temperature"] == pytest.approx(t, rel=1e-12, abs=1e-12)
    assert back["flow"] == pytest.approx(f, rel=1e-12)
    assert params_key(back, MIXED)[1:3] == params_key(row, MIXED)[1:3]
