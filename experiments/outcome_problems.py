"""Benchmark problems with several outcomes (issue 12), and their scores.

Three standard problems, all noise-free, on the unit square or cube:

* ``branin_currin``: minimise the rescaled Branin function and the Currin function together
  (Belakaria, Deshwal & Doppa, "Max-value Entropy Search for Multi-Objective Bayesian
  Optimization", NeurIPS 2019; BoTorch's ``test_functions.multi_objective.BraninCurrin``, whose
  reference point (18, 6) is used). Score: ``log10(max_hv - hv)``, the hypervolume
  difference of the observed outcomes to the true Pareto front's, both against that fixed
  reference point.
* ``dtlz2``: minimise DTLZ2's two objectives over six inputs (Deb, Thiele, Laumanns & Zitzler,
  "Scalable Test Problems for Evolutionary Multiobjective Optimization", 2005; BoTorch's
  ``DTLZ2(dim=6, num_objectives=2)``, reference point (1.1, 1.1)), 40 evaluations: the
  higher-dimensional check of the optimiser's settings. Same score as ``branin_currin``.
* ``dtlz2_offset``: the same, with the Pareto set at x2..x6 = (0.25, 0.65, 0.35, 0.7, 0.3)
  instead of the box's centre, where Ax's first point always lands (added 2026-12-03, seventh
  round, to tell Ax's centre point from its model). Same front, reference point and score.
* ``gramacy``: minimise ``x1 + x2`` subject to two outcome constraints,
  ``c1 = 1.5 - x1 - 2 x2 - 0.5 sin(2 pi (x1^2 - 2 x2)) <= 0`` and ``c2 = x1^2 + x2^2 - 1.5 <= 0``
  (Gramacy et al., "Modeling an Augmented Lagrangian for Blackbox Constrained Optimization",
  Technometrics 58(1), 2016, section 4.1; BoTorch's ``ConstrainedGramacy``). About 46 % of the
  square is feasible; the best feasible point lies on the boundary of ``c1``. Score: feasible
  regret, ``f(best feasible observed point) - f*``, infinite while no feasible point has been
  observed (medians sort infinity last; the report counts the runs that found one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from experiments.problems import Params, real

Outcomes = Mapping[str, float]


@dataclass(frozen=True)
class OutcomeProblem:
    """A problem whose evaluation returns several named outcomes."""

    name: str
    """Short identifier used in result files and tables."""
    params: list[dict[str, Any]]
    """The search space, in the format of `experiments.problems` (reals only here)."""
    objectives: tuple[tuple[str, Literal["minimize", "maximize"]], ...]
    """Each objective outcome's name and goal."""
    constraints: tuple[tuple[str, float], ...]
    """Each constrained outcome's name and upper bound: feasible when ``outcome <= bound``."""
    budget: int
    """Evaluations each method gets."""
    function: Callable[[Params], dict[str, float]]
    """The noise-free outcomes at a point."""
    reference_point: tuple[float, ...] | None = None
    """Hypervolume reference point, one value per objective (multi-objective problems only)."""
    max_hypervolume: float | None = None
    """The true Pareto front's hypervolume against `reference_point`."""
    optimum: float | None = None
    """The best feasible objective value (single-objective problems only)."""

    def evaluate(self, params: Params) -> dict[str, float]:
        return {k: float(v) for k, v in self.function(params).items()}

    def feasible(self, outcomes: Outcomes) -> bool:
        return all(outcomes[name] <= bound for name, bound in self.constraints)


