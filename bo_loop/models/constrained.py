"""The model side of parameter constraints and fixed parameters: sampling, optimising, repairing.

A `Region` is the part of the encoded space a proposal may come from: the space, its linear
constraints in the encoding (`constraints.to_unit`) and the columns held fixed for one ask.
Fixed columns are taken out of every problem (their terms move to the right-hand side), so the
samplers and optimisers only ever see the free columns.

Integers and categoricals are searched on a continuous relaxation wherever BoTorch cannot keep
them on their grid under the constraints (an integer in an equality constraint); every point is
then rounded and `Region.repair` re-projects the constrained real columns (or tries the integers'
rounding neighbours) until the decoded point satisfies every constraint.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.fixed_feature import FixedFeatureAcquisitionFunction
from botorch.exceptions.warnings import BadInitialCandidatesWarning, OptimizationWarning
from botorch.optim import optimize_acqf
from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating
from botorch.utils.sampling import get_polytope_samples
from scipy.optimize import minimize
from torch import Tensor

from bo_loop.constraints import LinearConstraint, UnitConstraint, to_unit
from bo_loop.exceptions import SpaceError
from bo_loop.models.acquisition import one_at_a_time
from bo_loop.space import Categorical, Integer, Real, Space

#: Burn-in and thinning of the hit-and-run sampler: enough to forget the start in a few
#: dimensions, cheap enough for every ask (a few milliseconds).
_BURNIN, _THINNING = 200, 8
#: Integer columns whose rounding neighbours `repair` tries, at most; grids of at most
#: _FULL_GRID values are tried whole, while the combinations stay within _MAX_COMBINATIONS.
_MAX_NEIGHBOUR_DIMS = 6
_FULL_GRID = 64
_MAX_COMBINATIONS = 4096

BotorchConstraint = tuple[Tensor, Tensor, float]


@dataclass
class Region:
    """Where proposals may lie: the space, its constraints, and the columns fixed for this ask."""

    space: Space
    constraints: Sequence[LinearConstraint]
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.unit: list[UnitConstraint] = to_unit(self.space, self.constraints)
        self.fixed_columns: dict[int, float] = {}
        for name, value in self.fixed.items():
            p = self.space[name]
            encoded = p.index(value) if isinstance(p, Categorical) else p.to_unit(float(value))
            self.fixed_columns[self.space.names.index(name)] = float(encoded)
        self.free = [i for i in range(self.space.dim) if i not in self.fixed_columns]

    # -- the problem over the free columns ---------------------------------------------------

    def reduced(self) -> tuple[list[BotorchConstraint], list[BotorchConstraint]]:
        """BoTorch's (indices, coefficients, rhs) inequalities (``>=``) and equalities over the
        free columns (indices into ``self.free``)."""
        where = {c: j for j, c in enumerate(self.free)}
        ineq, eq = [], []
        for u in self.unit:
            idx, coef, rhs = [], [], u.rhs
            for i, a in zip(u.indices, u.coefficients, strict=True):
                if i in self.fixed_columns:
                    rhs -= a * self.fixed_columns[i]
                else:
                    idx.append(where[i])
                    coef.append(a)
            if not idx:  # fully fixed: `check_fixed` made sure it holds
                continue
            indices = torch.tensor(idx, dtype=torch.long)
            coefs = torch.tensor(coef, dtype=torch.float64)
            if u.op == "==":
                eq.append((indices, coefs, rhs))
            elif u.op == ">=":
                ineq.append((indices, coefs, rhs))
            else:
                ineq.append((indices, -coefs, -rhs))
        return ineq, eq

    def expand(self, Z: Tensor) -> Tensor:
        """Free-column points (``n x len(free)``) as full encoded points with the fixed values."""
        X = torch.empty(Z.shape[0], self.space.dim, dtype=torch.float64)
        X[:, self.free] = Z.to(torch.float64)
        for i, v in self.fixed_columns.items():
            X[:, i] = v
        return X

    # -- sampling ----------------------------------------------------------------------------

    def sample(self, n: int, seed: int) -> Tensor:
        """``n`` points spread over the region (hit-and-run, seeded), rounded and repaired.

        Returns:
            An ``n x d`` float64 tensor in the space's encoding; every row satisfies every
            constraint after decoding.
        """
        bounds = self.space.bounds()[:, self.free]
        ineq, eq = self.reduced()
        if not ineq and not eq:
            Z = bounds[0] + (bounds[1] - bounds[0]) * torch.rand(
                n,
                len(self.free),
                dtype=torch.float64,
                generator=torch.Generator().manual_seed(seed),
            )
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                Z = get_polytope_samples(
                    n, bounds, inequality_constraints=ineq or None,
                    equality_constraints=eq or None, seed=seed, n_burnin=_BURNIN,
                    n_thinning=_THINNING,
                )  # fmt: skip
        return self.repair(self.expand(Z))

    # -- checking and repairing --------------------------------------------------------------

    def holds(self, x: Tensor) -> bool:
        """Whether the encoded point decodes to a point satisfying every constraint."""
        params = self.space.decode(x.reshape(1, -1))[0]
        return all(c.holds(params) for c in self.constraints)

    def repair(self, X: Tensor) -> Tensor:
        """Round each row onto the grids and move it the least way back into the region.

        Raises:
            SpaceError: no rounding of a row's integers admits a point satisfying the constraints.
        """
        rows = []
        for x in X.to(torch.float64):
            for i, v in self.fixed_columns.items():
                x[i] = v
            rows.append(self._repair_one(x))
        return torch.stack(rows) if rows else X.to(torch.float64)

    def _repair_one(self, x: Tensor) -> Tensor:
        space = self.space
        rounded = space.round_to_grid(x.unsqueeze(0))[0]
        if self.holds(rounded):
            return rounded
        projected = self._project(rounded)
        if projected is not None:
            return projected
        # Rounding the integers broke a constraint the reals cannot fix: try their neighbours.
        dims = [
            i for i, p in enumerate(space.parameters)
            if isinstance(p, Integer) and i not in self.fixed_columns
            and any(i in u.indices for u in self.unit)
        ][:_MAX_NEIGHBOUR_DIMS]  # fmt: skip
        # Every value of small grids (a point far outside may need a distant integer), else the
        # nearest few; the combinations are tried nearest first.
        options, near = [], []
        for i in dims:
            p = space.parameters[i]
            assert isinstance(p, Integer)
            value = p.low + float(x[i].clamp(0, 1)) * (p.high - p.low)
            close = {min(max(math.floor(value) + k, p.low), p.high) for k in (-1, 0, 1, 2)}
            near.append(sorted(close))
            options.append(list(range(p.low, p.high + 1)) if p.size <= _FULL_GRID else near[-1])
        if math.prod(len(o) for o in options) > _MAX_COMBINATIONS:
            options = near
        combos = sorted(
            itertools.product(*options),
            key=lambda combo: sum(
                abs(
                    v
                    - (
                        space.parameters[i].low  # type: ignore[union-attr]
                        + float(x[i]) * (space.parameters[i].high - space.parameters[i].low)  # type: ignore[union-attr]
                    )
                )
                for i, v in zip(dims, combo, strict=True)
            ),
        )
        for combo in combos:
            y = rounded.clone()
            for i, v in zip(dims, combo, strict=True):
                y[i] = space.parameters[i].to_unit(float(v))  # type: ignore[union-attr]
            if self.holds(y):
                return y
            projected = self._project(y)
            if projected is not None:
                return projected
        params = space.decode(rounded.unsqueeze(0))[0]
        raise SpaceError(
            "Could not find a point on the integer grid satisfying the parameter constraints "
            f"near {params!r}; constraints: {'; '.join(str(c) for c in self.constraints)}."
        )

    def _project(self, x: Tensor) -> Tensor | None:
        """The nearest point satisfying the constraints that changes only the constrained reals,
        or None if there is none."""
        cols = [
            i for i, p in enumerate(self.space.parameters)
            if isinstance(p, Real) and i not in self.fixed_columns
            and any(i in u.indices for u in self.unit)
        ]  # fmt: skip
        if not cols:
            return None
        start = x[cols].numpy().copy()
        where = {c: j for j, c in enumerate(cols)}
        rows = []
        for u in self.unit:
            a = np.zeros(len(cols))
            rhs = u.rhs
            for i, coef in zip(u.indices, u.coefficients, strict=True):
                if i in where:
                    a[where[i]] += coef
                else:
                    rhs -= coef * float(x[i])
            rows.append((a, rhs, u.op))
        cons = []
        for a, rhs, op in rows:
            if op == "==":
                cons.append(
                    {"type": "eq", "fun": lambda y, a=a, r=rhs: a @ y - r, "jac": lambda y, a=a: a}
                )
            else:
                s = 1.0 if op == ">=" else -1.0
                cons.append(
                    {
                        "type": "ineq",
                        "fun": lambda y, a=a, r=rhs, s=s: s * (a @ y - r),
                        "jac": lambda y, a=a, s=s: s * a,
                    }
                )
        result = minimize(
            lambda y: float(np.sum((y - start) ** 2)), np.clip(start, 0, 1),
            jac=lambda y: 2 * (y - start), bounds=[(0.0, 1.0)] * len(cols),
            constraints=cons, method="SLSQP", options={"ftol": 1e-15, "maxiter": 200},
        )  # fmt: skip
        y = _polish(np.clip(result.x, 0.0, 1.0), [(a, r) for a, r, op in rows if op == "=="])
        out = x.clone()
        out[cols] = torch.as_tensor(y, dtype=torch.float64)
        return out if self.holds(out) else None

    # -- optimising --------------------------------------------------------------------------

    def optimize(
        self, acq: AcquisitionFunction, q: int, num_restarts: int, raw_samples: int
    ) -> Tensor:
        """Maximise ``acq`` over the region; returns ``q x d`` repaired encoded points."""
        space = self.space
        free = self.free
        bounds = space.bounds()[:, free]
        ineq, eq = self.reduced()
        eq_dims = {int(i) for idx, _, _ in eq for i in idx}
        # BoTorch keeps integers on their grid under inequalities, not under equalities: those
        # are relaxed here and rounded by `repair`.
        discrete = {
            j: values for j, c in enumerate(free)
            for values in [space.discrete_dims.get(c)] if values is not None and j not in eq_dims
        }  # fmt: skip
        cats = {j: space.cat_dims[c] for j, c in enumerate(free) if c in space.cat_dims}
        constraints: dict[str, Any] = {
            "inequality_constraints": ineq or None,
            "equality_constraints": eq or None,
        }
        # One point at a time, each pending for the next (`one_at_a_time`, as BoTorch's
        # sequential mode does): its own loop cannot see through the fixed-feature wrapper's
        # reduced columns.

        def pick(i: int) -> Tensor:
            target = acq
            if self.fixed_columns:
                columns = sorted(self.fixed_columns)
                target = FixedFeatureAcquisitionFunction(
                    acq, space.dim, columns, [self.fixed_columns[c] for c in columns]
                )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizationWarning)
                warnings.simplefilter("ignore", BadInitialCandidatesWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                warnings.simplefilter("ignore", UserWarning)
                if not discrete and not cats:
                    Z, _ = optimize_acqf(
                        target, bounds=bounds, q=1, num_restarts=num_restarts,
                        raw_samples=raw_samples,
                        options={"batch_limit": num_restarts, "init_batch_limit": raw_samples,
                                 "maxiter": 200},
                        retry_on_optimization_warning=False, **constraints,
                    )  # fmt: skip
                else:
                    Z, _ = optimize_acqf_mixed_alternating(
                        target, bounds=bounds, discrete_dims=discrete or None,
                        cat_dims=cats or None, q=1, num_restarts=num_restarts,
                        raw_samples=raw_samples, **constraints,
                    )  # fmt: skip
            return self.repair(self.expand(Z.detach().reshape(1, len(free))))

        return one_at_a_time(acq, q, pick)


def _polish(y: np.ndarray, equalities: Sequence[tuple[np.ndarray, float]]) -> np.ndarray:
    """Make the equalities exact (to float precision) by the least-norm correction of the
    coordinates strictly inside their bounds; SLSQP alone stops near 1e-10."""
    if not equalities:
        return y
    for _ in range(3):
        inside = (y > 1e-12) & (y < 1 - 1e-12)
        if not inside.any():
            return y
        A = np.array([a for a, _ in equalities])[:, inside]
        r = np.array([rhs - a @ y for a, rhs in equalities])
        step, *_ = np.linalg.lstsq(A, r, rcond=None)
        z = y.copy()
        z[inside] += step  # lstsq: the least-norm solution of A @ step = r
        if np.all(z >= 0) and np.all(z <= 1):
            y = z
        else:
            return y
    return y


def region_for(
    space: Space, constraints: Sequence[LinearConstraint], fixed: Mapping[str, Any] | None
) -> Region | None:
    """The region for one ask, or None when nothing constrains it (the unconstrained path)."""
    if not constraints and not fixed:
        return None
    return Region(space, constraints, dict(fixed or {}))
