"""Linear parameter constraints: the value object, checks at create and at ask, flagged facts."""

from __future__ import annotations

import math

import pytest

import bo_loop as bl
from bo_loop.constraints import LinearConstraint, parse_constraint, violations

MIXTURE = [
    bl.Real("water", 0, 1), bl.Real("ethanol", 0, 1), bl.Real("glycerol", 0, 1),
    bl.Real("temperature", 20, 90), bl.Integer("stir", 1, 5),
]  # fmt: skip
SUM = bl.LinearConstraint({"water": 1, "ethanol": 1, "glycerol": 1}, "==", 1.0)
LIMIT = bl.LinearConstraint({"ethanol": 1, "temperature": 0.01}, "<=", 1.2)


def create(url: str, constraints, parameters=MIXTURE) -> bl.Campaign:
    return bl.Campaign.create(
        "blend", parameters, bl.Objective("yield"), storage=url, seed=0,
        parameter_constraints=constraints,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (({}, "==", 1.0), r"non-empty dict .* but got coefficients=\{\}"),
        (({"a": math.nan}, "<=", 1.0), r"finite number, but got 'a': nan"),
        (({"a": "1"}, "<=", 1.0), r"finite number, but got 'a': '1'"),
        (({"a": 0}, "<=", 1.0), r"non-zero coefficient, but got \{'a': 0\}"),
        (({"a": 1}, "<", 1.0), r"one of \['==', '<=', '>='\], but got '<'"),
        (({"a": 1}, "<=", math.inf), r"finite number, but got rhs=inf"),
    ],
)
def test_a_malformed_constraint_is_refused_naming_the_rule_and_value(args, message):
    with pytest.raises(bl.SpaceError, match=message):
        bl.LinearConstraint(*args)


@pytest.mark.parametrize(
    ("constraint", "parameters", "message"),
    [
        (LinearConstraint({"oil": 1}, "<=", 1), MIXTURE, r"names 'oil'"),
        (
            LinearConstraint({"c": 1, "x": 1}, "<=", 1),
            [bl.Real("x", 0, 1), bl.Categorical("c", ["A", "B"])],
            r"real or integer parameters, but 'c \+ x <= 1' names the categorical 'c'",
        ),
        (
            LinearConstraint({"x": 1}, "<=", 5),
            [bl.Real("x", 1, 10, log=True)],
            r"cannot name a log-scale parameter .* names 'x'",
        ),
        (
            LinearConstraint({"water": 1, "ethanol": 1}, ">=", 2.5),
            MIXTURE,
            r"must leave some point .* water \+ ethanol >= 2.5",
        ),
        ("water + ethanol ==", MIXTURE, r"right side must be a number"),
        (42, MIXTURE, r"must hold bl.LinearConstraint objects, but got 42"),
    ],
)
def test_create_refuses_bad_constraints_and_stores_nothing(
    sqlite_url, constraint, parameters, message
):
    with pytest.raises(bl.SpaceError, match=message):
        create(sqlite_url, [constraint], parameters)
    with pytest.raises(bl.StorageError, match="does not exist"):  # not even the file was made
        bl.Campaign.list(sqlite_url)


def test_constraints_that_are_each_feasible_but_not_together_are_refused(sqlite_url):
    at_least = bl.LinearConstraint({"water": 1}, ">=", 0.8)
    with pytest.raises(bl.SpaceError, match=r"no point within the bounds satisfies all of"):
        create(sqlite_url, [SUM, at_least, bl.LinearConstraint({"glycerol": 1}, ">=", 0.5)])


WHOLE = [bl.Integer("a", 0, 10), bl.Integer("b", 0, 10), bl.Real("x", 0, 1)]


@pytest.mark.parametrize(
    ("constraints", "message"),
    [
        (["2*a + 2*b == 5"], r"'2\*a \+ 2\*b == 5' must be satisfiable with the integer parameters "
         r"\['a', 'b'\] whole numbers .* always a multiple of 2, and 5 is not"),
        (["a - b == 0.5"], r"'a - b == 0.5' .* always a whole number, and 0.5 is not"),
        (["a + b <= 1.5", "a + b >= 1.2"], r"every integer parameter a whole number, but none "
         r"within the bounds satisfies all of: a \+ b <= 1.5; a \+ b >= 1.2"),
    ],
)  # fmt: skip
def test_integer_constraints_without_a_whole_number_point_are_refused_at_create(
    sqlite_url, constraints, message
):
    # The linear relaxation has points (a = 1.25, b = 0): only whole numbers leave none, which
    # used to pass create and fail at the first model-based ask.
    with pytest.raises(bl.SpaceError, match=message):
        create(sqlite_url, constraints, WHOLE)
    with pytest.raises(bl.StorageError, match="does not exist"):
        bl.Campaign.list(sqlite_url)


