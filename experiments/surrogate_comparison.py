"""DNGO against GP campaigns: the same problems, seeds and budgets, only the surrogate differs.

f(x) = x·sin(x) + x·cos(2x) on [0, 10] (30 evaluations, minimum -9.5083) and Hartmann6 (60
evaluations, minimum -3.32237), 5 seeds. Writes experiments/results/surrogate_comparison.md.

    python -m experiments.surrogate_comparison
    SMOKE_TEST=1 python -m experiments.surrogate_comparison
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import torch
from botorch.test_functions import Hartmann

import bo_loop as bl
import bo_loop.storage

SMOKE = os.environ.get("SMOKE_TEST") == "1"
SEEDS = [0, 1] if SMOKE else [0, 1, 2, 3, 4]
SURROGATES = ["gp", "dngo"]
_H6 = Hartmann(dim=6)


def forrester(p: dict[str, float]) -> float:
    x = p["x"]
    return x * math.sin(x) + x * math.cos(2 * x)


def hartmann6(p: dict[str, float]) -> float:
    return float(_H6(torch.tensor([[p[f"x{i}"] for i in range(6)]], dtype=torch.float64)))


PROBLEMS: dict[str, tuple[list[bl.Real], Callable[[dict[str, float]], float], int, float]] = {
    "x·sin(x) + x·cos(2x)": ([bl.Real("x", 0.0, 10.0)], forrester, 8 if SMOKE else 30, -9.5083),
    "hartmann6": (
        [bl.Real(f"x{i}", 0.0, 1.0) for i in range(6)],
        hartmann6,
        14 if SMOKE else 60,
        -3.32237,
    ),
}
OUT = (
    Path(__file__).parent
    / "results"
    / ("surrogate_comparison_smoke.md" if SMOKE else "surrogate_comparison.md")
)


def run(problem: str, surrogate: str, seed: int) -> tuple[float, float]:
    """One campaign; returns (best observed value, median seconds per iteration)."""
    params, fn, budget, _ = PROBLEMS[problem]
    settings = {"ensemble": 2, "epochs": 200} if SMOKE and surrogate == "dngo" else None
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/c.db"
        campaign = bl.Campaign.create(
            "cmp", params, bl.Objective("f", "minimize"), storage=url, seed=seed,
            surrogate=surrogate, surrogate_settings=settings,
        )  # fmt: skip
        times = []
        for _ in range(budget):
            started = time.perf_counter()
            (trial,) = campaign.ask(1)
            campaign.tell(trial.number, fn(trial.params))
            times.append(time.perf_counter() - started)
        best = campaign.best()
        bo_loop.storage.dispose(url)
    assert best is not None and best.value is not None
    return best.value, statistics.median(times)


def main() -> None:
    lines = [
        "# DNGO vs GP campaigns (LogEI, default settings)",
        "",
        f"Command: `{'SMOKE_TEST=1 ' if SMOKE else ''}python -m experiments.surrogate_comparison`  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, bo_loop {bl.__version__}",
        "",
        "| problem | evaluations | surrogate | median best f | median final regret | best f per seed | median s / iteration |",
        "|---|---|---|---|---|---|---|",
    ]
    for problem, (_, _, budget, optimum) in PROBLEMS.items():
        for surrogate in SURROGATES:
            results = [run(problem, surrogate, seed) for seed in SEEDS]
            bests = [b for b, _ in results]
            row = (
                f"| {problem} | {budget} | {surrogate} | {statistics.median(bests):.4f} | "
                f"{statistics.median(bests) - optimum:.4g} | {', '.join(f'{b:.4f}' for b in bests)} | "
                f"{statistics.median(s for _, s in results):.2f} |"
            )
            print(row, flush=True)
            lines.append(row)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
