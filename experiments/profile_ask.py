"""Time one bo_loop ask at the end of a budget (Branin at 29 observations, Hartmann6 at 59).

The issue's speed target is under 0.5 s per iteration on Branin(30) and Hartmann6(60) on an idle
2-core machine. Each measurement fills a fresh campaign with the observations of a random design
(`Campaign.add_observations`, no model fits), then times one ``ask(1)``: wall seconds and this
process's CPU seconds. bo_loop runs small-data model math on one thread, so the CPU time is what
the ask would take on an idle machine even when the cores are shared.

    python -m experiments.profile_ask                         # defaults, 3 repeats
    python -m experiments.profile_ask --set num_restarts=5,raw_samples=256
    python -m experiments.profile_ask --profile               # cProfile of one Hartmann6 ask
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import tempfile
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from experiments.compare import parse_settings
from experiments.problems import PROBLEMS, Problem

#: (problem, observations before the timed ask): the last ask of each budget.
CASES = (("branin", 29), ("hartmann6", 59))


def filled_campaign(
    problem: Problem, n: int, seed: int, storage: str, settings: str = ""
) -> object:
    """A campaign holding ``n`` observations at uniform random points of ``problem``."""
    import bo_loop as bl

    rng = np.random.default_rng(seed)
    rows = {p["name"]: rng.uniform(p["low"], p["high"], n) for p in problem.params}
    frame = pd.DataFrame(rows)
    frame["y"] = [problem.true_value(row) for row in frame.to_dict("records")]
    params = [bl.Real(p["name"], p["low"], p["high"]) for p in problem.params]
    campaign = bl.Campaign.create(
        f"{problem.name}-{n}-{seed}-{time.monotonic_ns()}",
        params,
        bl.Objective("y", problem.goal),
        storage=storage,
        seed=seed,
        **parse_settings(settings),
    )
    campaign.add_observations(frame)
    return campaign


def time_asks(repeats: int, settings: str = "") -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of one ask per case over ``repeats`` seeds."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{tmp}/profile.db"
        filled_campaign(PROBLEMS["branin"], 10, 99, storage).ask(1)  # type: ignore[attr-defined]
        for name, n in CASES:
            walls, cpus = [], []
            for seed in range(repeats):
                campaign = filled_campaign(PROBLEMS[name], n, seed, storage, settings)
                wall, cpu = time.perf_counter(), time.process_time()
                campaign.ask(1)  # type: ignore[attr-defined]
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            out[name] = (statistics.median(walls), statistics.median(cpus))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Print the median wall and CPU seconds per ask, or a cProfile listing."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--set", default="", help="NAME=JSON,... campaign settings (see experiments.compare)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    opts = parser.parse_args(argv)
    parse_settings(opts.set)  # refused before any work
    if opts.profile:
        with tempfile.TemporaryDirectory() as tmp:
            storage = f"sqlite:///{tmp}/p.db"
            # The first model-based ask of a process pays one-off lazy imports inside torch.
            filled_campaign(PROBLEMS["branin"], 10, 99, storage).ask(1)  # type: ignore[attr-defined]
            campaign = filled_campaign(PROBLEMS["hartmann6"], 59, 0, storage, opts.set)
            profiler = cProfile.Profile()
            profiler.runcall(campaign.ask, 1)  # type: ignore[attr-defined]
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(30)
            print(text.getvalue())
        return
    for name, (wall, cpu) in time_asks(opts.repeats, opts.set).items():
        print(f"{name}: wall {wall:.3f} s, CPU {cpu:.3f} s per ask  {opts.set or 'defaults'}")


if __name__ == "__main__":
    main()
