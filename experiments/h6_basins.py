"""Hartmann6's basins: where a design's best point descends to, each tool's design, and the model.

The building blocks of `experiments.design_swap` (which runs and reports them): a local descent
on the true function tells which mode's basin a point lies in; each tool's own initial design,
reproduced from its seed; and `probe`, bo_loop's model of a stored run at the two modes.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.stats import norm
from scipy.stats.qmc import LatinHypercube, Sobol

from experiments.problems import PROBLEMS

PROBLEM = PROBLEMS["hartmann6"]
RESULTS = Path(__file__).parent / "results"
SOLVED = 0.05  # final regret below this: the run found the global mode (the local one is 0.12)
GLOBAL_BELOW = -3.3  # a descent ending below this ended at the global mode -3.3224
Params = dict[str, Any]
#: Where bo_loop's sequential runs are: its 12-point design (2 per dimension), which this
#: analysis is about.
BO_LOOP_12 = "compare"


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


@contextmanager
def hartmann6_campaign(seed: int, initial_design_size: int | None = None) -> Iterator[Any]:
    """A fresh bo_loop campaign on Hartmann6's space in a temporary SQLite file, disposed after."""
    import bo_loop as bl
    import bo_loop.storage

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/h6.db"
        campaign = bl.Campaign.create(
            "h6",
            [bl.Real(f"x{i}", 0.0, 1.0) for i in range(1, 7)],
            bl.Objective("y", "minimize"),
            storage=url,
            seed=seed,
            initial_design_size=initial_design_size,
        )
        try:
            yield campaign
        finally:
            bo_loop.storage.dispose(url)


def bo_loop_design(seed: int, n: int = 12) -> list[Params]:
    """The ``n`` Sobol points a fresh bo_loop campaign with ``seed`` asks first."""
    with hartmann6_campaign(seed) as campaign:
        return [dict(trial.params) for trial in campaign.ask(n)]


def optuna_space() -> dict[str, Any]:
    import optuna

    return {f"x{i}": optuna.distributions.FloatDistribution(0.0, 1.0) for i in range(1, 7)}


def optuna_design(seed: int, n: int = 10) -> list[Params]:
    """The ``n`` startup points of ``optuna.samplers.GPSampler(seed=seed)``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=seed))
    space = optuna_space()
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
    ("Optuna's (and BayBE's) first 4 random points", lambda s: optuna_design(s, 4)),
    ("bo_loop's first 5 Sobol points", lambda s: bo_loop_design(s, 5)),
    ("bo_loop's first 6 Sobol points", lambda s: bo_loop_design(s, 6)),
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


# --- Why no run leaves its basin ----------------------------------------------------------------

#: Hartmann6's global mode and the local mode -3.2032 (regret 0.12).
MODES = {
    "global": [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573],
    "local": [0.40465, 0.88244, 0.84610, 0.57399, 0.13893, 0.03850],
}


def probe(seed: int, n: int) -> dict[str, Any]:
    """bo_loop's model of the stored run's first ``n`` evaluations, at the two modes.

    Returns the best value so far and, at each mode, the predicted mean and sd and the
    (analytic) expected improvement over the best value: what EI sees of a basin it has not
    sampled.
    """
    records = stored_runs(BO_LOOP_12, "bo_loop_gp")[seed]["records"][:n]
    best = min(r["true"] for r in records)
    modes = [{f"x{i + 1}": v for i, v in enumerate(x)} for x in MODES.values()]
    with hartmann6_campaign(seed) as campaign:
        campaign.add_observations([{**r["params"], "y": r["true"]} for r in records])
        predicted = campaign.predict(modes)
    out: dict[str, Any] = {"seed": seed, "n": n, "best": best}
    for name, (mean, sd) in zip(MODES, predicted[["mean", "sd"]].to_numpy(), strict=True):
        z = (best - mean) / sd
        out[name] = {"mean": mean, "sd": sd, "ei": sd * (z * norm.cdf(z) + norm.pdf(z))}
    return out
