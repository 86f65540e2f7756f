"""Hartmann6: the basin of the initial design's best point decides the run, for every tool.

Over seeds 0-29 of the sequential benchmark, bo_loop ends at Hartmann6's local mode -3.2032
(regret 0.12) on 14 seeds and Optuna's GPSampler on 1. This script separates the two
things that could cause that: the design and the model after it.

- ``--tabulate``: for every stored Hartmann6 run (sequential and rounds), the basin the design's
  best point lies in (a local L-BFGS-B descent on the true function from that point) against
  how the run ended (regret below 0.05 or not).
- ``--rates N``: over seeds 0..N-1, how often each tool's own design puts its best point in
  the local mode's basin: bo_loop's 12 scrambled Sobol points (asked from a fresh campaign) and
  Optuna GPSampler's 10 random startup points (its ``RandomSampler(seed)``, asked the same way).
- ``--swap``: every tool on the *other* tool's stored design: Optuna's GPSampler given
  bo_loop's 12 design points (enqueued, ``n_startup_trials=12``), and bo_loop given Optuna's 10
  (``add_observation``, ``initial_design_size=10``), the rest of the 60 evaluations its own.
  With the stored runs this gives each tool's result on the same designs, paired by seed.
- ``--report``: writes ``experiments/results/compare/design_swap.md`` from the runs.

    OMP_NUM_THREADS=1 python -m experiments.design_swap --swap --arm optuna_on_bo_loop_design
    OMP_NUM_THREADS=1 python -m experiments.design_swap --swap --arm bo_loop_on_optuna_design
    python -m experiments.design_swap --rates 300 --report

Numbers quoted in experiments/results/compare/notes.md ("Hartmann6's weak spot").
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.stats import fisher_exact
from scipy.stats.qmc import LatinHypercube, Sobol

from experiments.problems import PROBLEMS

PROBLEM = PROBLEMS["hartmann6"]
RESULTS = Path(__file__).parent / "results"
OUT_DIR = RESULTS / "compare" / "design_swap"
REPORT = RESULTS / "compare" / "design_swap.md"
RATES = OUT_DIR / "rates.json"  # written by --rates, read by --report
#: Stored runs to tabulate: (folder under results/, method, design size).
STORED = [
    ("compare", "bo_loop_gp", 12),
    ("compare", "optuna_gp", 10),
    ("compare", "ax", 12),
    ("compare", "skopt", 12),
    ("compare", "bo_loop_dngo", 12),
    ("batch/q4", "bo_loop_gp", 12),
    ("batch/q4", "optuna_gp", 10),
    ("batch/q4", "ax", 12),
    ("batch/q4", "baybe", 12),
    ("batch/q8", "bo_loop_gp", 12),
    ("batch/q8", "optuna_gp", 10),
    ("batch/q8", "ax", 12),
    ("batch/q8", "baybe", 12),
]
SOLVED = 0.05  # final regret below this: the run found the global mode (the local one is 0.12)
GLOBAL_BELOW = -3.3  # a descent ending below this ended at the global mode -3.3224
ARMS = ("optuna_on_bo_loop_design", "bo_loop_on_optuna_design")
Params = dict[str, Any]


def _vector(params: Params) -> np.ndarray:
    return np.array([float(params[f"x{i}"]) for i in range(1, 7)])


def descend(params: Params) -> float:
    """The value L-BFGS-B reaches from ``params`` on the true function: which mode's basin it is."""
    result = minimize(
        lambda x: PROBLEM.function({f"x{i + 1}": v for i, v in enumerate(x)}),
        _vector(params),
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * 6,
    )
    return float(result.fun)


def design_in_global_basin(design: Sequence[tuple[Params, float]]) -> bool:
    """Whether the design's best point (by true value) descends to the global mode."""
    best = min(design, key=lambda pv: pv[1])[0]
    return descend(best) < GLOBAL_BELOW


