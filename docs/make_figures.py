"""Draw the README's figures: one PNG of each kind of plot in bo_loop.plotting.

Run from the repository root (a few minutes on 2 cores)::

    .venv/bin/python docs/make_figures.py

- ``slice.png`` and ``convergence.png``: workflow (b), 30 evaluations of
  f(x) = x sin x + x cos 2x on [0, 10] with the DNGO surrogate (as in notebooks/01_quickstart).
- ``contour.png``, ``importance.png`` and ``cross_validation.png``: workflow (a), 2,000 rows of
  simulated production data with a DNGO surrogate (as in notebooks/02_historical_data).
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bo_loop as bl
from bo_loop import plotting
from bo_loop.storage import dispose

DOCS = Path(__file__).resolve().parent
DPI = 110


def forrester(x: float) -> float:
    return x * math.sin(x) + x * math.cos(2 * x)


def true_yield(pressure: np.ndarray, temperature: np.ndarray, speed: np.ndarray) -> np.ndarray:
    return np.minimum(pressure**2 + temperature * speed + 10, 100)


def quickstart(storage: str) -> None:
    campaign = bl.Campaign.create(
        "quickstart", [bl.Real("x", 0.0, 10.0)], bl.Objective("f", goal="minimize"),
        storage=storage, surrogate="dngo", seed=1,
    )  # fmt: skip
    for _ in range(30):
        (trial,) = campaign.ask()
        campaign.tell(trial.number, forrester(trial.params["x"]))
    fitted = campaign.fitted_model()
    fig = plotting.plot_slice(fitted, "x", truth=lambda p: forrester(p["x"]), band=1.0)
    fig.savefig(DOCS / "slice.png", dpi=DPI)
    plotting.plot_convergence(campaign).savefig(DOCS / "convergence.png", dpi=DPI)
    best = campaign.best()
    assert best is not None
    print(f"quickstart: best f = {best.value:.4f} at x = {best.params['x']:.4f}")


def historical(storage: str) -> None:
    rng = np.random.default_rng(0)
    n = 2000
    pressure, temperature = rng.integers(2, 10, n), rng.integers(10, 30, n)
    speed = rng.weibull(2.0, n)
    data = pd.DataFrame(
        {"Pressure": pressure, "Temperature": temperature, "Speed": speed,
         "yield": true_yield(pressure, temperature, speed)}
    )  # fmt: skip
    campaign = bl.Campaign.from_dataframe("plant", data, "yield", storage=storage, surrogate="dngo")
    fitted = campaign.fitted_model()
    plotting.plot_contour(fitted, "Temperature", "Speed").savefig(DOCS / "contour.png", dpi=DPI)
    plotting.plot_importance(fitted).savefig(DOCS / "importance.png", dpi=DPI)
    comparison = campaign.cross_validate(folds=5, max_points=400)
    print(comparison)
    plotting.plot_cross_validation(comparison).savefig(DOCS / "cross_validation.png", dpi=DPI)


def main() -> None:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{tmp}/figures.db"
        quickstart(storage)
        historical(storage)
        dispose(storage)
    print(f"figures written to {DOCS} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
