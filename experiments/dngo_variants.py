"""Why DNGO loses to the GP at small budgets, and which variant fixes it (issue 14, item 2).

Held-out fit (``--held-out``): the training data are the first ``n`` points of bo_loop_gp's own
benchmark runs (``results/compare/bo_loop_gp.jsonl``; the initial design plus the GP's proposals,
so the data are clustered the way a campaign's are), and the model is scored on

- ``uniform``: 500 uniform random points of the space (the global fit), and
- ``next``: the next 10 points the GP proposed (the region the acquisition cares about),

by the mean Gaussian log predictive density in units of the training outcomes' sd (higher is
better; a model that predicts the training mean with the training sd scores about -1.42), the
RMSE in the same units, and the coverage of the true value by the mean ± 2 sd band (latent
posterior). Every model is fitted as a campaign fits it (`bo_loop.models.fitting.fit`).

    python -m experiments.dngo_variants --held-out --problems branin,hartmann6 --seeds 3 \
        --variants gp,dngo_default,...

Each result line goes to ``results/dngo_variants_heldout.jsonl``; the Markdown table (with the
BO screens of `experiments.compare` runs labelled ``dngo_*``) to ``results/dngo_variants.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from bo_loop.models import fitting, surrogates
from bo_loop.objective import Objective
from bo_loop.space import Categorical, Integer, Real, Space
from experiments.problems import PROBLEMS, Problem

RESULTS = Path(__file__).parent / "results"
HELD_OUT = RESULTS / "dngo_variants_heldout.jsonl"
GP_RUNS = RESULTS / "compare" / "bo_loop_gp.jsonl"

#: The training sizes scored per problem: the design, mid-campaign, late.
SIZES = {"branin": [10, 15, 20], "hartmann6": [15, 30, 45], "mixed": [15, 25], "xsin": [8, 15]}

#: Variant name -> (surrogate, settings changed from its defaults).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "gp": ("gp", {}),
    "dngo_default": ("dngo", {}),
    "dngo_init1": ("dngo", {"init_scale": 1.0}),
    "dngo_init3": ("dngo", {"init_scale": 3.0}),
    "dngo_wd1e-3": ("dngo", {"weight_decay": 1e-3}),
    "dngo_wd1e-2": ("dngo", {"weight_decay": 1e-2}),
    "dngo_small": ("dngo", {"hidden": [20, 20]}),
    "dngo_e10": ("dngo", {"ensemble": 10}),
    "dngo_marginal": ("dngo", {"hyper": "marginal"}),
    "dngo_prior1": ("dngo", {"prior_mean": 1.0}),
    "dngo_gp_product": ("dngo", {"head": "gp_product"}),
}

#: Where the BO screens (`experiments.compare --label dngo_...`) write, and the runs they are
#: compared with (the 10-seed benchmark of issue 4, same seeds).
SCREEN = RESULTS / "dngo_screen"
BASELINES = ("bo_loop_dngo", "ax", "bo_loop_gp")


def space_of(problem: Problem) -> Space:
    params: list[Real | Integer | Categorical] = []
    for p in problem.params:
        if p["type"] == "categorical":
            params.append(Categorical(p["name"], p["choices"]))
        elif p["type"] == "integer":
            params.append(Integer(p["name"], p["low"], p["high"]))
        else:
            params.append(Real(p["name"], p["low"], p["high"], log=p["log"]))
    return Space(params)


def gp_trajectory(problem: str, seed: int) -> list[dict[str, Any]]:
    for line in GP_RUNS.read_text().splitlines():
        run = json.loads(line)
        if run["problem"] == problem and run["seed"] == seed:
            records: list[dict[str, Any]] = run["records"]
            return records
    raise SystemExit(f"no bo_loop_gp run of {problem} seed {seed} in {GP_RUNS}")


def uniform_points(space: Space, n: int, seed: int) -> list[dict[str, Any]]:
    gen = torch.Generator().manual_seed(10_000 + seed)
    u = torch.rand(n, space.dim, generator=gen, dtype=torch.float64) * space.bounds()[1]
    return space.decode(u)


def score(fitted: Any, X: torch.Tensor, y: torch.Tensor, y_sd: float) -> dict[str, float]:
    """Log predictive density, RMSE and ±2 sd coverage, in units of ``y_sd``."""
    with torch.no_grad():
        post = fitted.posterior(X.unsqueeze(1))
        mean = post.mean.reshape(-1)
        sd = post.variance.clamp_min(1e-18).sqrt().reshape(-1)
    z = (y - mean) / sd
    lpd = -0.5 * z**2 - torch.log(sd / y_sd) - 0.5 * math.log(2 * math.pi)
    return {
        "lpd": float(lpd.mean()),
        "rmse": float(((y - mean) ** 2).mean().sqrt() / y_sd),
        "coverage": float((z.abs() <= 2).double().mean()),
    }


def held_out(problem_name: str, seed: int, n: int, variant: str) -> dict[str, Any]:
    problem = PROBLEMS[problem_name]
    space = space_of(problem)
    sign = Objective("y", problem.goal).sign
    records = gp_trajectory(problem_name, seed)
    train, nxt = records[:n], records[n : n + 10]
    X = space.encode([r["params"] for r in train])
    Y = torch.tensor([[sign * r["observed"]] for r in train], dtype=torch.float64)
    name, changes = VARIANTS[variant]
    settings = surrogates.resolve_settings(name, changes)
    start = time.process_time()
    model = fitting.fit(space, X, Y, surrogate=name, settings=settings, seed=seed)
    cpu = time.process_time() - start
    y_sd = float(Y.std())
    row: dict[str, Any] = {"problem": problem_name, "seed": seed, "n": n, "variant": variant,
                           "settings": changes, "fit_cpu_s": cpu}  # fmt: skip
    test = uniform_points(space, 500, seed)
    Xt = space.encode(test)
    yt = torch.tensor([sign * problem.true_value(p) for p in test], dtype=torch.float64)
    row["uniform"] = score(model, Xt, yt, y_sd)
    if nxt:
        Xn = space.encode([r["params"] for r in nxt])
        yn = torch.tensor([sign * r["true"] for r in nxt], dtype=torch.float64)
        row["next"] = score(model, Xn, yn, y_sd)
    return row


def _done() -> set[tuple[str, int, int, str]]:
    if not HELD_OUT.exists():
        return set()
    rows = [json.loads(line) for line in HELD_OUT.read_text().splitlines() if line.strip()]
    return {(r["problem"], r["seed"], r["n"], r["variant"]) for r in rows}


def run_held_out(problems: Sequence[str], seeds: int, variants: Sequence[str]) -> None:
    done = _done()
    torch.set_num_threads(1)
    for variant in variants:
        for problem in problems:
            for n in SIZES[problem]:
                for seed in range(seeds):
                    if (problem, seed, n, variant) in done:
                        continue
                    row = held_out(problem, seed, n, variant)
                    with HELD_OUT.open("a") as handle:
                        handle.write(json.dumps(row) + "\n")
                    print(variant, problem, n, seed, row["uniform"], row.get("next"), flush=True)


def held_out_table() -> list[str]:
    """Medians over seeds of every (problem, n, variant) in `HELD_OUT`."""
    rows = [json.loads(line) for line in HELD_OUT.read_text().splitlines() if line.strip()]
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["problem"], r["n"], r["variant"]), []).append(r)
    out = [
        "| problem | n | variant | seeds | LPD uniform | RMSE uniform | cover uniform "
        "| LPD next | RMSE next | cover next | fit CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = list(VARIANTS)
    for (problem, n, variant), group in sorted(
        groups.items(),
        key=lambda kv: (kv[0][0], kv[0][1], order.index(kv[0][2]) if kv[0][2] in order else 99),
    ):

        def med(part: str, key: str, g: list[dict[str, Any]] = group) -> str:
            values = [r[part][key] for r in g if part in r]
            return f"{statistics.median(values):.2f}" if values else "-"

        cpu = statistics.median(r["fit_cpu_s"] for r in group)
        out.append(
            f"| {problem} | {n} | {variant} | {len(group)} | {med('uniform', 'lpd')} "
            f"| {med('uniform', 'rmse')} | {med('uniform', 'coverage')} | {med('next', 'lpd')} "
            f"| {med('next', 'rmse')} | {med('next', 'coverage')} | {cpu:.2f} |"
        )
    return out


def final_regrets(path: Path) -> dict[str, dict[int, tuple[float, float]]]:
    """problem -> seed -> (final regret, mean CPU s per iteration) of the runs in one JSONL."""
    out: dict[str, dict[int, tuple[float, float]]] = {}
    for line in path.read_text().splitlines():
        run = json.loads(line)
        problem = PROBLEMS[run["problem"]]
        if run.get("budget") != problem.budget:
            continue
        records = run["records"]
        curve = problem.regret_curve([r["observed"] for r in records], [r["true"] for r in records])
        cpu = statistics.mean(r.get("cpu_seconds", 0.0) for r in records)
        out.setdefault(run["problem"], {})[run["seed"]] = (curve[-1], cpu)
    return out


def screen_table() -> list[str]:
    """Median final regret of every screened variant and of the baselines on the same seeds."""
    variants = {p.stem: final_regrets(p) for p in sorted(SCREEN.glob("*.jsonl"))}
    base = {m: final_regrets(RESULTS / "compare" / f"{m}.jsonl") for m in BASELINES}
    out = [
        "| problem | variant | seeds | final regret per seed | median | same seeds: bo_loop_dngo "
        "| ax | bo_loop_gp | CPU s/iter |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for problem in PROBLEMS:
        for label, runs in variants.items():
            seeds = sorted(runs.get(problem, {}))
            if not seeds:
                continue
            regrets = [runs[problem][s][0] for s in seeds]
            cpu = statistics.mean(runs[problem][s][1] for s in seeds)

            def med(method: str, seeds: list[int] = seeds, problem: str = problem) -> str:
                runs = base[method].get(problem, {})
                values = [runs[s][0] for s in seeds if s in runs]
                return f"{statistics.median(values):.3g}" if values else "-"

            per_seed = ", ".join(f"{r:.3g}" for r in regrets)
            out.append(
                f"| {problem} | {label} | {len(seeds)} | {per_seed} | "
                f"**{statistics.median(regrets):.3g}** | {med('bo_loop_dngo')} | {med('ax')} "
                f"| {med('bo_loop_gp')} | {cpu:.2f} |"
            )
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", action="store_true")
    parser.add_argument("--problems", default="branin,hartmann6")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--table", action="store_true", help="print the held-out table")
    parser.add_argument("--screen-table", action="store_true", help="print the BO screen table")
    opts = parser.parse_args(argv)
    if opts.held_out:
        run_held_out(opts.problems.split(","), opts.seeds, opts.variants.split(","))
    if opts.table:
        print("\n".join(held_out_table()))
    if opts.screen_table:
        print("\n".join(screen_table()))


if __name__ == "__main__":
    main()