def stored_runs(folder: str, method: str) -> dict[int, dict[str, Any]]:
    """Hartmann6 runs of ``method`` in ``results/folder``, by seed (the last stored one wins)."""
    path = RESULTS / folder / f"{method}.jsonl"
    if not path.exists():
        return {}
    runs = {}
    for line in path.read_text().splitlines():
        run = json.loads(line)
        if run["problem"] == PROBLEM.name:
            runs[run["seed"]] = run
    return runs


def final_regret(values: Sequence[float]) -> float:
    return min(values) - PROBLEM.optimum


def tabulate(runs: dict[int, dict[str, Any]], design_size: int) -> Counter[tuple[str, str]]:
    """Counts of (design basin, outcome): ("global" | "local", "solved" | "stuck")."""
    counts: Counter[tuple[str, str]] = Counter()
    for run in runs.values():
        records = run["records"]
        design = [(r["params"], r["true"]) for r in records[:design_size]]
        basin = "global" if design_in_global_basin(design) else "local"
        ended = "solved" if final_regret([r["true"] for r in records]) < SOLVED else "stuck"
        counts[(basin, ended)] += 1
    return counts


# --- Each tool's own design ----------------------------------------------------------------------


def bo_loop_design(seed: int, n: int = 12) -> list[Params]:
    """The ``n`` Sobol points a fresh bo_loop campaign with ``seed`` asks first."""
    import bo_loop as bl
    import bo_loop.storage

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/design.db"
        campaign = bl.Campaign.create(
            "design",
            [bl.Real(f"x{i}", 0.0, 1.0) for i in range(1, 7)],
            bl.Objective("y", "minimize"),
            storage=url,
            seed=seed,
        )
        params = [dict(trial.params) for trial in campaign.ask(n)]
        bo_loop.storage.dispose(url)
    return params


def _optuna_space() -> dict[str, Any]:
    import optuna

    return {f"x{i}": optuna.distributions.FloatDistribution(0.0, 1.0) for i in range(1, 7)}


def optuna_design(seed: int, n: int = 10) -> list[Params]:
    """The ``n`` startup points of ``optuna.samplers.GPSampler(seed=seed)``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=seed))
    space = _optuna_space()
    out = []
    for _ in range(n):
        trial = study.ask(space)
        out.append(dict(trial.params))
        study.tell(trial, PROBLEM.function(trial.params))
    return out


def _cube(sample: Callable[[int], np.ndarray]) -> Callable[[int], list[Params]]:
    def design(seed: int) -> list[Params]:
        with warnings.catch_warnings():  # scipy: "balance properties ... a power of 2"
            warnings.simplefilter("ignore", UserWarning)
            points = sample(seed)
        return [{f"x{i + 1}": float(v) for i, v in enumerate(x)} for x in points]

    return design


#: The designs ``--rates`` compares: the two tools' own (the first two, which the Fisher test in
#: the report compares), then other 12-point designs of the cube, to tell the generator from
#: the design's kind.
DESIGNS: list[tuple[str, Callable[[int], list[Params]]]] = [
    ("bo_loop: 12 scrambled Sobol points (torch's SobolEngine)", bo_loop_design),
    ("Optuna GPSampler: 10 random points", optuna_design),
    (
        "12 scrambled Sobol points (scipy.stats.qmc.Sobol)",
        _cube(lambda s: Sobol(6, seed=s).random(12)),
    ),
    ("12 uniform random points (numpy)", _cube(lambda s: np.random.default_rng(s).random((12, 6)))),
    ("12-point Latin hypercube (scipy)", _cube(lambda s: LatinHypercube(6, seed=s).random(12))),
]


def local_rate(design: Callable[[int], list[Params]], seeds: int) -> int:
    """How many of seeds 0..seeds-1 put the design's best point in a basin other than the global."""
    local = 0
    for seed in range(seeds):
        points = design(seed)
        local += not design_in_global_basin([(p, PROBLEM.function(p)) for p in points])
    return local


