"""Does SCIP reach the optimum of a DNGO surrogate's Pyomo block? (issue 15, notebook 04)

The production-yield data of notebook 04 (2,000 rows, integer Pressure 2-9 and Temperature
10-29, real Speed, yield capped at 100). For each network shape: the model's optimum by brute
force (every integer pair x 201 speeds, `predict`), `recommend(within="space")`, and SCIP on
``to_pyomo()`` (maximise the mean) without and with ``Pressure * Temperature <= 150``; SCIP's
status, objective, dual bound and CPU seconds. ``--enumerate`` also solves the deep network by
enumerating the 160 integer pairs, each a 1-D problem in Speed solved by SCIP under the cut
``mean >= best so far`` (so SCIP proves most pairs cannot win), each to a relative gap of 1e-4.

    python -m experiments.aml_solve                 # writes results/aml_solve/aml_solve.{md,json}
    python -m experiments.aml_solve --enumerate     # adds the enumeration (minutes of CPU):
                                                    # results/aml_solve/aml_solve_enumerate.*
    SMOKE_TEST=1 python -m experiments.aml_solve    # 300 rows, 10 s limits; *_smoke.*

SCIP's time limit is wall-clock: on a loaded machine it buys fewer CPU seconds, so CPU seconds
(``time.process_time``) are what the report compares.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import bo_loop as bl
from bo_loop.models.recommend import predict_rows

SMOKE = os.environ.get("SMOKE_TEST") == "1"
N_ROWS = 300 if SMOKE else 2000
TIME_LIMIT_S = 10 if SMOKE else 120
#: The notebook's network before this measurement (two layers), and after it (one layer).
SHAPES: dict[str, dict[str, Any]] = {
    "2 layers (2 x [20, 20])": {"ensemble": 2, "hidden": [20, 20], "max_steps": 300},
    "1 layer (1 x [50])": {"ensemble": 1, "hidden": [50], "max_steps": 300},
}
OUT = Path(__file__).parent / "results" / "aml_solve"


def campaign(settings: dict[str, Any]) -> bl.Campaign:
    """Notebook 04's campaign (the same data generator and seed)."""
    rng = np.random.default_rng(0)
    pressure = rng.integers(2, 10, N_ROWS)
    temperature = rng.integers(10, 30, N_ROWS)
    speed = rng.weibull(2.0, N_ROWS)
    data = pd.DataFrame({
        "Pressure": pressure,
        "Temperature": temperature,
        "Speed": speed,
        "yield": np.minimum(pressure**2 + temperature * speed + 10, 100),
    })  # fmt: skip
    return bl.Campaign.from_dataframe(
        f"plant {settings}", data, "yield", storage="sqlite://", surrogate="dngo",
        surrogate_settings=settings,
    )  # fmt: skip


def scip(model: Any, limit_s: float) -> dict[str, Any]:
    import pyomo.environ as pyo
    from pyomo.contrib.solver.solvers.scip.scip_direct import ScipDirect

    start = time.process_time()
    result = ScipDirect().solve(
        model, time_limit=limit_s, load_solutions=False, raise_exception_on_nonoptimal_result=False
    )
    cpu = time.process_time() - start
    if result.incumbent_objective is not None:
        result.solution_loader.load_vars()
    return {
        "status": str(result.termination_condition).split(".")[-1],
        "objective": pyo.value(model.mean) if result.incumbent_objective is not None else None,
        "bound": result.objective_bound,
        "cpu_s": round(cpu, 2),
    }


def enumerate_pairs(fitted: Any, constrained: bool) -> dict[str, Any]:
    """Each integer pair fixed in turn; SCIP must beat the best so far or prove it cannot."""
    import pyomo.environ as pyo
    from pyomo.contrib.solver.solvers.scip.scip_direct import ScipDirect

    m = block(fitted, constrained)
    m.incumbent = pyo.Param(mutable=True, initialize=-1e9)
    m.better = pyo.Constraint(expr=m.mean >= m.incumbent)
    best: tuple[float, Any] = (-np.inf, None)
    statuses: dict[str, int] = {}
    start = time.process_time()
    pairs = [
        (p, t)
        for p, t in itertools.product(range(2, 10), range(10, 30))
        if not constrained or p * t <= 150  # SCIP would prove the others infeasible
    ]
    # The most promising pairs first (the prediction at the middle Speed), so that the cut
    # `mean >= best so far` is high early and SCIP proves most pairs cannot win.
    speed = fitted.space["Speed"]
    assert isinstance(speed, bl.Real)
    middle = pd.DataFrame(pairs, columns=["Pressure", "Temperature"])
    middle["Speed"] = (speed.low + speed.high) / 2
    guess = predict_rows(fitted, middle)["mean"].to_numpy()
    for i in np.argsort(-guess):
        pressure, temperature = pairs[i]
        m.x["Pressure"].fix(pressure)
        m.x["Temperature"].fix(temperature)
        result = ScipDirect().solve(
            m, time_limit=TIME_LIMIT_S, rel_gap=1e-4, load_solutions=False,
            raise_exception_on_nonoptimal_result=False,
        )  # fmt: skip
        status = str(result.termination_condition).split(".")[-1]
        statuses[status] = statuses.get(status, 0) + 1
        if result.incumbent_objective is not None and result.incumbent_objective > best[0]:
            result.solution_loader.load_vars()
            best = (pyo.value(m.mean), (pressure, temperature, m.x["Speed"].value))
            m.incumbent = best[0]
    return {
        "objective": best[0], "point": best[1], "statuses": statuses,
        "cpu_s": round(time.process_time() - start, 1),
    }  # fmt: skip


