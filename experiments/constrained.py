"""Benchmark: a constrained mixture (three components summing to one, plus an inequality).

Methods: bo_loop (its ``parameter_constraints``), Ax (parameter constraints are inequalities only,
so the sum-to-one is the usual trick: glycerol is dropped, ``water + ethanol <= 1`` and glycerol
is ``1 - water - ethanol``) and BayBE (its ``ContinuousLinearConstraint``, equality and
inequality). Each run records every evaluation, its regret curve and the largest constraint
violation of any proposed point.

Usage::

    nice -n 10 python -m experiments.constrained --methods bo_loop,ax --seeds 0-9
    nice -n 10 python -m experiments.constrained --methods baybe --seeds 0-2
    python -m experiments.constrained --report

``SMOKE_TEST=1`` shrinks the budget to 6 evaluations.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

from experiments.peers import quiet, run_loop
from experiments.problems import Params, Problem, real

RESULTS = Path(__file__).parent / "results" / "constrained"
BUDGET = 6 if os.environ.get("SMOKE_TEST") else 20
NOISE_SD = 0.5
_RHS = 1.2  # ethanol + 0.01 * temperature <= 1.2


def _yield(p: Params) -> float:
    """A smooth blend response whose unconstrained best (ethanol 0.55, 75 degrees) breaks the
    inequality, so the best feasible blend lies on its boundary."""
    w, e, g, t = p["water"], p["ethanol"], p["glycerol"], p["temperature"]
    blend = math.exp(-((w - 0.3) ** 2 / 0.06 + (e - 0.55) ** 2 / 0.04 + (g - 0.15) ** 2 / 0.1))
    heat = 1.0 - ((t - 75.0) / 70.0) ** 2
    return 100.0 * blend * heat + 5.0 * math.sin(3.0 * w) * e


def constraint_violation(p: Params) -> float:
    """The larger miss of the two constraints at ``p`` (0 when both hold)."""
    total = abs(p["water"] + p["ethanol"] + p["glycerol"] - 1.0)
    return max(total, p["ethanol"] + 0.01 * p["temperature"] - _RHS, 0.0)


def _optimum() -> float:
    """The best feasible value, by multi-start SLSQP over the polytope."""
    rng = np.random.default_rng(0)
    best = -math.inf
    for _ in range(200):
        w, e = rng.dirichlet([1, 1, 1])[:2]
        start = np.array([w, e, rng.uniform(20, 90)])
        result = minimize(
            lambda x: -_yield({"water": x[0], "ethanol": x[1], "glycerol": 1 - x[0] - x[1],
                               "temperature": x[2]}),
            start, method="SLSQP", bounds=[(0, 1), (0, 1), (20, 90)],
            constraints=[{"type": "ineq", "fun": lambda x: 1 - x[0] - x[1]},
                         {"type": "ineq", "fun": lambda x: _RHS - x[1] - 0.01 * x[2]}],
        )  # fmt: skip
        if result.success:
            best = max(best, -float(result.fun))
    return best


def mixture_problem() -> Problem:
    return Problem(
        name="mixture",
        params=[real("water", 0.0, 1.0), real("ethanol", 0.0, 1.0), real("glycerol", 0.0, 1.0),
                real("temperature", 20.0, 90.0)],
        goal="maximize", budget=BUDGET, optimum=_optimum(), function=_yield, noise_sd=NOISE_SD,
    )  # fmt: skip


def mixture_campaign(
    problem: Problem, name: str, seed: int, initial_design_size: int | None = None
) -> Any:
    """A bo_loop campaign of the mixture with its parameter constraints (in-memory SQLite: one
    process runs every seed on one database, so names must differ)."""
    import bo_loop as bl

    return bl.Campaign.create(
        name,
        [bl.Real(p["name"], p["low"], p["high"]) for p in problem.params],
        bl.Objective("y", "maximize"),
        storage="sqlite://",
        seed=seed,
        initial_design_size=initial_design_size,
        parameter_constraints=[
            bl.LinearConstraint({"water": 1, "ethanol": 1, "glycerol": 1}, "==", 1.0),
            bl.LinearConstraint({"ethanol": 1, "temperature": 0.01}, "<=", _RHS),
        ],
    )


def run_campaign(problem: Problem, campaign: Any, seed: int) -> list[dict[str, Any]]:
    """The benchmark loop through ``campaign``'s ask and tell, one point at a time."""

    def ask() -> tuple[int, Params]:
        (trial,) = campaign.ask(1)
        return trial.number, trial.params

    def tell(number: int, value: float) -> None:
        campaign.tell(number, value)

    return run_loop(problem, seed, ask, tell, quiet())


def run_bo_loop(problem: Problem, seed: int) -> list[dict[str, Any]]:
    return run_campaign(problem, mixture_campaign(problem, f"mixture-{seed}", seed), seed)


