"""The Pyomo block: variables as the space says, expressions equal to ``predict``, solvable by SCIP."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from export_cases import fitted_model, need, random_points

import bo_loop as bl
from bo_loop.exceptions import ExportError
from bo_loop.models.export import read_params, warm_start
from bo_loop.models.recommend import predict_rows


@pytest.mark.parametrize("surrogate", ["gp", "dngo"])
def test_block_mean_and_sd_equal_predict(surrogate, sqlite_url):
    need("pyomo")
    import pyomo.environ as pyo

    fitted = fitted_model(sqlite_url, surrogate)
    block = fitted.to_pyomo(sd=True)
    points = random_points(25, 2)
    want = predict_rows(fitted, points)
    got = []
    for row in points.to_dict("records"):
        warm_start(block, row)
        got.append((pyo.value(block.mean), pyo.value(block.sd)))
        # The auxiliary variables satisfy their definitions at the point.
        assert all(
            abs(pyo.value(c.body) - pyo.value(c.upper or 0)) < 1e-9
            for c in block.component_data_objects(pyo.Constraint)
            if c.equality
        )
    got_mean, got_sd = np.array(got).T
    assert np.abs(got_mean - want["mean"].to_numpy()).max() < 1e-6
    assert np.abs(got_sd - want["sd"].to_numpy()).max() < 1e-6


def test_block_variables_follow_the_space(sqlite_url):
    need("pyomo")
    import pyomo.environ as pyo

    block = fitted_model(sqlite_url, "dngo").to_pyomo()
    assert block.x["t"].bounds == (20.0, 120.0) and block.x["t"].domain is pyo.Reals
    assert block.x["flow"].bounds == (0.1, 10.0)
    assert block.x["p"].bounds == (1, 10) and block.x["p"].domain is pyo.Integers
    assert [k for k in block.choice] == [("cat", 0), ("cat", 1), ("cat", 2)]
    assert all(block.choice[k].domain is pyo.Binary for k in block.choice)
    assert (
        str(block.one_choice["cat"].expr) == "choice[cat,0] + choice[cat,1] + choice[cat,2]  ==  1"
    )
    assert not hasattr(block, "sd")


def test_read_params_of_an_unsolved_block_is_refused(sqlite_url):
    need("pyomo")
    block = fitted_model(sqlite_url, "gp").to_pyomo()
    block.x["t"].set_value(None)
    with pytest.raises(ExportError, match="needs a value.*'t' has none"):
        read_params(block)


def test_scip_finds_the_model_optimum_under_a_constraint(sqlite_url):
    need("pyscipopt")
    import pyomo.environ as pyo

    # A small GP that SCIP solves to proven optimality in seconds: one real, one integer.
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"a": rng.uniform(0, 4, 8), "n": rng.integers(0, 5, 8)})
    data["y"] = np.sin(2 * data.a) + 0.3 * data.n
    c = bl.Campaign.create(
        "scip", [bl.Real("a", 0.0, 4.0), bl.Integer("n", 0, 4)], "y", storage=sqlite_url
    )
    c.add_observations(data)
    fitted = c.fitted_model()
    block = fitted.to_pyomo()
    block.objective = pyo.Objective(expr=block.mean, sense=pyo.maximize)
    block.limit = pyo.Constraint(expr=block.x["a"] + block.x["n"] <= 3.0)
    result = pyo.SolverFactory("scip_direct").solve(block)
    assert str(result.solver.termination_condition) == "optimal"
    best = read_params(block)
    grid = pd.DataFrame(
        [(a, n) for n in range(5) for a in np.linspace(0, 4, 2001) if a + n <= 3.0],
        columns=["a", "n"],
    )
    brute = predict_rows(fitted, grid)["mean"]
    assert best["a"] + best["n"] <= 3.0 + 1e-6
    assert predict_rows(fitted, [best])["mean"][0] >= brute.max() - 1e-4


def test_scip_proves_the_optimum_of_a_one_layer_dngo_on_a_mixed_space(sqlite_url):
    need("pyscipopt")
    import pyomo.environ as pyo

    # One hidden layer: SCIP proves its optimum (two layers relax too weakly, notebook 04).
    rng = np.random.default_rng(5)
    data = pd.DataFrame({
        "a": rng.uniform(0, 4, 24), "n": rng.integers(0, 5, 24), "c": rng.choice(["A", "B", "C"], 24),
    })  # fmt: skip
    data["y"] = np.sin(2 * data.a) + 0.3 * data.n + data.c.map({"A": 0.0, "B": 0.8, "C": -0.5})
    c = bl.Campaign.create(
        "scip_dngo", [bl.Real("a", 0.0, 4.0), bl.Integer("n", 0, 4), bl.Categorical("c", ["A", "B", "C"])],
        "y", storage=sqlite_url, surrogate="dngo",
        surrogate_settings={"ensemble": 1, "hidden": [8], "max_steps": 200},
    )  # fmt: skip
    c.add_observations(data)
    fitted = c.fitted_model()
    block = fitted.to_pyomo()
    block.objective = pyo.Objective(expr=block.mean, sense=pyo.maximize)
    block.limit = pyo.Constraint(expr=block.x["a"] + block.x["n"] <= 2.6)
    result = pyo.SolverFactory("scip_direct").solve(block)
    assert str(result.solver.termination_condition) == "optimal"
    # The solution itself is integral with one choice: not only after read_params rounds it.
    assert abs(block.x["n"].value - round(block.x["n"].value)) < 1e-6
    assert sorted(round(block.choice["c", j].value, 6) for j in range(3)) == [0, 0, 1]
    best = read_params(block)
    grid = pd.DataFrame(
        [
            (a, n, k)
            for k in "ABC"
            for n in range(5)
            for a in np.linspace(0, 4, 801)
            if a + n <= 2.6
        ],
        columns=["a", "n", "c"],
    )
    brute = predict_rows(fitted, grid)["mean"]
    assert best["a"] + best["n"] <= 2.6 + 1e-6
    tolerance = 1e-3 * (brute.max() - brute.min())
    assert abs(predict_rows(fitted, [best])["mean"][0] - brute.max()) <= tolerance


@pytest.mark.parametrize(
    "module, export",
    [("onnx", lambda f, tmp: f.to_onnx(tmp / "m.onnx")), ("pyomo.environ", lambda f, tmp: f.to_pyomo())],
    ids=["onnx", "pyomo"],
)  # fmt: skip
def test_a_missing_optional_package_is_refused_with_the_install_command(
    module, export, sqlite_url, tmp_path, monkeypatch
):
    fitted = fitted_model(sqlite_url, "gp")
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    with pytest.raises(
        ExportError, match=r"needs the optional package .*pip install 'bo_loop\[aml\]'"
    ):
        export(fitted, tmp_path)