# --- The swap ------------------------------------------------------------------------------------


def optuna_on(design: list[Params], seed: int) -> list[float]:
    """Optuna's GPSampler, its first ``len(design)`` trials the given points."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = optuna.samplers.GPSampler(seed=seed, n_startup_trials=len(design))
    study = optuna.create_study(sampler=sampler)
    space = _optuna_space()
    for params in design:
        study.enqueue_trial(params)
    values = []
    for _ in range(PROBLEM.budget):
        trial = study.ask(space)
        value = PROBLEM.function(trial.params)
        study.tell(trial, value)
        values.append(value)
    return values


def bo_loop_on(design: list[Params], seed: int) -> list[float]:
    """bo_loop with its defaults, the given points added as measured before the first ask."""
    import bo_loop as bl
    import bo_loop.storage

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/swap.db"
        campaign = bl.Campaign.create(
            "swap",
            [bl.Real(f"x{i}", 0.0, 1.0) for i in range(1, 7)],
            bl.Objective("y", "minimize"),
            storage=url,
            seed=seed,
            initial_design_size=len(design),
        )
        values = []
        for params in design:
            value = PROBLEM.function(params)
            campaign.add_observation(params, value)
            values.append(value)
        while len(values) < PROBLEM.budget:
            trial = campaign.ask(1)[0]
            value = PROBLEM.function(dict(trial.params))
            campaign.tell(trial.number, value)
            values.append(value)
        bo_loop.storage.dispose(url)
    return values


def run_arm(arm: str, seeds: Sequence[int]) -> None:
    """Run ``arm`` on ``seeds``, appending one JSON line per seed to ``OUT_DIR/arm.jsonl``."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    source = stored_runs("compare", "bo_loop_gp" if arm == ARMS[0] else "optuna_gp")
    size = 12 if arm == ARMS[0] else 10
    for seed in seeds:
        design = [r["params"] for r in source[seed]["records"][:size]]
        values = optuna_on(design, seed) if arm == ARMS[0] else bo_loop_on(design, seed)
        row = {"arm": arm, "seed": seed, "final_regret": final_regret(values), "values": values}
        with (OUT_DIR / f"{arm}.jsonl").open("a") as out:
            out.write(json.dumps(row) + "\n")
        print(f"{arm} seed {seed}: {row['final_regret']:.3g}", flush=True)


# --- Report --------------------------------------------------------------------------------------


def _arm(arm: str) -> dict[int, float]:
    path = OUT_DIR / f"{arm}.jsonl"
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["seed"]: r["final_regret"] for r in rows}


def paired(mine: dict[int, float], theirs: dict[int, float]) -> dict[str, Any]:
    """Medians over the seeds both have, and on how many each is lower (ties count for neither)."""
    seeds = sorted(set(mine) & set(theirs))
    return {
        "seeds": len(seeds),
        "bo_loop": statistics.median(mine[s] for s in seeds) if seeds else float("nan"),
        "optuna": statistics.median(theirs[s] for s in seeds) if seeds else float("nan"),
        "bo_loop_lower": sum(mine[s] < theirs[s] for s in seeds),
        "optuna_lower": sum(theirs[s] < mine[s] for s in seeds),
        "bo_loop_stuck": sum(mine[s] >= SOLVED for s in seeds),
        "optuna_stuck": sum(theirs[s] >= SOLVED for s in seeds),
    }