def test_integer_constraints_with_a_real_to_absorb_the_fraction_are_accepted(sqlite_url):
    campaign = create(sqlite_url, ["2*a + 2*b + x == 5", "a + b <= 3.5"], WHOLE)
    for t in campaign.ask(3):
        assert math.isclose(2 * t.params["a"] + 2 * t.params["b"] + t.params["x"], 5, abs_tol=1e-9)
    # With x fixed the integers alone must make up 5 - 0.2: refused at ask, nothing stored.
    with pytest.raises(bl.SpaceError, match=r"fixed=\{'x': 0.2\} no point"):
        campaign.ask(1, fixed={"x": 0.2})
    assert len(campaign.trials()) == 3


def test_string_form_parses_and_prints_back():
    c = parse_constraint("water + ethanol - 0.5*glycerol <= 1.5")
    assert c == LinearConstraint({"water": 1, "ethanol": 1, "glycerol": -0.5}, "<=", 1.5)
    assert parse_constraint(str(c)) == c
    assert str(SUM) == "water + ethanol + glycerol == 1"
    with pytest.raises(bl.SpaceError, match=r"must read like"):
        parse_constraint("water + + ethanol <= 1")


def test_constraints_are_stored_and_read_back(sqlite_url):
    create(sqlite_url, [SUM, "ethanol + 0.01*temperature <= 1.2"])
    loaded = bl.Campaign.load("blend", storage=sqlite_url)
    assert loaded.parameter_constraints == (SUM, LIMIT)
    assert loaded.config.to_json()["parameter_constraints"][0] == {
        "coefficients": {"water": 1.0, "ethanol": 1.0, "glycerol": 1.0}, "op": "==", "rhs": 1.0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("fixed", "message"),
    [
        ({"pressure": 2.0}, r"fixed may only name parameters .* but got \['pressure'\]"),
        ({"temperature": 95.0}, r"'temperature' must lie in \[20.0, 90.0\], but got 95.0"),
        ({"water": 0.7, "ethanol": 0.6}, r"fixed values must leave some point .* water"),
        ({"ethanol": 1.0, "temperature": 90.0}, r"fixed=\{'ethanol': 1.0, 'temperature': 90.0\}"),
        (
            {"water": 0.5, "ethanol": 0.2, "glycerol": 0.3, "temperature": 50.0, "stir": 2},
            r"fixed must leave at least one parameter free .* add_observation",
        ),
    ],
)
def test_ask_refuses_bad_fixed_values_and_stores_nothing(sqlite_url, fixed, message):
    campaign = create(sqlite_url, [SUM, LIMIT])
    with pytest.raises(bl.SpaceError, match=message):
        campaign.ask(2, fixed=fixed)
    assert campaign.trials() == []


def test_fixed_values_hold_in_every_proposal_and_are_kept_in_provenance(sqlite_url):
    campaign = create(sqlite_url, [SUM, LIMIT])
    trials = campaign.ask(3, fixed={"temperature": 80.0, "stir": 2})
    for t in trials:
        assert t.params["temperature"] == 80.0 and t.params["stir"] == 2
        assert t.provenance["fixed"] == {"temperature": 80.0, "stir": 2}
        assert violations(t.params, campaign.parameter_constraints) == []


def test_measured_points_outside_the_constraints_are_stored_and_flagged(sqlite_url):
    campaign = create(sqlite_url, [SUM, LIMIT])
    outside = {"water": 0.5, "ethanol": 0.5, "glycerol": 0.5, "temperature": 90.0, "stir": 1}
    inside = {"water": 0.5, "ethanol": 0.25, "glycerol": 0.25, "temperature": 50.0, "stir": 1}
    flagged = campaign.add_observation(outside, 1.0)
    assert flagged.provenance["violates"] == [str(SUM), str(LIMIT)]
    campaign.add_observations([{**inside, "yield": 2.0}, {**outside, "yield": 3.0}])
    frame = campaign.to_dataframe()
    assert list(frame["violates"]) == [f"{SUM}; {LIMIT}", "", f"{SUM}; {LIMIT}"]
    for t in campaign.ask(3):
        assert violations(t.params, campaign.parameter_constraints) == []


def test_a_campaign_without_constraints_has_no_violates_column(sqlite_url):
    campaign = create(sqlite_url, [])
    assert "violates" not in campaign.to_dataframe().columns