def block(fitted: Any, constrained: bool) -> Any:
    import pyomo.environ as pyo

    m = fitted.to_pyomo()
    m.objective = pyo.Objective(expr=m.mean, sense=pyo.maximize)
    if constrained:
        m.limit = pyo.Constraint(expr=m.x["Pressure"] * m.x["Temperature"] <= 150)
    return m


def measure(name: str, settings: dict[str, Any], enumerate_: bool) -> dict[str, Any]:
    c = campaign(settings)
    fitted = c.fitted_model()
    speed = fitted.space["Speed"]
    assert isinstance(speed, bl.Real)
    speeds = np.linspace(speed.low, speed.high, 201)
    P, T, S = np.meshgrid(np.arange(2, 10), np.arange(10, 30), speeds, indexing="ij")
    grid = pd.DataFrame({"Pressure": P.ravel(), "Temperature": T.ravel(), "Speed": S.ravel()})
    mean = c.predict(grid)["mean"]
    truth = np.minimum(grid.Pressure**2 + grid.Temperature * grid.Speed + 10, 100)
    allowed = grid.Pressure * grid.Temperature <= 150
    row: dict[str, Any] = {
        "network": name,
        "rmse_vs_truth": float(np.sqrt(((mean - truth) ** 2).mean())),
        "prediction_range": float(mean.max() - mean.min()),
        "brute": float(mean.max()),
        "brute_constrained": float(mean[allowed].max()),
        "recommend": float(c.recommend(within="space").mean),
    }
    for constrained in (False, True):
        key = "scip_constrained" if constrained else "scip"
        row[key] = scip(block(fitted, constrained), TIME_LIMIT_S)
        if enumerate_ and len(settings["hidden"]) > 1:
            row[f"enumerate{'_constrained' if constrained else ''}"] = enumerate_pairs(
                fitted, constrained
            )
        print(name, key, row[key], flush=True)
    return row


def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"# SCIP on the Pyomo block of notebook 04's DNGO ({N_ROWS} rows)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.processor() or platform.machine()}, SCIP "
        f"time limit {TIME_LIMIT_S} s wall-clock; `python -m experiments.aml_solve"
        f"{' --enumerate' if any('enumerate' in r for r in rows) else ''}`"
        f"{' (SMOKE_TEST=1)' if SMOKE else ''}. Objective: the predicted mean, maximised; "
        "brute force: every integer pair x 201 speeds.",
        "",
        "| network | RMSE vs truth | brute | recommend | SCIP | SCIP bound | CPU s "
        "| brute (P*T<=150) | SCIP (P*T<=150) | bound | CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a, b = r["scip"], r["scip_constrained"]
        lines.append(
            f"| {r['network']} | {r['rmse_vs_truth']:.2f} | {r['brute']:.3f} | "
            f"{r['recommend']:.3f} | {a['objective']:.3f} ({a['status']}) | {a['bound']:.3f} | "
            f"{a['cpu_s']} | {r['brute_constrained']:.3f} | {b['objective']:.3f} ({b['status']}) "
            f"| {b['bound']:.3f} | {b['cpu_s']} |"
        )
    for r in rows:
        for key in ("enumerate", "enumerate_constrained"):
            if key in r:
                e = r[key]
                lines.append(
                    f"\n{r['network']}, {key.replace('_', ' ')}: {e['objective']:.3f} at "
                    f"{e['point']}, {e['cpu_s']} CPU s, SCIP statuses {e['statuses']}."
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enumerate", action="store_true", help="also enumerate integer pairs")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    stem = OUT / ("aml_solve_smoke" if SMOKE else "aml_solve")
    stem = stem.with_name(stem.name + ("_enumerate" if args.enumerate else ""))
    rows = []
    for name, settings in SHAPES.items():  # the files after each network: partial results stay
        rows.append(measure(name, settings, args.enumerate))
        stem.with_suffix(".json").write_text(json.dumps(rows, indent=1, default=str))
        stem.with_suffix(".md").write_text(report(rows))
    print(report(rows))


if __name__ == "__main__":
    main()
