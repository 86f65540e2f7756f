"""Benchmark problems of issue 4, each with a search space, a goal, a budget and a known optimum.

A parameter is a plain dict with every key present, so that adapters never need `.get`:
``{"name": str, "type": "real" | "integer" | "categorical", "low": float | int | None,
"high": float | int | None, "log": bool, "choices": list[str] | None}``.
Bounds are inclusive for integers and for reals.

Regret is measured on the noise-free value: the point a method believes is best (the best
*observed*, noisy value) is scored by its true value, ``|true(best observed) - optimum|``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

Params = Mapping[str, Any]


def real(name: str, low: float, high: float, log: bool = False) -> dict[str, Any]:
    """A continuous parameter on ``[low, high]``, searched on a log scale when ``log``."""
    return {"name": name, "type": "real", "low": low, "high": high, "log": log, "choices": None}


def integer(name: str, low: int, high: int) -> dict[str, Any]:
    """An integer parameter taking every value in ``low, ..., high``."""
    return {
        "name": name,
        "type": "integer",
        "low": low,
        "high": high,
        "log": False,
        "choices": None,
    }


def categorical(name: str, choices: Sequence[str]) -> dict[str, Any]:
    """An unordered parameter taking one of ``choices``."""
    return {
        "name": name,
        "type": "categorical",
        "low": None,
        "high": None,
        "log": False,
        "choices": list(choices),
    }


@dataclass(frozen=True)
class Problem:
    """One benchmark problem: what to search, which way, for how long, and where the best lies."""

    name: str
    """Short identifier used in result files and tables."""
    params: list[dict[str, Any]]
    """The search space, one dict per parameter (see the module docstring)."""
    goal: Literal["minimize", "maximize"]
    """Whether smaller or larger outcomes are better."""
    budget: int
    """Number of evaluations each method gets."""
    optimum: float
    """Best noise-free value over the search space."""
    function: Callable[[Params], float]
    """The noise-free objective."""
    noise_sd: float = 0.0
    """Standard deviation of the Gaussian observation noise added by `evaluate`."""

    def true_value(self, params: Params) -> float:
        """Noise-free objective at ``params``."""
        return float(self.function(params))

    def evaluate(self, params: Params, rng: np.random.Generator | None = None) -> float:
        """One observation at ``params``: the true value plus noise drawn from ``rng``.

        Without ``rng``, or on a noise-free problem, the observation is the true value.
        """
        value = self.true_value(params)
        if rng is not None and self.noise_sd > 0:
            value += float(rng.normal(0.0, self.noise_sd))
        return value

    def regret(self, params: Params) -> float:
        """Distance of the true value at ``params`` from the optimum."""
        return abs(self.true_value(params) - self.optimum)

    def regret_curve(self, observed: Sequence[float], true: Sequence[float]) -> list[float]:
        """Best-so-far regret after each evaluation.

        Args:
            observed: The (noisy) observations, in evaluation order.
            true: The noise-free values at the same points.

        Returns:
            For each prefix, ``|true[j] - optimum|`` where ``j`` indexes the best observation
            so far (ties keep the earliest).
        """
        if len(observed) != len(true):
            raise ValueError(
                f"observed and true must have equal length, got {len(observed)} and {len(true)}"
            )
        sign = 1.0 if self.goal == "minimize" else -1.0
        curve: list[float] = []
        best_j = -1
        for j, y in enumerate(observed):
            if best_j < 0 or sign * y < sign * observed[best_j]:
                best_j = j
            curve.append(abs(true[best_j] - self.optimum))
        return curve


# --- x sin(x) + x cos(2x) on [0, 10] -------------------------------------------------------------


def _xsin(p: Params) -> float:
    x = float(p["x"])
    return x * math.sin(x) + x * math.cos(2.0 * x)


# Global minimum near x = 4.7954: found on a grid of 2,000,001 points over [0, 10], then polished
# with scipy.optimize.minimize_scalar (bounded, xatol=1e-12): x* = 4.795408686585724.
XSIN_OPTIMUM = -9.508350440633095

# --- Branin on [-5, 10] x [0, 15] ----------------------------------------------------------------


def _branin(p: Params) -> float:
    x1, x2 = float(p["x1"]), float(p["x2"])
    b = 5.1 / (4.0 * math.pi**2)
    c = 5.0 / math.pi
    t = 1.0 / (8.0 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6.0) ** 2 + 10.0 * (1.0 - t) * math.cos(x1) + 10.0


# Attained at (-pi, 12.275), (pi, 2.275) and (9.42478, 2.475).
BRANIN_OPTIMUM = 0.39788735772973816

# --- Hartmann6 on [0, 1]^6 -----------------------------------------------------------------------

_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array(
    [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def _hartmann6(p: Params) -> float:
    x = np.array([float(p[f"x{i}"]) for i in range(1, 7)])
    inner = np.sum(_H6_A * (x - _H6_P) ** 2, axis=1)
    return float(-np.sum(_H6_ALPHA * np.exp(-inner)))


# At (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573), polished with L-BFGS-B.
HARTMANN6_OPTIMUM = -3.322368011415514

# --- Mixed: a reaction's impurity, with a log-scale, an integer and a categorical input ----------

# Each solvent moves the best concentration and the best number of wash cycles, and sets the floor.
_SOLVENTS: dict[str, tuple[float, int, float]] = {
    # solvent: (log10 of best concentration, best cycles, lowest impurity reachable)
    "water": (-2.0, 4, 0.6),
    "ethanol": (-0.5, 7, 0.0),
    "toluene": (0.3, 12, 0.3),
    "dmso": (-1.2, 9, 1.0),
}


def _mixed(p: Params) -> float:
    log_c_best, cycles_best, floor = _SOLVENTS[str(p["solvent"])]
    cycles_off = int(p["cycles"]) - cycles_best
    # The best temperature drifts with the cycle count, so the inputs cannot be tuned one at a time.
    t_best = 60.0 + 4.0 * cycles_off
    return (
        floor
        + (math.log10(float(p["concentration"])) - log_c_best) ** 2
        + (cycles_off / 3.0) ** 2
        + ((float(p["temperature"]) - t_best) / 25.0) ** 2
    )


# Attained at solvent="ethanol", concentration=10**-0.5, cycles=7, temperature=60.
MIXED_OPTIMUM = 0.0
MIXED_NOISE_SD = 0.1

# --- Production yield, unclipped -----------------------------------------------------------------


def _yield(p: Params) -> float:
    return float(p["pressure"]) ** 2 + float(p["temperature"]) * float(p["speed"]) + 10.0


# Attained at pressure=9, temperature=29, speed=3: 81 + 87 + 10.
YIELD_OPTIMUM = 178.0


PROBLEMS: dict[str, Problem] = {
    "xsin": Problem(
        name="xsin",
        params=[real("x", 0.0, 10.0)],
        goal="minimize",
        budget=30,
        optimum=XSIN_OPTIMUM,
        function=_xsin,
    ),
    "branin": Problem(
        name="branin",
        params=[real("x1", -5.0, 10.0), real("x2", 0.0, 15.0)],
        goal="minimize",
        budget=30,
        optimum=BRANIN_OPTIMUM,
        function=_branin,
    ),
    "hartmann6": Problem(
        name="hartmann6",
        params=[real(f"x{i}", 0.0, 1.0) for i in range(1, 7)],
        goal="minimize",
        budget=60,
        optimum=HARTMANN6_OPTIMUM,
        function=_hartmann6,
    ),
    "mixed": Problem(
        name="mixed",
        params=[
            real("temperature", 20.0, 120.0),
            real("concentration", 1e-3, 10.0, log=True),
            integer("cycles", 1, 20),
            categorical("solvent", list(_SOLVENTS)),
        ],
        goal="minimize",
        budget=40,
        optimum=MIXED_OPTIMUM,
        function=_mixed,
        noise_sd=MIXED_NOISE_SD,
    ),
    "yield": Problem(
        name="yield",
        params=[integer("pressure", 2, 9), integer("temperature", 10, 29), real("speed", 0.0, 3.0)],
        goal="maximize",
        budget=20,
        optimum=YIELD_OPTIMUM,
        function=_yield,
    ),
}
"""Every problem of issue 4, by name, in the order the results table lists them."""


def smoke(problem: Problem, budget: int = 6) -> Problem:
    """The same problem with a tiny budget, for `--smoke` runs and tests."""
    return replace(problem, budget=min(budget, problem.budget))
