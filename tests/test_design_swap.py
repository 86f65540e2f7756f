"""experiments.design_swap and h6_basins: which basin a design's best point lies in, and the paired tables."""

from __future__ import annotations

from typing import Any

import pytest

from experiments.design_swap import paired
from experiments.h6_basins import (
    BO_LOOP_12,
    SOLVED,
    bo_loop_design,
    descend,
    design_in_global_basin,
    stored_runs,
    tabulate,
)
from experiments.problems import PROBLEMS

PROBLEM = PROBLEMS["hartmann6"]
# Near Hartmann6's global mode -3.3224 and its local mode -3.2032 (not at them: the descent has
# to move there).
NEAR_GLOBAL = dict(
    zip([f"x{i}" for i in range(1, 7)], [0.25, 0.2, 0.45, 0.3, 0.35, 0.6], strict=True)
)
NEAR_LOCAL = dict(
    zip([f"x{i}" for i in range(1, 7)], [0.38, 0.85, 0.8, 0.6, 0.2, 0.1], strict=True)
)


def test_descent_tells_the_two_modes_apart() -> None:
    assert descend(NEAR_GLOBAL) == pytest.approx(PROBLEM.optimum, abs=1e-4)
    assert descend(NEAR_LOCAL) == pytest.approx(-3.2032, abs=1e-3)


def test_the_design_basin_is_the_best_points_not_the_first() -> None:
    far = dict.fromkeys(NEAR_GLOBAL, 0.95)
    values = {id(p): PROBLEM.function(p) for p in (NEAR_GLOBAL, NEAR_LOCAL, far)}
    # Whichever of the two is lower decides; swap which one is better by worsening one of them.
    design = [(far, values[id(far)]), (NEAR_LOCAL, -3.0), (NEAR_GLOBAL, -2.0)]
    assert not design_in_global_basin(design)
    design = [(far, values[id(far)]), (NEAR_LOCAL, -2.0), (NEAR_GLOBAL, -3.0)]
    assert design_in_global_basin(design)


def _run(first: dict[str, float], final_regret: float) -> dict[str, Any]:
    best = PROBLEM.optimum + final_regret
    records = [{"params": first, "true": PROBLEM.function(first)}]
    records += [{"params": NEAR_GLOBAL, "true": best}]
    return {"records": records}


def test_tabulate_counts_design_basin_against_outcome() -> None:
    runs = {
        0: _run(NEAR_GLOBAL, 1e-4),
        1: _run(NEAR_LOCAL, 0.12),
        2: _run(NEAR_LOCAL, 0.12),
        3: _run(NEAR_LOCAL, 2 * SOLVED / 3),
    }
    counts = tabulate(runs, design_size=1)
    assert counts == {("global", "solved"): 1, ("local", "stuck"): 2, ("local", "solved"): 1}


def test_paired_uses_common_seeds_and_counts_ties_for_neither() -> None:
    mine = {0: 0.1, 1: 0.2, 2: 0.12, 3: 1e-4}
    theirs = {0: 0.1, 1: 0.001, 2: 0.3, 4: 9.0}
    p = paired(mine, theirs)
    assert p["seeds"] == 3
    assert p["bo_loop"] == pytest.approx(0.12) and p["optuna"] == pytest.approx(0.1)
    assert (p["bo_loop_lower"], p["optuna_lower"]) == (1, 1)
    assert (p["bo_loop_stuck"], p["optuna_stuck"]) == (3, 2)


def test_bo_loop_design_is_the_one_the_benchmark_ran() -> None:
    # The rates in design_swap.md are only about the benchmark if this is its design.
    stored = stored_runs(BO_LOOP_12, "bo_loop_gp")[0]["records"][:12]
    asked = bo_loop_design(0)
    assert len(asked) == 12
    for record, params in zip(stored, asked, strict=True):
        assert record["params"] == pytest.approx(params, abs=1e-12)


def test_shared_first_round_counts_seeds_whose_first_points_agree(monkeypatch) -> None:
    import experiments.design_swap as swap

    def run(*xs: float) -> dict[str, Any]:
        return {"records": [{"params": {"x1": x}} for x in xs]}

    fake = {
        "one": {0: run(0.1, 0.2, 0.9), 1: run(0.3, 0.4), 2: run(0.5, 0.6)},
        "other": {0: run(0.1, 0.2, 0.0), 1: run(0.3, 0.41)},
    }
    monkeypatch.setattr(swap, "stored_runs", lambda folder, method: fake[method])
    # Seed 0 agrees on its first two points (the third is not compared), seed 1 does not, and
    # seed 2 has no run of the other method.
    assert swap._shared_first_round("any", "one", "other", 2) == (1, 2)
