"""The constrained mixture's stored runs, each scored by a *recommendation*, not by its noisy best.

The benchmark's regret (`experiments.constrained`) is the true value at the best *observed*
point. With noise sd 0.5, five times the regrets being compared, which noisy draw wins that pick
decides much of the score. What a lab takes home at the end is a recommendation: the setting its
tool believes best. This script replays each stored run's 20 evaluations into a fresh tool and
scores, by true value:

- ``own``: the method's own answer. bo_loop: ``Campaign.recommend()`` (the measured setting its
  model ranks best). Ax: ``Client.get_best_parameterization(use_model_predictions=True)``, after
  one ``get_next_trials`` so that its model is fitted on the 20 evaluations. BayBE (which has no
  best-point call): the measured setting with the best posterior mean of its surrogate
  (``Campaign.posterior_stats``), the rule BayBE itself uses for its incumbent.
- ``common``: the same rule for every method, bo_loop's ``recommend()`` on that method's data,
  which compares where the methods sampled rather than how they pick.

Alongside: the stored best-observed regret and the best *sampled* point's regret. One JSON file
per run under ``results/constrained/rescore/``.

Usage::

    nice -n 10 python -m experiments.constrained_rescore --methods bo_loop,ax,baybe --seeds 0-9
    python -m experiments.constrained_rescore --report
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments import constrained
from experiments.constrained import mixture_campaign, mixture_problem
from experiments.peers import quiet
from experiments.problems import Params, Problem

RESULTS = constrained.RESULTS / "rescore"
COMPONENTS = ("water", "ethanol", "glycerol")


def replayed_campaign(problem: Problem, records: list[dict[str, Any]], seed: int) -> Any:
    """A fresh bo_loop campaign of the mixture holding a run's evaluations."""
    campaign = mixture_campaign(problem, f"rescore-{uuid.uuid4().hex[:8]}", seed)
    campaign.add_observations([{**r["params"], "y": r["observed"]} for r in records])
    return campaign


def bo_loop_recommendation(problem: Problem, records: list[dict[str, Any]], seed: int) -> Params:
    """bo_loop's ``recommend()`` after the run's evaluations are added to a fresh campaign."""
    return dict(replayed_campaign(problem, records, seed).recommend().params)


def ax_recommendation(problem: Problem, records: list[dict[str, Any]], seed: int) -> Params:
    """Ax's best parameterization by its model's predictions, its model fitted on the run."""
    with quiet():
        client = constrained.ax_client(seed)
        for r in records:
            params = {k: float(r["params"][k]) for k in ("water", "ethanol", "temperature")}
            index = client.attach_trial(parameters=params)
            client.complete_trial(trial_index=index, raw_data={"y": float(r["observed"])})
        client.get_next_trials(max_trials=1)  # fits the model the best point is predicted by
        best, prediction, index, _ = client.get_best_parameterization(use_model_predictions=True)
    # A prediction that differs from the trial's observation shows the model was used (Ax falls
    # back to the raw data when it cannot predict).
    print(f"  ax: trial {index} observed {records[index]['observed']:.3f}, "
          f"predicted {prediction['y']}", flush=True)  # fmt: skip
    params = {k: float(v) for k, v in best.items()}
    params["glycerol"] = max(0.0, 1.0 - params["water"] - params["ethanol"])
    return params


def baybe_recommendation(problem: Problem, records: list[dict[str, Any]], seed: int) -> Params:
    """The measured setting with the best posterior mean of BayBE's surrogate."""
    import pandas as pd

    with quiet():
        from baybe import Settings

        with Settings(random_seed=seed, cache_directory=None):
            campaign = constrained.baybe_campaign(problem)
            rows = pd.DataFrame([{**r["params"], "y": r["observed"]} for r in records])
            campaign.add_measurements(rows)
            stats = campaign.posterior_stats()
    best = int(stats["y_mean"].to_numpy().argmax())
    return {k: float(v) for k, v in records[best]["params"].items()}


OWN = {"bo_loop": bo_loop_recommendation, "ax": ax_recommendation, "baybe": baybe_recommendation}


def rescore(method: str, seed: int) -> dict[str, Any]:
    run = json.loads((constrained.RESULTS / f"{method}-{seed}.json").read_text())
    problem = mixture_problem()
    records = run["records"]
    own = OWN[method](problem, records, seed)
    common = bo_loop_recommendation(problem, records, seed)
    return {
        "method": method, "seed": seed, "own": own, "common": common,
        "best_observed_regret": run["final_regret"],
        "own_regret": problem.optimum - problem.true_value(own),
        "common_regret": problem.optimum - problem.true_value(common),
        "best_sampled_regret": problem.optimum - max(r["true"] for r in records),
        "own_violation": constrained.constraint_violation(own),
    }  # fmt: skip


def report(out: Path = RESULTS) -> str:
    runs = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    columns = ("best_observed_regret", "own_regret", "common_regret", "best_sampled_regret")
    lines = [
        "| method | seeds | best observed (the benchmark's score) | own recommendation | "
        "bo_loop's recommend() on its data | best sampled |",
        "|---|---|---|---|---|---|",
    ]
    for method in OWN:
        mine = [r for r in runs if r["method"] == method]
        if mine:
            cells = [f"{statistics.median(r[c] for r in mine):.3f}" for c in columns]
            lines.append(f"| {method} | {len(mine)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(OWN))
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args(argv)
    if args.report:
        print(report(args.out))
        return 0
    constrained.run_missing(
        args.out,
        [(m, seed) for m in args.methods.split(",") for seed in constrained._seeds(args.seeds)],
        rescore,
        lambda method, seed, result: (
            f"{method} seed {seed}: best observed "
            f"{result['best_observed_regret']:.3f} own {result['own_regret']:.3f} "
            f"common {result['common_regret']:.3f}"
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
