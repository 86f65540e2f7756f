"""Hartmann6: the basin of the initial design's best point decides the run, for every tool.

Over seeds 0-29 of the sequential benchmark, bo_loop (its 12-point design) ends at Hartmann6's local mode -3.2032 (regret 0.12) on 14 seeds and Optuna's GPSampler on 1. This script separates the two
things that could cause that: the design and the model after it.

- ``--report``: writes ``experiments/results/compare/design_swap.md``: for every stored
  Hartmann6 run (sequential and rounds), the basin the design's best point lies in (a local
  L-BFGS-B descent on the true function from that point) against how the run ended (regret
  below 0.05 or not); the rates below; the swap's paired table.
- ``--rates N``: over seeds 0..N-1, how often each design puts its best point in a basin other
  than the global mode's: bo_loop's 12 scrambled Sobol points (asked from a fresh campaign),
  Optuna GPSampler's 10 random startup points (asked from a fresh study) and its first 4 (also
  BayBE's first round of 4: the same draw), bo_loop's first 5 and 6 Sobol points (designs of
  that size), and three other 12-point designs of the cube (`h6_basins.DESIGNS`).
- ``--swap``: each tool on the *other* tool's stored design: Optuna's GPSampler given
  bo_loop's 12 design points (enqueued, ``n_startup_trials=12``), and bo_loop given Optuna's 10
  (``add_observation``, ``initial_design_size=10``), the rest of the 60 evaluations its own.
  With the stored runs this gives each tool's result on the same designs, paired by seed.
- ``--probe``: bo_loop's model of the stored runs of ``--seeds`` after 12, 24, 36 and 48
  evaluations, at the global and the local mode: mean, sd and EI over the best value so far.

    OMP_NUM_THREADS=1 python -m experiments.design_swap --swap --arm optuna_on_bo_loop_design
    OMP_NUM_THREADS=1 python -m experiments.design_swap --swap --arm bo_loop_on_optuna_design
    OMP_NUM_THREADS=1 python -m experiments.design_swap --rates 1000 --report
    OMP_NUM_THREADS=1 python -m experiments.design_swap --probe --seeds 0,3,14,19

Numbers quoted in experiments/results/compare/notes.md ("Hartmann6's weak spot").
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from typing import Any

from scipy.stats import fisher_exact

from experiments.h6_basins import (
    BO_LOOP_12,
    DESIGNS,
    MODES,
    PROBLEM,
    RESULTS,
    SOLVED,
    Params,
    final_regret,
    hartmann6_campaign,
    local_rate,
    optuna_space,
    probe,
    stored_runs,
    tabulate,
)

OUT_DIR = RESULTS / "compare" / "design_swap"
REPORT = RESULTS / "compare" / "design_swap.md"
RATES = OUT_DIR / "rates.json"  # written by --rates, read by --report
#: Stored runs to tabulate: (folder under results/, method, design size).
STORED = [
    (BO_LOOP_12, "bo_loop_gp", 12),
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
ARMS = ("optuna_on_bo_loop_design", "bo_loop_on_optuna_design")


# --- The swap ------------------------------------------------------------------------------------


def optuna_on(design: list[Params], seed: int) -> list[float]:
    """Optuna's GPSampler, its first ``len(design)`` trials the given points."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = optuna.samplers.GPSampler(seed=seed, n_startup_trials=len(design))
    study = optuna.create_study(sampler=sampler)
    space = optuna_space()
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
    values = []
    with hartmann6_campaign(seed, initial_design_size=len(design)) as campaign:
        for params in design:
            value = PROBLEM.function(params)
            campaign.add_observation(params, value)
            values.append(value)
        while len(values) < PROBLEM.budget:
            trial = campaign.ask(1)[0]
            value = PROBLEM.function(dict(trial.params))
            campaign.tell(trial.number, value)
            values.append(value)
    return values


def run_arm(arm: str, seeds: Sequence[int]) -> None:
    """Run ``arm`` on ``seeds``, appending one JSON line per seed to ``OUT_DIR/arm.jsonl``."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    source = (
        stored_runs(BO_LOOP_12, "bo_loop_gp")
        if arm == ARMS[0]
        else stored_runs("compare", "optuna_gp")
    )
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
    same, seeds = _shared_first_round("batch/q4", "baybe", "optuna_gp", 4)
    if seeds:
        lines += [
            "",
            f"BayBE's first round of 4 in rounds of 4 is Optuna's first 4 points on {same} of "
            f"{seeds} seeds (both draw numpy's `RandomState(seed)` in the same order), so their "
            "design basins are the same.",
        ]
    lines += ["", "## The same designs, paired by seed (sequential, 60 evaluations)", ""]
    lines += [
        "| design | seeds | bo_loop median | Optuna median | bo_loop lower | Optuna lower "
        "| bo_loop stuck | Optuna stuck |",
        "|---|---|---|---|---|---|---|---|",
    ]
    bo_stored, op_stored = (
        _stored_final(BO_LOOP_12, "bo_loop_gp"),
        _stored_final("compare", "optuna_gp"),
    )
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


def _shared_first_round(folder: str, one: str, other: str, n: int) -> tuple[int, int]:
    """On how many of the seeds both methods have, their first ``n`` points are the same."""
    a, b = stored_runs(folder, one), stored_runs(folder, other)
    seeds = sorted(set(a) & set(b))
    same = sum(
        all(
            abs(float(x["params"][k]) - float(y["params"][k])) < 1e-12
            for x, y in zip(a[s]["records"][:n], b[s]["records"][:n], strict=True)
            for k in x["params"]
        )
        for s in seeds
    )
    return same, len(seeds)


def _stored_final(folder: str, method: str) -> dict[int, float]:
    """Final regret by seed of ``method``'s stored sequential runs in ``results/folder``."""
    runs = stored_runs(folder, method)
    return {seed: final_regret([r["true"] for r in run["records"]]) for seed, run in runs.items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swap", action="store_true", help="run an arm (see --arm, --seeds)")
    parser.add_argument("--arm", choices=ARMS, default=ARMS[0])
    parser.add_argument("--seeds", default="0-29", help="e.g. 0-29 or 0,1,3")
    parser.add_argument("--rates", type=int, default=0, help="seeds for the design-basin rates")
    parser.add_argument("--report", action="store_true", help="write design_swap.md")
    parser.add_argument("--probe", action="store_true", help="model at the modes (--seeds)")
    opts = parser.parse_args(argv)
    if opts.swap:
        run_arm(opts.arm, _seeds(opts.seeds))
    if opts.probe:
        for seed in _seeds(opts.seeds):
            for n in (12, 24, 36, 48):
                p = probe(seed, n)
                print(
                    f"seed {seed}, {n} evaluations: best {p['best']:.3f};"
                    + "".join(
                        f" {m} mode mean {p[m]['mean']:.2f} sd {p[m]['sd']:.2f} EI {p[m]['ei']:.2g};"
                        for m in MODES
                    ),
                    flush=True,
                )
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
