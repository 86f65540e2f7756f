"""How well the GP ranks the good region of the noisy `mixed` problem, under other noise priors
and outcome warps (issue 14: why rounds of 8 still trail there).

Refits the first 32 points of the first 12 stored q = 8 runs of bo_loop on mixed
(``experiments/results/batch/q8/bo_loop_gp.jsonl``) and scores each model on 3,000 random
points: the Spearman correlation of predicted and true values where the true value is below 3,
the posterior sd at the observed points (true noise sd 0.1), and on how many runs the lowest
prediction lies in the right solvent (ethanol). Medians over the runs. Variants: the noise prior,
a warp of the outcomes, and the lengthscale prior of the solvent's one-hot columns.

    python -m experiments.mixed_fit

Numbers quoted in experiments/results/batch/notes.md (seventh pass).
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from bo_loop.models import surrogates
from bo_loop.models.fitting import fit
from experiments.dngo_variants import space_of
from experiments.problems import _SOLVENTS, PROBLEMS

RUNS = Path(__file__).parent / "results" / "batch" / "q8" / "bo_loop_gp.jsonl"
POINTS = 32
GOOD = 3.0


def _log(y: Tensor) -> Tensor:
    return torch.log(y - y.min() + 0.05 * y.std())


def _sqrt(y: Tensor) -> Tensor:
    return torch.sqrt(y - y.min() + 0.01 * y.std())


def main() -> None:
    problem = PROBLEMS["mixed"]
    space = space_of(problem)
    runs = [json.loads(line) for line in RUNS.read_text().splitlines()]
    runs = [r for r in runs if r["problem"] == "mixed"][:12]
    rng = random.Random(0)
    test = [
        {"temperature": rng.uniform(20, 120), "concentration": 10 ** rng.uniform(-3, 1),
         "cycles": rng.randint(1, 20), "solvent": rng.choice(list(_SOLVENTS))}
        for _ in range(3000)
    ]  # fmt: skip
    truth = torch.tensor([problem.function(p) for p in test], dtype=torch.float64)
    Xt, good = space.encode(test), truth < GOOD
    # The settings of campaigns created before the one-hot lengthscale prior (2026-12-04).
    base = {**surrogates.resolve_settings("gp", None), "category_lengthscale_rate": None}
    variants: list[tuple[str, dict, Callable[[Tensor], Tensor] | None]] = [
        ("default (noise prior auto)", base, None),
        ("gamma_flat noise prior", {**base, "noise_prior": "gamma_flat", "noise_floor": 1e-6}, None),
        ("lognormal loc -8", {**base, "noise_prior": "lognormal", "noise_prior_loc": -8.0}, None),
        ("one-hot lengthscales Gamma(3, 1)", {**base, "category_lengthscale_rate": 1.0}, None),
        ("one-hot lengthscales Gamma(3, 0.5)", {**base, "category_lengthscale_rate": 0.5}, None),
        ("log warp", base, _log),
        ("sqrt warp", base, _sqrt),
    ]  # fmt: skip
    for label, settings, warp in variants:
        rho, sd_obs, right = [], [], 0
        for run in runs:
            records = run["records"][:POINTS]
            X = space.encode([r["params"] for r in records])
            y = torch.tensor([r["observed"] for r in records], dtype=torch.float64)
            model = fit(space, X, (warp(y) if warp else y).unsqueeze(-1), surrogate="gp",
                        settings=settings, seed=0)  # fmt: skip
            with torch.no_grad():
                mean = model.posterior(Xt).mean.reshape(-1)
                sd_obs.append(float(model.posterior(X).variance.sqrt().median()))
            a = mean[good].argsort().argsort().double()
            b = truth[good].argsort().argsort().double()
            rho.append(float(torch.corrcoef(torch.stack([a, b]))[0, 1]))
            right += test[int(mean.argmin())]["solvent"] == "ethanol"
        print(
            f"{label:<28} Spearman (true < {GOOD:g}) {statistics.median(rho):.3f}  "
            f"sd at observed points {statistics.median(sd_obs):.3f} (warped units)  "
            f"lowest prediction in ethanol {right}/{len(runs)}"
        )


if __name__ == "__main__":
    main()
