"""First measurement of the core loop: final regret and seconds per iteration (ask + tell).

Branin (2-D, 30 evaluations) and Hartmann6 (6-D, 60 evaluations), 5 seeds each, bo_loop with its
default GP, on a fresh SQLite file per run. Writes experiments/results/core_benchmark.md.

    python -m experiments.core_benchmark            # the full run
    SMOKE_TEST=1 python -m experiments.core_benchmark   # a seconds-long check
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from botorch.test_functions import Branin, Hartmann

import bo_loop as bl
import bo_loop.storage

SMOKE = os.environ.get("SMOKE_TEST") == "1"
SEEDS = [0, 1] if SMOKE else [0, 1, 2, 3, 4]
PROBLEMS = {
    # name: (test function, budget, known minimum)
    "branin": (Branin(), 6 if SMOKE else 30, 0.397887),
    "hartmann6": (Hartmann(dim=6), 8 if SMOKE else 60, -3.32237),
}
OUT = (
    Path(__file__).parent
    / "results"
    / ("core_benchmark_smoke.md" if SMOKE else "core_benchmark.md")
)


def run(name: str, seed: int) -> tuple[float, float]:
    """One campaign; returns (final regret, median seconds per iteration)."""
    fn, budget, optimum = PROBLEMS[name]
    bounds = fn.bounds.tolist()
    params = [bl.Real(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(zip(*bounds, strict=True))]
    with tempfile.TemporaryDirectory() as tmp:
        campaign = bl.Campaign.create(
            name, params, bl.Objective("f", "minimize"), storage=f"sqlite:///{tmp}/b.db", seed=seed
        )
        times = []
        for _ in range(budget):
            started = time.perf_counter()
            (trial,) = campaign.ask(1)
            x = torch.tensor([[trial.params[p.name] for p in params]], dtype=torch.float64)
            campaign.tell(trial.number, float(fn(x)))
            times.append(time.perf_counter() - started)
        best = campaign.best()
        assert best is not None and best.value is not None
        bl.storage.dispose(campaign.storage)
        return best.value - optimum, statistics.median(times)


def main() -> None:
    lines = [
        "# Core benchmark: bo_loop (GP, LogEI) on Branin and Hartmann6",
        "",
        f"Command: `{'SMOKE_TEST=1 ' if SMOKE else ''}python -m experiments.core_benchmark`  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, bo_loop {bl.__version__}",
        "",
        "| problem | evaluations | seeds | median final regret | regrets per seed | median s / iteration (ask + tell) |",
        "|---|---|---|---|---|---|",
    ]
    for name, (_, budget, _) in PROBLEMS.items():
        results = [run(name, seed) for seed in SEEDS]
        regrets = [r for r, _ in results]
        seconds = [s for _, s in results]
        row = (
            f"| {name} | {budget} | {len(SEEDS)} | {statistics.median(regrets):.4g} | "
            f"{', '.join(f'{r:.3g}' for r in regrets)} | {statistics.median(seconds):.3f} |"
        )
        print(row, flush=True)
        lines.append(row)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
