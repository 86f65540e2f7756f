"""Large histories: where the time goes at 2,000 and 10,000 rows, and what the subset GP costs.

Issue 14's targets on the 2-core machine: recommend and predict on 2,000 rows <= 5 s with the
default surrogate (the GP); one ask on a 10,000-row campaign <= 30 s; opening a 10,000-trial
campaign (``Campaign.load`` + ``to_dataframe``) <= 1 s.

Cases, each timed in wall and CPU seconds of this process (the machine is shared: CPU seconds
are what an idle machine would take on one thread; the load average is printed beside them):

1. The 2,000 rows of production data of issue 5 (the rows of tests/test_historical.py), imported
   with ``Campaign.from_dataframe``; then reading the trials, the fit, ``recommend_point`` and
   ``predict_rows`` on every row, each timed apart, for the default GP (a subset past
   ``exact_max_rows``) and the exact GP (``exact_max_rows=None``).
2. Accuracy on held-out rows: both GPs fitted on 80% of those rows (seeded split), scored on the
   other 20%: RMSE and mean log predictive density (with the fitted noise).
3. A synthetic 10,000-row campaign (2 reals, an integer, a categorical; noisy outcome): the
   import, ``load`` + ``to_dataframe``, and one ``ask(1)`` and one ``ask(4)`` with the default GP.

    nice -n 10 env OMP_NUM_THREADS=1 python -m experiments.large_history   # results/large_history.md
    SMOKE_TEST=1 python -m experiments.large_history --out /tmp/lh.md       # small and quick
    python -m experiments.large_history --threshold --out experiments/results/large_history_threshold.md
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import bo_loop as bl
from bo_loop.infer import infer_space
from bo_loop.models.fitting import fit_model
from bo_loop.models.recommend import predict_rows, recommend_point
from bo_loop.models.surrogates import gp

SMOKE = os.environ.get("SMOKE_TEST") == "1"
PRODUCTION_ROWS = 300 if SMOKE else 2000
SYNTHETIC_ROWS = 600 if SMOKE else 10_000
#: Small enough in smoke mode that the subset path runs too.
SMOKE_GP = {"exact_max_rows": 200, "fit_rows": 100, "condition_rows": 250} if SMOKE else {}
EXACT_GP = {**SMOKE_GP, "exact_max_rows": None}
HELD_OUT = 0.2
RESULTS = Path(__file__).resolve().parent / "results" / "large_history.md"


def production_data(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Issue 5's production rows, as tests/test_historical.py builds them: a yield capped at 100."""
    rng = np.random.default_rng(seed)
    pressure = rng.integers(2, 10, n)
    temperature = rng.integers(10, 30, n)
    speed = rng.weibull(2.0, n)
    yield_ = np.minimum(pressure**2 + temperature * speed + 10, 100.0)
    return pd.DataFrame(
        {"Pressure": pressure, "Temperature": temperature, "Speed": speed, "yield": yield_}
    )