def ax_client(seed: int) -> Any:
    """Ax's client for the mixture: glycerol dropped, ``water + ethanol <= 1`` in its place."""
    from ax import Client, RangeParameterConfig

    client = Client(random_seed=seed)
    client.configure_experiment(
        parameters=[
            RangeParameterConfig(name="water", bounds=(0.0, 1.0), parameter_type="float"),
            RangeParameterConfig(name="ethanol", bounds=(0.0, 1.0), parameter_type="float"),
            RangeParameterConfig(name="temperature", bounds=(20.0, 90.0), parameter_type="float"),
        ],
        parameter_constraints=["water + ethanol <= 1.0", f"ethanol + 0.01*temperature <= {_RHS}"],
        name="mixture",
    )  # fmt: skip
    client.configure_optimization(objective="y")
    return client


def run_ax(problem: Problem, seed: int) -> list[dict[str, Any]]:
    with quiet():
        client = ax_client(seed)

    def ask() -> tuple[int, Params]:
        ((index, params),) = client.get_next_trials(max_trials=1).items()
        full = dict(params)
        # Ax's optimiser may overshoot `water + ethanol <= 1` by ~1e-8 (seed 8): glycerol is
        # clipped at 0, as a lab would, and the miss shows in the run's max_violation.
        full["glycerol"] = max(0.0, 1.0 - float(params["water"]) - float(params["ethanol"]))
        return index, full

    def tell(index: int, value: float) -> None:
        client.complete_trial(trial_index=index, raw_data={"y": value})

    return run_loop(problem, seed, ask, tell, quiet())


def baybe_campaign(problem: Problem) -> Any:
    """BayBE's campaign for the mixture, both constraints as ``ContinuousLinearConstraint``."""
    from baybe import Campaign
    from baybe.constraints import ContinuousLinearConstraint
    from baybe.parameters import NumericalContinuousParameter
    from baybe.searchspace import SearchSpace
    from baybe.targets import NumericalTarget

    parameters = [
        NumericalContinuousParameter(p["name"], bounds=(p["low"], p["high"]))
        for p in problem.params
    ]
    constraints = [
        ContinuousLinearConstraint(["water", "ethanol", "glycerol"], "=", [1, 1, 1], 1.0),
        ContinuousLinearConstraint(["ethanol", "temperature"], "<=", [1, 0.01], _RHS),
    ]
    return Campaign(
        searchspace=SearchSpace.from_product(parameters, constraints),
        objective=NumericalTarget("y").to_objective(),
    )


def run_baybe(problem: Problem, seed: int) -> list[dict[str, Any]]:
    from contextlib import contextmanager

    with quiet():
        from baybe import Settings

        campaign = baybe_campaign(problem)

    def ask() -> tuple[Any, Params]:
        rec = campaign.recommend(batch_size=1)
        return rec, rec.iloc[0].to_dict()

    def tell(rec: Any, value: float) -> None:
        campaign.add_measurements(rec.assign(y=value))

    @contextmanager
    def seeded() -> Any:
        with quiet(), Settings(random_seed=seed, cache_directory=None):
            yield

    return run_loop(problem, seed, ask, tell, seeded())


METHODS = {"bo_loop": run_bo_loop, "ax": run_ax, "baybe": run_baybe}


def run_one(method: str, seed: int) -> dict[str, Any]:
    problem = mixture_problem()
    start = time.perf_counter()
    records = METHODS[method](problem, seed)
    curve = problem.regret_curve([r["observed"] for r in records], [r["true"] for r in records])
    return {
        "method": method, "seed": seed, "budget": problem.budget, "optimum": problem.optimum,
        "final_regret": curve[-1], "regret_curve": curve,
        "max_violation": max(constraint_violation(r["params"]) for r in records),
        "seconds": time.perf_counter() - start, "records": records,
    }  # fmt: skip


def report(out: Path = RESULTS) -> str:
    runs = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    lines = ["| method | seeds | median final regret | mean | max violation | s/run |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for method in METHODS:
        mine = [r for r in runs if r["method"] == method]
        if not mine:
            continue
        regrets = [r["final_regret"] for r in mine]
        lines.append(
            f"| {method} | {len(mine)} | {statistics.median(regrets):.3f} | "
            f"{statistics.mean(regrets):.3f} | {max(r['max_violation'] for r in mine):.1e} | "
            f"{statistics.mean(r['seconds'] for r in mine):.0f} |"
        )
    return "\n".join(lines)


def _seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def run_missing(
    out: Path,
    pairs: Iterable[tuple[str, int]],
    run: Callable[[str, int], dict[str, Any]],
    line: Callable[[str, int, dict[str, Any]], str],
) -> None:
    """Run each ``(name, seed)`` whose ``out/<name>-<seed>.json`` does not exist yet, store its
    result there and print ``line`` of it: an interrupted command can be rerun as is."""
    out.mkdir(parents=True, exist_ok=True)
    for name, seed in pairs:
        dest = out / f"{name}-{seed}.json"
        if dest.exists():
            continue
        result = run(name, seed)
        dest.write_text(json.dumps(result, default=str))
        print(line(name, seed, result), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="bo_loop,ax,baybe")
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args(argv)
    if args.report:
        print(report(args.out))
        return 0
    run_missing(
        args.out,
        [(method, seed) for method in args.methods.split(",") for seed in _seeds(args.seeds)],
        run_one,
        lambda method, seed, result: (
            f"{method} seed {seed}: regret {result['final_regret']:.3f} ({result['seconds']:.0f} s)"
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
