"""DNGO scaling: fit plus one ask on n = 500 ... 8,000 noisy Hartmann6 observations, GP vs DNGO.

Each (model, n) case runs in its own process so that its peak resident memory
(``resource.getrusage(...).ru_maxrss``, which covers torch's tensors; tracemalloc does not) is
its own. A case is: fit the model on n uniform points with y = -Hartmann6(x) + N(0, 0.1^2)
(signed so larger is better), then one ask: LogEI with ``optimize_acqf`` (10 restarts, 512 raw
samples). The test RMSE on 1,000 fresh noise-free points shows the fit is not degenerate. The GP
is skipped at the sizes after the first one whose case took more than ``GP_LIMIT_S``.
Targets: DNGO t(8000) / t(1000) <= 12 and DNGO at 8,000 under 60 s on the 2-core machine.

    python -m experiments.dngo_scaling            # writes results/dngo_scaling.{md,json}
    SMOKE_TEST=1 python -m experiments.dngo_scaling
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from botorch.acquisition import LogExpectedImprovement
from botorch.exceptions.warnings import OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms import Normalize, Standardize
from botorch.optim import optimize_acqf
from botorch.test_functions import Hartmann
from gpytorch.mlls import ExactMarginalLogLikelihood

from bo_loop.models.surrogates.dngo import DEFAULT_SETTINGS, fit_dngo

SMOKE = os.environ.get("SMOKE_TEST") == "1"
SIZES = [100, 200] if SMOKE else [500, 1000, 2000, 4000, 8000]
SMOKE_SETTINGS: dict[str, Any] = {"epochs": 20, "max_steps": 20, "ensemble": 2}
NUM_RESTARTS, RAW_SAMPLES = (2, 32) if SMOKE else (10, 512)
GP_LIMIT_S = 120.0
CASE_TIMEOUT_S = 900.0
NOISE_SD = 0.1
D = 6
RESULTS = Path(__file__).parent / "results"


def case(model_name: str, n: int, seed: int = 0) -> dict[str, Any]:
    """Fit ``model_name`` on ``n`` noisy Hartmann6 points and ask once; times and memory."""
    hartmann = Hartmann(dim=D)
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, D, generator=g, dtype=torch.float64)
    Y = -(hartmann(X) + NOISE_SD * torch.randn(n, generator=g, dtype=torch.float64)).unsqueeze(-1)
    X_test = torch.rand(1000, D, generator=g, dtype=torch.float64)
    bounds = torch.stack([torch.zeros(D), torch.ones(D)]).to(torch.float64)
    load_before = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    model: Model
    if model_name == "gp":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizationWarning)
            model = SingleTaskGP(
                X, Y, input_transform=Normalize(d=D, bounds=bounds),
                outcome_transform=Standardize(m=1),
            )  # fmt: skip
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        model.eval()
    else:
        settings = {**DEFAULT_SETTINGS, **(SMOKE_SETTINGS if SMOKE else {})}
        model = fit_dngo(X, Y, bounds=bounds, cat_dims={}, seed=seed, **settings)
    fitted, cpu_fitted = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizationWarning)
        candidate, _ = optimize_acqf(
            LogExpectedImprovement(model, best_f=Y.max()), bounds, q=1,
            num_restarts=NUM_RESTARTS, raw_samples=RAW_SAMPLES,
        )  # fmt: skip
    asked, cpu_asked = time.perf_counter(), time.process_time()
    with torch.no_grad():
        mean = model.posterior(X_test.unsqueeze(-2)).mean.view(-1)
    rmse = float((mean + hartmann(X_test)).pow(2).mean().sqrt())
    return {
        "model": model_name,
        "n": n,
        "fit_s": fitted - started,
        "ask_s": asked - fitted,
        "total_s": asked - started,
        # CPU seconds of every thread of the process: far less sensitive to a busy machine.
        "fit_cpu_s": cpu_fitted - cpu_started,
        "ask_cpu_s": cpu_asked - cpu_fitted,
        "total_cpu_s": cpu_asked - cpu_started,
        "load_avg_1min": [load_before, os.getloadavg()[0]],
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "test_rmse": rmse,
        "candidate_value": float(hartmann(candidate)),
    }


def campaign_case(n: int, seed: int = 0) -> dict[str, Any]:
    """What a user sees: import ``n`` rows into a DNGO campaign on SQLite, then ``ask(1)``.

    The ask reads every trial back, encodes them, fits DNGO, maximises LogEI and stores the new
    trial with its provenance, so it adds storage and bookkeeping to ``case``'s fit + ask.
    """
    import tempfile

    import pandas as pd

    import bo_loop as bl
    import bo_loop.storage

    hartmann = Hartmann(dim=D)
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, D, generator=g, dtype=torch.float64)
    y = hartmann(X) + NOISE_SD * torch.randn(n, generator=g, dtype=torch.float64)
    rows = pd.DataFrame(X.numpy(), columns=[f"x{i}" for i in range(D)]).assign(y=y.numpy())
    settings = SMOKE_SETTINGS if SMOKE else None
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/scaling.db"
        campaign = bl.Campaign.create(
            "scaling", [bl.Real(f"x{i}", 0.0, 1.0) for i in range(D)], bl.Objective("y", "minimize"),
            storage=url, surrogate="dngo", surrogate_settings=settings, seed=seed,
        )  # fmt: skip
        started, cpu_started = time.perf_counter(), time.process_time()
        campaign.add_observations(rows)
        imported, cpu_imported = time.perf_counter(), time.process_time()
        (trial,) = campaign.ask(1)
        asked, cpu_asked = time.perf_counter(), time.process_time()
        bo_loop.storage.dispose(url)
    return {
        "model": "dngo-campaign",
        "n": n,
        "import_s": imported - started,
        "ask_s": asked - imported,
        "import_cpu_s": cpu_imported - cpu_started,
        "ask_cpu_s": cpu_asked - cpu_imported,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "candidate_value": float(hartmann(torch.tensor([list(trial.params.values())]))),
    }


def run_case(model_name: str, n: int) -> dict[str, Any]:
    """``case`` in a fresh interpreter, for a clean peak-memory reading; killed after
    ``CASE_TIMEOUT_S`` (the row then says so)."""
    try:
        out = subprocess.run(
            [sys.executable, "-m", "experiments.dngo_scaling", "--case", model_name, str(n)],
            check=True, capture_output=True, text=True, cwd=Path(__file__).parent.parent,
            timeout=CASE_TIMEOUT_S,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        print(f"{model_name:>5} n={n:>5}: killed after {CASE_TIMEOUT_S:.0f} s", flush=True)
        return {"model": model_name, "n": n, "timed_out": True}
    row: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if model_name == "dngo-campaign":
        print(f"campaign n={n:>5}: import {row['import_s']:.1f} s, ask {row['ask_s']:.1f} s")
    else:
        print(
            f"{model_name:>5} n={n:>5}: fit {row['fit_s']:.1f} s + ask {row['ask_s']:.1f} s, "
            f"peak RSS {row['peak_rss_mib']:.0f} MiB, test RMSE {row['test_rmse']:.3f}",
            flush=True,
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs=2, metavar=("MODEL", "N"), help="run one case (internal)")
    args = parser.parse_args()
    if args.case:
        model_name, n = args.case[0], int(args.case[1])
        print(
            json.dumps(campaign_case(n) if model_name == "dngo-campaign" else case(model_name, n))
        )
        return
    rows: list[dict[str, Any]] = []
    for model_name in ("dngo", "dngo-campaign", "gp"):
        for n in SIZES:
            rows.append(run_case(model_name, n))
            if model_name == "gp" and (
                rows[-1].get("timed_out") or rows[-1]["total_s"] > GP_LIMIT_S
            ):
                break
    write(rows)


def _cells(r: dict[str, Any] | None) -> list[str]:
    if r is None:
        return [f"skipped (> {GP_LIMIT_S:.0f} s at a smaller n)", "", "", "", ""]
    if r.get("timed_out"):
        return [f"killed after {CASE_TIMEOUT_S:.0f} s", "", "", "", ""]
    return [
        f"{r['fit_s']:.1f} + {r['ask_s']:.1f}",
        f"**{r['total_s']:.1f}**",
        f"{r['total_cpu_s']:.1f}",
        f"{r['peak_rss_mib']:.0f}",
        f"{r['test_rmse']:.3f}",
    ]


def write(rows: list[dict[str, Any]]) -> None:
    """Write ``results/dngo_scaling.md`` (the table) and ``.json`` (every number)."""
    by = {(r["model"], r["n"]): r for r in rows}
    settings = {**DEFAULT_SETTINGS, **(SMOKE_SETTINGS if SMOKE else {})}
    loads = [x for r in rows for x in r.get("load_avg_1min", [])]
    lines = [
        "# DNGO scaling: fit + one LogEI ask on noisy Hartmann6",
        "",
        f"Command: `{'SMOKE_TEST=1 ' if SMOKE else ''}python -m experiments.dngo_scaling`  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}; each case in its own process; "
        f"1-minute load average during the run {min(loads):.1f} to {max(loads):.1f} "
        "(above 2, the cores were shared and wall times are upper bounds)",
        "",
        f"y = -Hartmann6(x) + N(0, {NOISE_SD}^2) at n uniform points; ask = LogEI, "
        f"optimize_acqf with {NUM_RESTARTS} restarts and {RAW_SAMPLES} raw samples. "
        "'fit + ask' and 'total' are wall seconds; 'CPU s' is the process's CPU time over all "
        "threads. Peak memory is the process's peak resident set (includes ~0.3-0.4 GiB of "
        "interpreter and libraries). Test RMSE at 1,000 fresh noise-free points (Hartmann6's "
        "sd there is about 0.38).",
        "",
        f"DNGO settings: `{json.dumps(settings)}`",
        "",
        "| n | DNGO fit + ask s | DNGO total s | DNGO CPU s | DNGO peak MiB | DNGO test RMSE "
        "| GP fit + ask s | GP total s | GP CPU s | GP peak MiB | GP test RMSE |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in SIZES:
        cells = [str(n), *_cells(by.get(("dngo", n))), *_cells(by.get(("gp", n)))]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Through the campaign (DNGO defaults, a SQLite file): `add_observations` of the n rows, "
        "then `campaign.ask(1)`, which also reads every trial back and stores the new one.",
        "",
        "| n | import s | ask s | ask CPU s | peak MiB |",
        "|---|---|---|---|---|",
    ]
    for n in SIZES:
        c = by.get(("dngo-campaign", n))
        if c is None or c.get("timed_out"):
            lines.append(f"| {n} | killed after {CASE_TIMEOUT_S:.0f} s | | | |")
            continue
        lines.append(
            f"| {n} | {c['import_s']:.1f} | **{c['ask_s']:.1f}** | {c['ask_cpu_s']:.1f} | "
            f"{c['peak_rss_mib']:.0f} |"
        )
    lo, hi = (SIZES[0] if SMOKE else 1000), SIZES[-1]
    dngo_lo, dngo_hi = by[("dngo", lo)], by[("dngo", hi)]
    lines += [
        "",
        f"DNGO t({hi}) / t({lo}) = {dngo_hi['total_s'] / dngo_lo['total_s']:.2f} wall, "
        f"{dngo_hi['total_cpu_s'] / dngo_lo['total_cpu_s']:.2f} CPU (target <= 12); "
        f"DNGO at n={hi}: {dngo_hi['total_s']:.1f} s wall (target < 60 s).",
        "",
    ]
    suffix = "_smoke" if SMOKE else ""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"dngo_scaling{suffix}.md").write_text("\n".join(lines))
    (RESULTS / f"dngo_scaling{suffix}.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
