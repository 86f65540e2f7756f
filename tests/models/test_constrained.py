"""Every proposal of a constrained campaign satisfies its constraints: design and model phases,
batches, pending points, integer and categorical parameters, fixed values."""

from __future__ import annotations

import math

import pytest
import torch

import bo_loop as bl
from bo_loop.constraints import violations
from bo_loop.models.constrained import Region

CHEAP = {"num_restarts": 2, "raw_samples": 32, "mc_samples": 32}

MIXTURE = (
    [bl.Real("water", 0, 1), bl.Real("ethanol", 0, 1), bl.Real("glycerol", 0, 1),
     bl.Real("temperature", 20, 90), bl.Integer("stir", 1, 5)],
    [bl.LinearConstraint({"water": 1, "ethanol": 1, "glycerol": 1}, "==", 1.0),
     bl.LinearConstraint({"ethanol": 1, "temperature": 0.01}, "<=", 1.2),
     bl.LinearConstraint({"stir": 1, "water": 2}, "<=", 4.5)],
)  # fmt: skip
# An integer inside an equality: BoTorch cannot keep it on its grid there, so it is relaxed,
# rounded and the real re-projected.
INTEGER_EQUALITY = (
    [bl.Integer("a", 0, 10), bl.Real("b", 0, 10), bl.Real("c", 0, 1),
     bl.Categorical("kind", ["P", "Q", "R"])],
    [bl.LinearConstraint({"a": 1, "b": 1}, "==", 7.5),
     bl.LinearConstraint({"b": 1, "c": 4}, ">=", 2.0)],
)  # fmt: skip


def measure(p: dict) -> float:
    numbers = [float(v) for k, v in p.items() if not isinstance(v, str)]
    return -sum((v - 0.4 * (i + 1)) ** 2 for i, v in enumerate(numbers)) / 10.0


def check(params: dict, constraints) -> None:
    assert violations(params, constraints) == []
    for c in constraints:
        if c.op == "==":
            assert abs(c.lhs(params) - c.rhs) <= 1e-9, (c, params)


@pytest.mark.slow
@pytest.mark.parametrize("problem", [MIXTURE, INTEGER_EQUALITY], ids=["mixture", "int-equality"])
def test_no_proposal_breaks_a_constraint_over_design_and_model_phases(problem):
    parameters, constraints = problem
    campaign = bl.Campaign.create(
        f"c-{len(parameters)}", parameters, "y", storage="sqlite://", seed=1, initial_design_size=70,
        parameter_constraints=constraints, acquisition_settings=CHEAP,
    )  # fmt: skip
    fixed = {"temperature": 80.0} if problem is MIXTURE else {"a": 3}
    proposals = 0
    # Design asks (70 points: the initial design is 70), then model asks of growing batches;
    # every other batch stays partly pending, so later asks see pending points.
    for i, n in enumerate([30, 10, 20, 10, 1, 4, 1, 6, 8, 10]):
        trials = campaign.ask(n, fixed=fixed if i % 4 == 3 else None)
        for t in trials:
            check(t.params, constraints)
            if i % 4 == 3:
                assert all(t.params[k] == v for k, v in fixed.items())
        proposals += len(trials)
        for t in trials[: max(1, len(trials) // 2) if i % 2 else len(trials)]:
            campaign.tell(t.number, measure(t.params))
    generators = {t.provenance["generator"] for t in campaign.trials()}
    assert generators == {"polytope", "gp"}
    assert proposals == 100  # 200 over both problems


@pytest.mark.parametrize("problem", [MIXTURE, INTEGER_EQUALITY], ids=["mixture", "int-equality"])
def test_region_samples_and_repairs_onto_the_constraints(problem):
    parameters, constraints = problem
    space = bl.Space(parameters)
    region = Region(space, constraints)
    X = region.sample(150, seed=5)
    for params in space.decode(X):
        check(params, constraints)
    # Arbitrary points of the cube (integers off grid, constraints broken) are moved back in.
    U = torch.rand(50, space.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for params in space.decode(region.repair(space.from_unit_cube(U))):
        check(params, constraints)


def test_repair_moves_the_reals_the_least_way():
    space = bl.Space([bl.Real("x", 0, 1), bl.Real("y", 0, 1)])
    region = Region(space, [bl.LinearConstraint({"x": 1, "y": 1}, "==", 1.0)])
    (params,) = space.decode(region.repair(torch.tensor([[0.2, 0.2]], dtype=torch.float64)))
    assert math.isclose(params["x"], 0.5, abs_tol=1e-9)
    assert math.isclose(params["y"], 0.5, abs_tol=1e-9)