def hypervolume_2d(points: np.ndarray, reference: Sequence[float]) -> float:
    """Hypervolume dominated by ``points`` (``n x 2``, both minimised) up to ``reference``.

    Points that do not strictly dominate the reference add nothing.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    inside = points[(points[:, 0] < reference[0]) & (points[:, 1] < reference[1])]
    inside = inside[np.lexsort((inside[:, 1], inside[:, 0]))]
    volume, ceiling = 0.0, float(reference[1])
    for f1, f2 in inside:
        if f2 < ceiling:  # not dominated by a point with smaller f1
            volume += (reference[0] - f1) * (ceiling - f2)
            ceiling = f2
    return volume


def _minimised(problem: OutcomeProblem, outcomes: Outcomes) -> list[float]:
    return [outcomes[n] if goal == "minimize" else -outcomes[n] for n, goal in problem.objectives]


def log_hypervolume_difference_curve(
    problem: OutcomeProblem, outcomes: Sequence[Outcomes]
) -> list[float]:
    """``log10(max_hv - hv(first k outcomes))`` for each k (infeasible outcomes excluded)."""
    if problem.reference_point is None or problem.max_hypervolume is None:
        raise ValueError(f"{problem.name} has no reference point: it is not multi-objective")
    curve, kept = [], []
    for o in outcomes:
        if problem.feasible(o):
            kept.append(_minimised(problem, o))
        hv = hypervolume_2d(np.array(kept), problem.reference_point) if kept else 0.0
        curve.append(math.log10(max(problem.max_hypervolume - hv, 1e-12)))
    return curve


def feasible_regret_curve(problem: OutcomeProblem, outcomes: Sequence[Outcomes]) -> list[float]:
    """The regret of the best feasible outcome so far, ``inf`` while none is feasible."""
    if problem.optimum is None or len(problem.objectives) != 1:
        raise ValueError(f"{problem.name} has no single optimum: it is multi-objective")
    ((name, goal),) = problem.objectives
    sign = 1.0 if goal == "minimize" else -1.0
    best, curve = math.inf, []
    for o in outcomes:
        if problem.feasible(o):
            best = min(best, sign * o[name])
        curve.append(best - sign * problem.optimum)
    return curve


# --- Branin-Currin -------------------------------------------------------------------------------


def _branin_currin(p: Params) -> dict[str, float]:
    x1, x2 = float(p["x1"]), float(p["x2"])
    u, v = 15.0 * x1 - 5.0, 15.0 * x2  # Branin's own domain
    b, c, t = 5.1 / (4.0 * math.pi**2), 5.0 / math.pi, 1.0 / (8.0 * math.pi)
    branin = (v - b * u**2 + c * u - 6.0) ** 2 + 10.0 * (1.0 - t) * math.cos(u) + 10.0
    decay = 1.0 if x2 == 0.0 else 1.0 - math.exp(-1.0 / (2.0 * x2))
    ratio = (2300 * x1**3 + 1900 * x1**2 + 2092 * x1 + 60) / (
        100 * x1**3 + 500 * x1**2 + 4 * x1 + 20
    )
    return {"branin": branin, "currin": decay * ratio}


# The true front's hypervolume against (18, 6) lies in [59.4004, 59.4082]: the lower bound is the
# hypervolume of the non-dominated points of a 6001 x 6001 grid over [0, 0.15] x [0.75, 1] (the
# box holding the Pareto set); the upper bound integrates g(t) = min currin s.t. branin <= t,
# found by SLSQP from the best grid point at 8,000 values of t, taking the right end of each step.
# The upper bound is used, so every method's difference is positive and none is flattered.
# (BoTorch's `BraninCurrin._max_hv`, 59.3601, is an NSGA-II estimate below the grid's bound.)
BRANIN_CURRIN_MAX_HV = 59.4082

# --- DTLZ2 ---------------------------------------------------------------------------------------

DTLZ2_DIM = 6
#: Where ``dtlz2_offset``'s distance variables x2..x6 put its Pareto set (DTLZ2's own: 0.5 each,
#: the box's centre, which a design with a centre point measures first). Fixed, not random, so
#: that every method and seed sees the same problem.
DTLZ2_OFFSET_SET = (0.25, 0.65, 0.35, 0.7, 0.3)


def _dtlz2_at(p: Params, centre: Sequence[float]) -> dict[str, float]:
    x = [float(p[f"x{i + 1}"]) for i in range(DTLZ2_DIM)]
    g = sum((xi - ci) ** 2 for xi, ci in zip(x[1:], centre, strict=True))
    angle = x[0] * math.pi / 2.0
    return {"f1": (1.0 + g) * math.cos(angle), "f2": (1.0 + g) * math.sin(angle)}


def _dtlz2(p: Params) -> dict[str, float]:
    return _dtlz2_at(p, (0.5,) * (DTLZ2_DIM - 1))


def _dtlz2_offset(p: Params) -> dict[str, float]:
    return _dtlz2_at(p, DTLZ2_OFFSET_SET)


# The Pareto front is the quarter circle f1^2 + f2^2 = 1 (g = 0): its hypervolume against
# (1.1, 1.1) is the square's 1.21 less the quarter disc's pi / 4.
DTLZ2_MAX_HV = 1.21 - math.pi / 4.0

# --- Gramacy's constrained toy problem -----------------------------------------------------------


def _gramacy(p: Params) -> dict[str, float]:
    x1, x2 = float(p["x1"]), float(p["x2"])
    return {
        "f": x1 + x2,
        "c1": 1.5 - x1 - 2.0 * x2 - 0.5 * math.sin(2.0 * math.pi * (x1**2 - 2.0 * x2)),
        "c2": x1**2 + x2**2 - 1.5,
    }


# At (0.1954, 0.4044): the best feasible point of a 4001 x 4001 grid, polished by SLSQP from the
# 200 best feasible grid points (BoTorch's `ConstrainedGramacy._optimal_value` is 0.5998).
GRAMACY_OPTIMUM = 0.5997880520099849


def branin_currin(budget: int = 30) -> OutcomeProblem:
    return OutcomeProblem(
        name="branin_currin",
        params=[real("x1", 0.0, 1.0), real("x2", 0.0, 1.0)],
        objectives=(("branin", "minimize"), ("currin", "minimize")),
        constraints=(),
        budget=budget,
        function=_branin_currin,
        reference_point=(18.0, 6.0),
        max_hypervolume=BRANIN_CURRIN_MAX_HV,
    )


def dtlz2(budget: int = 40) -> OutcomeProblem:
    return OutcomeProblem(
        name="dtlz2",
        params=[real(f"x{i + 1}", 0.0, 1.0) for i in range(DTLZ2_DIM)],
        objectives=(("f1", "minimize"), ("f2", "minimize")),
        constraints=(),
        budget=budget,
        function=_dtlz2,
        reference_point=(1.1, 1.1),
        max_hypervolume=DTLZ2_MAX_HV,
    )


def dtlz2_offset(budget: int = 40) -> OutcomeProblem:
    """DTLZ2 with its Pareto set moved off the box's centre (`DTLZ2_OFFSET_SET`); same front."""
    return OutcomeProblem(
        name="dtlz2_offset",
        params=[real(f"x{i + 1}", 0.0, 1.0) for i in range(DTLZ2_DIM)],
        objectives=(("f1", "minimize"), ("f2", "minimize")),
        constraints=(),
        budget=budget,
        function=_dtlz2_offset,
        reference_point=(1.1, 1.1),
        max_hypervolume=DTLZ2_MAX_HV,
    )


def gramacy(budget: int = 30) -> OutcomeProblem:
    return OutcomeProblem(
        name="gramacy",
        params=[real("x1", 0.0, 1.0), real("x2", 0.0, 1.0)],
        objectives=(("f", "minimize"),),
        constraints=(("c1", 0.0), ("c2", 0.0)),
        budget=budget,
        function=_gramacy,
        optimum=GRAMACY_OPTIMUM,
    )


OUTCOME_PROBLEMS: dict[str, Callable[[int], OutcomeProblem]] = {
    "branin_currin": branin_currin,
    "gramacy": gramacy,
    "dtlz2": dtlz2,
    "dtlz2_offset": dtlz2_offset,
}
"""Each problem's constructor by name; the argument is the budget."""


def score_curve(problem: OutcomeProblem, outcomes: Sequence[Outcomes]) -> list[float]:
    """The problem's score after each evaluation (lower is better for both problems)."""
    if len(problem.objectives) > 1:
        return log_hypervolume_difference_curve(problem, outcomes)
    return feasible_regret_curve(problem, outcomes)
