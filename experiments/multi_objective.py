"""Benchmark of issue 12: several objectives, and outcome constraints.

Problems (`experiments.outcome_problems`): Branin-Currin (two objectives; score: log10 of the
hypervolume difference to the true front's, reference point (18, 6)), DTLZ2 with six inputs (the
same score, reference point (1.1, 1.1)) and Gramacy's constrained
toy problem (one objective, two outcome constraints; score: feasible regret, infinite while no
feasible point is observed). 30 evaluations (dtlz2 40), noise-free. Methods
(`experiments.outcome_peers`): bo_loop, Ax, Optuna's GPSampler, BayBE and random search.

Each run is one JSON file ``<problem>-<method>-<seed>.json`` under ``--out``, holding every
evaluation with its ask and tell wall and CPU seconds; finished runs are skipped, so an
interrupted command can be rerun as is. ``--report`` prints the markdown tables (and writes
them to ``report.md`` under ``--out``).

Usage::

    OMP_NUM_THREADS=1 nice -n 10 python -m experiments.multi_objective --methods random,ax,optuna_gp
    OMP_NUM_THREADS=1 nice -n 10 python -m experiments.multi_objective --methods baybe --seeds 0-2
    python -m experiments.multi_objective --report

``SMOKE_TEST=1`` shrinks the budget to 6 evaluations and the default seeds to seed 0.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from experiments.outcome_peers import METHODS
from experiments.outcome_problems import OUTCOME_PROBLEMS, OutcomeProblem, score_curve

RESULTS = Path(__file__).parent / "results" / "multi_objective"
SMOKE = bool(os.environ.get("SMOKE_TEST"))
SMOKE_BUDGET = 6
"""Every problem's budget under ``SMOKE_TEST`` (otherwise each problem's own: 30, dtlz2 40)."""
TIMED_LAST = 10
"""Seconds per ask are taken over each run's last iterations, where every method models."""
CHECKED = "bo_loop"
PEERS = ("ax", "optuna_gp", "baybe")


def run_one(problem: OutcomeProblem, method: str, seed: int) -> dict[str, Any]:
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    records = METHODS[method](problem, seed)
    curve = score_curve(problem, [r["outcomes"] for r in records])
    return {
        "problem": problem.name, "method": method, "seed": seed, "budget": problem.budget,
        "final_score": curve[-1], "score_curve": curve,
        "first_feasible": next(
            (i + 1 for i, r in enumerate(records) if problem.feasible(r["outcomes"])), None
        ),
        "seconds": time.perf_counter() - start_wall, "cpu_seconds": time.process_time() - start_cpu,
        "records": records,
    }  # fmt: skip


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf"
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.1e}"


def _per_ask(runs: list[dict[str, Any]], kind: str) -> float:
    """Median of ask + tell seconds (``kind`` "s" wall or "cpu_s") over the last iterations."""
    return statistics.median(
        r[f"ask_{kind}"] + r[f"tell_{kind}"] for run in runs for r in run["records"][-TIMED_LAST:]
    )


def report(out: Path = RESULTS) -> str:
    """The markdown tables: one per problem, then the issue's checks."""
    runs = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    lines: list[str] = []
    checks = ["| problem | bo_loop median | best peer (median) | score check | bo_loop CPU s/ask "
              "| ax CPU s/ask | ratio | speed check (<= 1/3) |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in OUTCOME_PROBLEMS:
        mine = [r for r in runs if r["problem"] == name]
        if not mine:
            continue
        multi = len(OUTCOME_PROBLEMS[name]().objectives) > 1
        score = "log10 HV difference" if multi else "feasible regret"
        lines += [f"### {name} ({score}, lower is better; budget {mine[0]['budget']})", "",
                  f"| method | seeds | median {score} | 25-75 % | runs with a feasible point "
                  "| median first feasible eval | s/ask (wall) | CPU s/ask |",
                  "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        medians: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for method in METHODS:
            these = [r for r in mine if r["method"] == method]
            if not these:
                continue
            finals = sorted(float(r["final_score"]) for r in these)
            q25, q75 = (float(np.quantile(finals, q, method="lower")) for q in (0.25, 0.75))
            medians[method] = float(np.quantile(finals, 0.5, method="lower"))
            cpu[method] = _per_ask(these, "cpu_s")
            found = [r["first_feasible"] for r in these if r["first_feasible"] is not None]
            constrained = bool(OUTCOME_PROBLEMS[name]().constraints)
            first = statistics.median(found) if found and constrained else "-"
            lines.append(
                f"| {method} | {len(these)} | {_fmt(medians[method])} | {_fmt(q25)} - {_fmt(q75)} "
                f"| {len(found)}/{len(these)} | {first} | {_per_ask(these, 's'):.3f} "
                f"| {cpu[method]:.3f} |"
            )
        lines.append("")
        peers = {m: v for m, v in medians.items() if m in PEERS}
        if CHECKED in medians and peers and "ax" in cpu:
            best = min(peers, key=peers.__getitem__)
            ratio = cpu[CHECKED] / cpu["ax"]
            checks.append(
                f"| {name} | {_fmt(medians[CHECKED])} | {best} ({_fmt(peers[best])}) | "
                f"{'met' if medians[CHECKED] <= peers[best] else '**not met**'} | "
                f"{cpu[CHECKED]:.3f} | {cpu['ax']:.3f} | {ratio:.2f} | "
                f"{'met' if ratio <= 1 / 3 else '**not met**'} |"
            )
    notes = [
        f"Medians over seeds (the lower middle value for an even count). s/ask is one iteration's "
        f"ask plus tell, median over the last {TIMED_LAST} iterations of every run (every method "
        "is past its initial design there); CPU s/ask is the process CPU time of the same, every "
        "thread, much less inflated by a loaded machine than the wall time.",
        "",
    ]
    return "\n".join([*notes, *lines, "### Checks", "", *checks, ""])


def _seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--methods", default="random,bo_loop,ax,optuna_gp,baybe")
    parser.add_argument("--problems", default=",".join(OUTCOME_PROBLEMS))
    parser.add_argument("--seeds", default="0" if SMOKE else "0-9")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args(argv)
    if args.report:
        text = report(args.out)
        (args.out / "report.md").write_text(text)
        print(text)
        return 0
    methods, problems = args.methods.split(","), args.problems.split(",")
    unknown = [m for m in methods if m not in METHODS] + [
        p for p in problems if p not in OUTCOME_PROBLEMS
    ]
    if unknown:
        parser.error(
            f"unknown methods or problems {unknown}; known: {[*METHODS, *OUTCOME_PROBLEMS]}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    for name in problems:
        problem = OUTCOME_PROBLEMS[name](*([SMOKE_BUDGET] if SMOKE else []))
        for method in methods:
            for seed in _seeds(args.seeds):
                dest = args.out / f"{name}-{method}-{seed}.json"
                if dest.exists():
                    continue
                result = run_one(problem, method, seed)
                dest.write_text(json.dumps(result))
                print(f"{name} {method} seed {seed}: score {_fmt(result['final_score'])} "
                      f"({result['seconds']:.0f} s, {result['cpu_seconds']:.0f} CPU s)", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
