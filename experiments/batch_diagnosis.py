"""Why a batch lost the refinement step (issue 14): replay a stored run and compare incumbents.

Replays the first ``n`` observations of one stored batch run (a JSON line of
`experiments.compare`) into a fresh campaign, fits the GP exactly as that campaign's next ask
would, and reports:

- the best observation and the posterior mean and sd of the GP there;
- qLogNEI's incumbent: the best of joint posterior samples at its (pruned) baseline, mean and sd;
- the point that LogEI (over the best observation; a single ask's acquisition) and qLogNEI (the
  batch rule before issue 14's second pass) each maximise: distance from the best observed point
  in the unit cube and regret.

    python -m experiments.batch_diagnosis experiments/results/batch/q4/bo_loop_gp_qlognei.jsonl \
        branin 4 24

Everything runs on one thread; a replay takes a few seconds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from experiments.problems import PROBLEMS, Problem


def _unit(problem: Problem, params: dict[str, Any]) -> torch.Tensor:
    return torch.tensor(
        [(params[p["name"]] - p["low"]) / (p["high"] - p["low"]) for p in problem.params],
        dtype=torch.float64,
    )


def load_run(path: Path, problem: str, seed: int) -> dict[str, Any]:
    """The stored run of ``problem`` and ``seed`` in the JSON lines at ``path``."""
    for line in path.read_text().splitlines():
        run: dict[str, Any] = json.loads(line)
        if run["problem"] == problem and run["seed"] == seed:
            return run
    raise SystemExit(f"no run of {problem} seed {seed} in {path}")


def diagnose(run: dict[str, Any], n: int, mc_samples: int = 256) -> dict[str, Any]:
    """The incumbents and proposals after the first ``n`` observations of ``run``."""
    import pandas as pd
    from botorch.acquisition import LogExpectedImprovement
    from botorch.sampling import SobolQMCNormalSampler

    import bo_loop as bl
    import bo_loop.storage
    from bo_loop.models.acquisition import build_acquisition, optimize, resolve_settings
    from bo_loop.models.fitting import fit_model

    problem = PROBLEMS[run["problem"]]
    if any(p["type"] != "real" or p.get("log") for p in problem.params):
        raise SystemExit("batch_diagnosis replays problems of linear real parameters only")
    records = run["records"][:n]
    params = [bl.Real(p["name"], p["low"], p["high"]) for p in problem.params]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/replay.db"
        campaign = bl.Campaign.create(
            "replay", params, bl.Objective("y", problem.goal), storage=url, seed=run["seed"]
        )
        campaign.add_observations(
            pd.DataFrame([{**r["params"], "y": r["observed"]} for r in records])
        )
        config = campaign.config
        fitted = fit_model(
            config.space, config.objective, campaign.trials(), run["seed"], "gp",
            config.surrogate_settings,
        )  # fmt: skip
        bo_loop.storage.dispose(url)
    model, X, Y, sign = fitted.model, fitted.baseline, fitted.model_Y, config.objective.sign
    scale = fitted.scale
    best = int(Y.argmax())
    settings = resolve_settings({"mc_samples": mc_samples, "batch": "qlognei"})
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(0)
        nei, _ = build_acquisition(model, X, Y, None, 2, 0, settings)
        baseline = nei.X_baseline  # type: ignore[attr-defined]
        sampler = SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]), seed=0)
        incumbent = sampler(model.posterior(baseline)).squeeze(-1).max(dim=-1).values
        at_best = model.posterior(X[best : best + 1])
        out: dict[str, Any] = {
            "n": n,
            "best_observed": float(Y[best]) * sign * scale,
            "best_observed_regret": problem.regret(records[best]["params"]),
            "posterior_mean_at_best": float(at_best.mean.reshape(-1)[0]) * sign * scale,  # type: ignore[attr-defined]
            "posterior_sd_at_best": float(at_best.variance.reshape(-1)[0].sqrt()) * scale,  # type: ignore[attr-defined]
            "baseline_kept": int(baseline.shape[0]),
            "nei_incumbent_mean": float(incumbent.mean()) * sign * scale,
            "nei_incumbent_sd": float(incumbent.std()) * scale,
        }
    logei = LogExpectedImprovement(model, best_f=Y.max())
    centre = _unit(problem, records[best]["params"])
    for name, acq in (("logei", logei), ("qlognei", nei)):
        with torch.random.fork_rng():
            torch.manual_seed(1)
            x = optimize(acq, config.space, 1, settings)
        point = config.space.decode(x)[0]
        out[f"{name}_distance"] = float(torch.linalg.norm(_unit(problem, point) - centre))
        out[f"{name}_regret"] = problem.regret(point)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.batch_diagnosis", description=__doc__
    )
    parser.add_argument("path", type=Path, help="JSON lines of experiments.compare")
    parser.add_argument("problem", choices=sorted(PROBLEMS))
    parser.add_argument("seed", type=int)
    parser.add_argument("n", type=int, help="observations to replay")
    opts = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = diagnose(load_run(opts.path, opts.problem, opts.seed), opts.n)
    for key, value in result.items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