def cheap(url: str) -> bl.Campaign:
    """The mixture without the integer, optimised with little effort (the tests check where
    points lie, not how good they are)."""
    return bl.Campaign.create(
        "blend", MIXTURE[:4], bl.Objective("yield"), storage=url, seed=0,
        parameter_constraints=[SUM, LIMIT],
        acquisition_settings={"num_restarts": 2, "raw_samples": 32},
    )  # fmt: skip


def test_recommend_respects_the_constraints_in_both_modes(sqlite_url):
    # The outcome rises with ethanol and temperature, so the model's unconstrained optimum
    # (ethanol 1, temperature 90) breaks both constraints, and the best measured point is the
    # operator's own setting outside them.
    campaign = cheap(sqlite_url)
    for t in campaign.ask(8):
        campaign.tell(t.number, 10 * t.params["ethanol"] + 0.1 * t.params["temperature"])
    outside = {"water": 0.0, "ethanol": 1.0, "glycerol": 0.0, "temperature": 90.0}
    assert campaign.add_observation(outside, 19.0).provenance["violates"] == [str(LIMIT)]
    for within in ("space", "data"):
        rec = campaign.recommend(within=within)
        assert violations(rec.params, campaign.parameter_constraints) == [], within
        assert rec.params != outside
    # The constrained optimum lies on the inequality's boundary.
    space_rec = campaign.recommend(within="space").params
    assert space_rec["ethanol"] + 0.01 * space_rec["temperature"] > 1.1


def test_recommend_within_data_says_why_when_every_measured_point_breaks_a_constraint(sqlite_url):
    campaign = cheap(sqlite_url)
    for i in range(3):
        point = {"water": 0.5, "ethanol": 0.5, "glycerol": 0.1 * i + 0.1, "temperature": 50.0}
        campaign.add_observation(point, float(i))
    with pytest.raises(bl.BoLoopError, match=r"every measured setting breaks one of: water"):
        campaign.recommend()
    assert violations(campaign.recommend(within="space").params, [SUM, LIMIT]) == []


@pytest.mark.parametrize("several", [True, False], ids=["two objectives", "outcome constraint"])
def test_recommend_with_several_outcomes_respects_the_parameter_constraints(sqlite_url, several):
    # Both outcomes rise with ethanol and temperature, so without the constraints the model's
    # best settings (and the operator's own measured point) break LIMIT.
    outcomes: dict = (
        {"objectives": [bl.Objective("yield"), bl.Objective("purity")]}
        if several
        else {"objective": bl.Objective("yield"),
              "outcome_constraints": [bl.OutcomeConstraint("purity", ">=", 0.0)]}
    )  # fmt: skip
    campaign = bl.Campaign.create(
        "blend", MIXTURE[:4], storage=sqlite_url, seed=0, parameter_constraints=[SUM, LIMIT],
        acquisition_settings={"num_restarts": 2, "raw_samples": 32}, **outcomes,
    )  # fmt: skip

    def measure(p):
        return {"yield": 10 * p["ethanol"] + 0.1 * p["temperature"],
                "purity": 5 * p["ethanol"] + 0.2 * p["temperature"] - p["water"]}  # fmt: skip

    for t in campaign.ask(8):
        campaign.tell(t.number, measure(t.params))
    outside = {"water": 0.0, "ethanol": 1.0, "glycerol": 0.0, "temperature": 90.0}
    campaign.add_observation(outside, measure(outside))
    names = ["water", "ethanol", "glycerol", "temperature"]
    for within in ("space", "data"):
        rec = campaign.recommend(within=within)
        rows = rec[names].to_dict("records") if several else [rec.params]
        assert rows, within
        for params in rows:
            assert violations(params, [SUM, LIMIT]) == [], (within, params)
            assert params != outside
    # Every measured setting breaking a constraint: within="data" says so, "space" still works.
    fresh = bl.Campaign.create(
        "blend2", MIXTURE[:4], storage=sqlite_url, seed=0, parameter_constraints=[SUM, LIMIT],
        acquisition_settings={"num_restarts": 2, "raw_samples": 32}, **outcomes,
    )  # fmt: skip
    for i in range(3):
        point = {"water": 0.5, "ethanol": 0.5, "glycerol": 0.1 * i + 0.1, "temperature": 50.0}
        fresh.add_observation(point, measure(point))
    with pytest.raises(bl.BoLoopError, match=r"every measured setting breaks one of: water"):
        fresh.recommend()