def report(rates: dict[str, tuple[int, int]] | None) -> str:
    lines = ["# Hartmann6: the design's basin, and each tool on the other's design", ""]
    lines += [
        "Written by `python -m experiments.design_swap --report` (see its docstring). A run is",
        f"*solved* when its final regret is below {SOLVED} (the local mode's regret is 0.12); the",
        "design's basin is where L-BFGS-B descends from the design's best point.",
        "",
    ]
    if rates:
        lines += ["## How often each tool's own design starts in a local basin", ""]
        lines += ["| design | seeds | best point in a local basin |", "|---|---|---|"]
        for name, (local, seeds) in rates.items():
            lines.append(f"| {name} | {seeds} | {local} ({local / seeds:.1%}) |")
        (a, n), (b, m) = list(rates.values())[:2]
        p = fisher_exact([[a, n - a], [b, m - b]]).pvalue
        lines += ["", f"Fisher's exact test, the two tools' designs: p = {p:.2g}.", ""]
    lines += ["## Stored runs: design basin against outcome", ""]
    lines += [
        "The design is the first 12 evaluations (Optuna's: 10), whatever chose them. Sequentially",
        "that is each tool's initial design; in rounds it can include model points (bo_loop's",
        "design in rounds of 8 is one round of 8; Optuna's random start lasts while fewer than",
        "10 trials are complete).",
        "",
    ]
    lines += [
        "| runs | method | seeds | global, solved | global, stuck | local, solved | local, stuck |",
        "|---|---|---|---|---|---|---|",
    ]
    for folder, method, size in STORED:
        runs = stored_runs(folder, method)
        if not runs:
            continue
        c = tabulate(runs, size)
        cells = [c[("global", "solved")], c[("global", "stuck")]]
        cells += [c[("local", "solved")], c[("local", "stuck")]]
        lines.append(f"| {folder} | {method} | {len(runs)} | " + " | ".join(map(str, cells)) + " |")
    lines += ["", "## The same designs, paired by seed (sequential, 60 evaluations)", ""]
    lines += [
        "| design | seeds | bo_loop median | Optuna median | bo_loop lower | Optuna lower "
        "| bo_loop stuck | Optuna stuck |",
        "|---|---|---|---|---|---|---|---|",
    ]
    bo_stored, op_stored = _stored_final("bo_loop_gp"), _stored_final("optuna_gp")
    for name, mine, theirs in (
        ("bo_loop's Sobol 12 (Optuna: `--arm optuna_on_bo_loop_design`)", bo_stored, _arm(ARMS[0])),
        (
            "Optuna's random 10 (bo_loop: `--arm bo_loop_on_optuna_design`)",
            _arm(ARMS[1]),
            op_stored,
        ),
        ("each its own (the stored runs)", bo_stored, op_stored),
    ):
        p = paired(mine, theirs)
        lines.append(
            f"| {name} | {p['seeds']} | {p['bo_loop']:.2g} | {p['optuna']:.2g} | "
            f"{p['bo_loop_lower']} | {p['optuna_lower']} | {p['bo_loop_stuck']} | "
            f"{p['optuna_stuck']} |"
        )
    return "\n".join(lines) + "\n"


def _stored_final(method: str) -> dict[int, float]:
    """Final regret by seed of ``method``'s stored sequential runs."""
    runs = stored_runs("compare", method)
    return {seed: final_regret([r["true"] for r in run["records"]]) for seed, run in runs.items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swap", action="store_true", help="run an arm (see --arm, --seeds)")
    parser.add_argument("--arm", choices=ARMS, default=ARMS[0])
    parser.add_argument("--seeds", default="0-29", help="e.g. 0-29 or 0,1,3")
    parser.add_argument("--rates", type=int, default=0, help="seeds for the design-basin rates")
    parser.add_argument("--report", action="store_true", help="write design_swap.md")
    opts = parser.parse_args(argv)
    if opts.swap:
        run_arm(opts.arm, _seeds(opts.seeds))
    if opts.rates:
        rates = {name: (local_rate(design, opts.rates), opts.rates) for name, design in DESIGNS}
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        RATES.write_text(json.dumps(rates, indent=1) + "\n")
        print(rates)
    if opts.report:
        stored = json.loads(RATES.read_text()) if RATES.exists() else None
        REPORT.write_text(report(stored))
        print(f"wrote {REPORT}")


def _seeds(text: str) -> list[int]:
    if "-" in text and "," not in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


if __name__ == "__main__":
    main()
