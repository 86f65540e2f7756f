"""Where the GP's LogNormal noise fit ends, point by point, on noisy and noise-free benchmark data.

The GP's noise prior "auto" refits a model noise-free once its LogNormal fit's noise sits at the
floor (1e-4 of the standardised variance; `bo_loop.models.surrogates.gp`). This script refits
the first n points of stored benchmark runs with BoTorch's LogNormal prior and prints the fitted
noise as a multiple of the floor, so that the rule's margin can be read off: 1.00 is at the floor.

    python -m experiments.noise_floor mixed,branin      # runs of experiments/results/compare
    python -m experiments.noise_floor gramacy --gramacy-runs \
        experiments/results/multi_objective/archive/eta_1e3   # each outcome, the runs quoted

Numbers quoted in experiments/results/multi_objective/section.md (fifth round).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import bo_loop as bl
from bo_loop.models import surrogates
from bo_loop.models.fitting import fit
from experiments.dngo_variants import space_of
from experiments.outcome_problems import OUTCOME_PROBLEMS
from experiments.problems import PROBLEMS

RESULTS = Path(__file__).parent / "results"
POINTS = (8, 12, 16, 20, 25, 29, 39, 59)
FLOOR = 1e-4


def noise_over_floor(space: bl.Space, params: list[dict], values: list[float]) -> float:
    """The fitted noise / floor of a LogNormal-prior GP on these points (seed 0)."""
    settings = {**surrogates.resolve_settings("gp", None), "noise_prior": "lognormal"}
    X = space.encode(params)
    Y = torch.tensor([[v] for v in values], dtype=torch.float64)
    model = fit(space, X, Y, surrogate="gp", settings=settings, seed=0)
    gp = getattr(model, "gp", model)
    return float(gp.likelihood.noise.detach().max()) / FLOOR


def _line(label: str, space: bl.Space, records: list[dict], value, budget: int) -> str:
    cells = [
        f"{n}: {noise_over_floor(space, [r['params'] for r in records[:n]], [value(r) for r in records[:n]]):.2f}"
        for n in POINTS
        if n < budget and n <= len(records)
    ]
    return f"{label:<20} " + "  ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problems", help="comma-separated: compare problems, or gramacy")
    parser.add_argument(
        "--gramacy-runs", type=Path, default=RESULTS / "multi_objective",
        help="folder of gramacy-bo_loop-<seed>.json runs",
    )  # fmt: skip
    args = parser.parse_args()
    for name in args.problems.split(","):
        if name == "gramacy":
            params = OUTCOME_PROBLEMS["gramacy"](30).params
            space = bl.Space([bl.Real(p["name"], p["low"], p["high"]) for p in params])
            for seed in range(10):
                path = args.gramacy_runs / f"gramacy-bo_loop-{seed}.json"
                records = json.loads(path.read_text())["records"]
                for out in ("c1", "c2", "f"):
                    label = f"gramacy {seed} {out}"
                    print(_line(label, space, records, lambda r, o=out: r["outcomes"][o], 31))
            continue
        problem = PROBLEMS[name]
        space = space_of(problem)
        for row in (RESULTS / "compare" / "bo_loop_gp.jsonl").read_text().splitlines():
            run = json.loads(row)
            if run["problem"] == name:
                label = f"{name} {run['seed']}"
                print(_line(label, space, run["records"], lambda r: r["observed"], problem.budget))


if __name__ == "__main__":
    main()