def synthetic_data(n: int, seed: int = 0) -> pd.DataFrame:
    """A noisy mixed-space response: two reals, an integer 0-4, a categorical A/B/C."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.uniform(0, 1, n),
            "x2": rng.uniform(0, 1, n),
            "k": rng.integers(0, 5, n),
            "c": rng.choice(["A", "B", "C"], n),
        }
    )
    frame["y"] = (
        np.sin(6 * frame.x1)
        + (frame.x2 - 0.3) ** 2
        + 0.1 * frame.k
        + (frame.c == "B") * 0.5
        + rng.normal(0, 0.05, n)
    )
    return frame


def timed(label: str, rows: list[dict[str, Any]], f: Callable[[], Any]) -> Any:
    """Run ``f``, append its wall and CPU seconds (and the load average) to ``rows``."""
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    result = f()
    row = {
        "operation": label,
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "load": load,
    }
    rows.append(row)
    print(
        f"{label:60s} wall {row['wall_s']:7.2f} s  cpu {row['cpu_s']:7.2f} s  load {load:.1f}",
        flush=True,
    )
    return result


def production_timings(
    storage: str,
    rows: list[dict[str, Any]],
    data: pd.DataFrame,
    label: str,
    settings: dict[str, Any],
) -> None:
    """Case 1 for one GP: import, read, fit, recommend and predict, each timed apart."""
    n = len(data)
    name = f"plant-{label.split()[0]}"
    campaign = timed(
        f"{n} rows: from_dataframe ({label})",
        rows,
        lambda: bl.Campaign.from_dataframe(
            name, data, "yield", storage=storage, surrogate_settings=settings
        ),
    )
    config, trials = timed(f"{n} rows: read config + trials", rows, campaign._read)
    fitted = timed(
        f"{n} rows: fit ({label})",
        rows,
        lambda: fit_model(
            config.space, config.objective, trials, config.seed, "gp", config.surrogate_settings
        ),
    )
    timed(
        f"{n} rows: recommend_point on the fitted model ({label})",
        rows,
        lambda: recommend_point(fitted),
    )
    timed(f"{n} rows: predict_rows on all rows ({label})", rows, lambda: predict_rows(fitted, data))
    if label == "default GP":
        timed(f"{n} rows: Campaign.recommend() end to end ({label})", rows, campaign.recommend)
        timed(
            f"{n} rows: Campaign.predict(all rows) end to end ({label})",
            rows,
            lambda: campaign.predict(data),
        )


#: Sizes at which ``--threshold`` times the exact GP's fit (where ``exact_max_rows`` should be).
THRESHOLD_SIZES = (250, 500, 1000) if not SMOKE else (100, 200)


def threshold_timings(storage: str, rows: list[dict[str, Any]]) -> None:
    """The exact GP's fit on the first n production rows, and the default GP's at the same n."""
    for n in THRESHOLD_SIZES:
        data = production_data(n)
        for label, settings in (("exact GP", EXACT_GP), ("subset GP", {"exact_max_rows": 2})):
            campaign = bl.Campaign.from_dataframe(
                f"t{n}-{label.split()[0]}", data, "yield", storage=storage,
                surrogate_settings={**SMOKE_GP, **settings},
            )  # fmt: skip
            timed(f"{n} rows: fitted_model ({label})", rows, campaign.fitted_model)


def timing_cases(storage: str, rows: list[dict[str, Any]]) -> None:
    """Case 1 and 3: the operations on 2,000 and 10,000 rows."""
    data = production_data(PRODUCTION_ROWS)
    production_timings(storage, rows, data, "default GP", SMOKE_GP)
    production_timings(storage, rows, data, "exact GP", EXACT_GP)

    big = synthetic_data(SYNTHETIC_ROWS)
    m = len(big)
    space: list[bl.Real | bl.Integer | bl.Categorical] = [
        bl.Real("x1", 0, 1),
        bl.Real("x2", 0, 1),
        bl.Integer("k", 0, 4),
        bl.Categorical("c", ("A", "B", "C")),
    ]

    def import_big() -> bl.Campaign:
        c = bl.Campaign.create("big", space, "y", storage=storage, surrogate_settings=SMOKE_GP)
        c.add_observations(big)
        return c

    timed(f"{m} rows: create + add_observations", rows, import_big)
    timed(f"{m} rows: Campaign.load", rows, lambda: bl.Campaign.load("big", storage=storage))
    frame = timed(
        f"{m} rows: Campaign.load + to_dataframe",
        rows,
        lambda: bl.Campaign.load("big", storage=storage).to_dataframe(),
    )
    assert len(frame) == m
    campaign = bl.Campaign.load("big", storage=storage)
    timed(f"{m} rows: ask(1)", rows, lambda: campaign.ask(1))
    timed(f"{m} rows: ask(4) (qLogNEI, 1 pending)", rows, lambda: campaign.ask(4))


#: Subset sizes compared by ``--sweep`` (hyperparameters fitted on, posterior conditioned on).
SWEEP = ((200, 2000), (400, 2000), (800, 2000), (300, 1000))


def accuracy_case(storage: str, sweep: bool = False) -> list[dict[str, Any]]:
    """Case 2: held-out RMSE and log predictive density, subset GP against the exact GP."""
    data = production_data(PRODUCTION_ROWS)
    rng = np.random.default_rng(1)
    test = rng.random(len(data)) < HELD_OUT
    train, held = data[~test], data[test]
    out = []
    variants: list[tuple[str, dict[str, Any]]] = [
        ("default GP (subset)", SMOKE_GP),
        ("exact GP", EXACT_GP),
    ]
    if sweep and not SMOKE:
        variants += [
            (
                f"subset: fit_rows={f}, condition_rows={c}",
                {"exact_max_rows": 2, "fit_rows": f, "condition_rows": c},
            )
            for f, c in SWEEP
        ]
    for i, (label, settings) in enumerate(variants):
        # The space of all rows, so that every held-out row lies inside it.
        campaign = bl.Campaign.create(
            f"split-{i}",
            infer_space(data, "yield"),
            "yield",
            storage=storage,
            surrogate_settings=settings,
        )
        campaign.add_observations(train)
        cpu = time.process_time()
        fitted = campaign.fitted_model()
        records = held[fitted.space.names].to_dict("records")
        X = fitted.space.encode([fitted.space.validate(r) for r in records])
        mean, sd = fitted.mean_sd(X, observation_noise=True)
        seconds = time.process_time() - cpu
        y = torch.tensor(held["yield"].to_numpy(), dtype=torch.float64)
        z = (y - mean) / sd
        lpd = (-0.5 * z**2 - torch.log(sd) - 0.5 * math.log(2 * math.pi)).mean()
        row = {
            "model": label,
            "train": len(train),
            "test": len(held),
            "rmse": float((y - mean).pow(2).mean().sqrt()),
            "mlpd": float(lpd),
            "coverage_2sd": float((z.abs() <= 2).double().mean()),
            "cpu_s": seconds,
        }
        print(row, flush=True)
        out.append(row)
    return out


def write_report(
    path: Path, rows: list[dict[str, Any]], accuracy: list[dict[str, Any]], argv: list[str]
) -> None:
    lines = [
        "# Large histories (issue 14, part 3)",
        "",
        f"Written by `{'SMOKE_TEST=1 ' if SMOKE else ''}nice -n 10 env OMP_NUM_THREADS=1 "
        f"python -m experiments.large_history{''.join(' ' + a for a in argv)}` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs shared with other sessions: wall seconds are inflated by their "
        "load, CPU seconds (this process, one thread) are what an idle machine would take.",
        "",
        f"Default GP settings: {gp.DEFAULT_SETTINGS if not SMOKE else SMOKE_GP}.",
        "",
        "| operation | wall s | CPU s | load avg (1 min) |",
        "|---|---:|---:|---:|",
        *(
            f"| {r['operation']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['load']:.1f} |"
            for r in rows
        ),
        "",
    ]
    if accuracy:
        lines += [
            f"## Accuracy on held-out rows ({HELD_OUT:.0%} of the production rows, seeded split)",
            "",
            "| model | train rows | test rows | RMSE | mean log pred. density | ±2 sd coverage | "
            "fit + predict CPU s |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *(
                f"| {a['model']} | {a['train']} | {a['test']} | {a['rmse']:.4g} | "
                f"{a['mlpd']:.4g} | {a['coverage_2sd']:.3f} | {a['cpu_s']:.2f} |"
                for a in accuracy
            ),
            "",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS, help="Markdown report to write.")
    parser.add_argument("--skip-accuracy", action="store_true", help="Only the timings.")
    parser.add_argument("--skip-timing", action="store_true", help="Only the accuracy.")
    parser.add_argument("--sweep", action="store_true", help=f"Accuracy of subset sizes {SWEEP}.")
    parser.add_argument(
        "--threshold", action="store_true",
        help=f"Only time exact and subset fits at {THRESHOLD_SIZES} rows.",
    )  # fmt: skip
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        accuracy: list[dict[str, Any]] = []
        if args.threshold:
            threshold_timings(f"sqlite:///{tmp}/threshold.db", rows)
        else:
            if not args.skip_timing:
                timing_cases(f"sqlite:///{tmp}/timing.db", rows)
            if not args.skip_accuracy:
                accuracy = accuracy_case(f"sqlite:///{tmp}/acc.db", args.sweep)
    names = ("sweep", "skip_accuracy", "skip_timing", "threshold")
    flags = [f"--{k.replace('_', '-')}" for k in names if getattr(args, k)]
    write_report(args.out, rows, accuracy, flags)


if __name__ == "__main__":
    main()
