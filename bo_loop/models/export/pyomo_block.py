"""The surrogate as a Pyomo block: decision variables for the parameters, the prediction as
expressions over them, so that users optimise it with their own constraints and solver.

Components of the block (``b``):

- ``b.x[name]``: a variable per real (continuous) and integer (integer domain) parameter, bounded
  by the parameter's bounds, in raw units.
- ``b.choice[name, j]``: a binary per choice ``j`` (its index in ``Categorical.choices``) of each
  categorical, with ``b.one_choice[name]``: exactly one choice.
- ``b.mean``: the predicted mean on the outcome's original scale and sign (what
  ``Campaign.predict`` returns); ``b.sd`` with ``sd=True``: the posterior sd. A risk-averse
  objective is ``b.mean - k * b.sd`` for a maximised outcome, ``b.mean + k * b.sd`` otherwise.
- Auxiliary variables, each tied to its defining expression by an equality (the "full-space"
  formulation of OMLT, written out here): for the GP ``b.kernel[i]``, the Matern-5/2
  correlation with training point ``i``; for DNGO ``b.hidden[e, layer, unit]``, the tanh units
  of network ``e``. A nested expression instead would repeat each unit of a layer once per unit
  of the next (50 x 50 x 50 copies of the first layer), and solvers bound auxiliary variables
  well: the tanh units get the interval of their input range here.

`warm_start` sets every variable from a parameter dict (a solver's starting point, or to evaluate
the expressions with ``pyomo.environ.value``); `read_params` reads a solution back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from bo_loop.exceptions import ExportError
from bo_loop.models.export.terms import DNGOTerms, ExportTerms, GPTerms
from bo_loop.space import Categorical, Integer, Space

#: Added under the GP's square root: its derivative is infinite at distance 0 (a training point),
#: which derivative-based solvers cannot take; the value changes by at most 1e-15.
SQRT_FLOOR = 1e-30


def require_pyomo() -> None:
    """Raise a clear error when the optional ``pyomo`` package is missing."""
    try:
        import pyomo.environ  # noqa: F401
    except ImportError:
        raise ExportError(
            "Pyomo export needs the optional package pyomo: pip install 'bo_loop[aml]'."
        ) from None


def _variables(b: Any, space: Space) -> None:
    import pyomo.environ as pyo

    numeric = [p for p in space.parameters if not isinstance(p, Categorical)]
    cats = [p for p in space.parameters if isinstance(p, Categorical)]
    b.x = pyo.Var(
        [p.name for p in numeric],
        domain=lambda _, n: pyo.Integers if isinstance(space[n], Integer) else pyo.Reals,
        bounds=lambda _, n: (space[n].low, space[n].high),  # type: ignore[union-attr]
        initialize=lambda _, n: _middle(space, n),
    )
    pairs = [(p.name, j) for p in cats for j in range(len(p.choices))]
    b.choice = pyo.Var(pairs, domain=pyo.Binary, initialize=lambda _, n, j: float(j == 0))
    b.one_choice = pyo.Constraint(
        [p.name for p in cats],
        rule=lambda b, n: sum(b.choice[n, j] for j in range(len(space[n].choices))) == 1,  # type: ignore[union-attr]
    )


def _middle(space: Space, name: str) -> float:
    p = space[name]
    middle = (p.low + p.high) / 2  # type: ignore[union-attr]
    return float(round(middle)) if isinstance(p, Integer) else middle


def _features(b: Any, terms: ExportTerms) -> list[Any]:
    """The surrogate's input features as expressions, and their bounds, in order."""
    import pyomo.environ as pyo

    def unit(p: Any) -> Any:
        x = b.x[p.name]
        if p.log:
            return (pyo.log(x) - math.log(p.low)) / (math.log(p.high) - math.log(p.low))
        return (x - p.low) / (p.high - p.low)

    out = []
    for i, j in terms.features:
        p = terms.space.parameters[i]
        out.append(terms.scale * unit(p) + terms.shift if j is None else b.choice[p.name, j])
    return out


def _feature_bounds(terms: ExportTerms) -> tuple[np.ndarray, np.ndarray]:
    low = np.array([terms.shift if j is None else 0.0 for _, j in terms.features])
    high = np.array([terms.scale + terms.shift if j is None else 1.0 for _, j in terms.features])
    return low, high


def _gp(b: Any, gp: GPTerms, features: list[Any], sd: bool) -> tuple[Any, Any]:
    """Standardised mean and variance expressions of the closed-form GP."""
    import pyomo.environ as pyo

    points = range(len(gp.alpha))
    root5 = math.sqrt(5.0)

    def correlation(_: Any, i: int) -> Any:
        r2 = sum(
            ((f - z) / ls) ** 2
            for f, z, ls in zip(features, gp.train[i], gp.lengthscale, strict=True)
        )
        s5r = root5 * pyo.sqrt(r2 + SQRT_FLOOR)
        return (1 + s5r + s5r**2 / 3) * pyo.exp(-s5r)

    b.kernel_def = pyo.Expression(points, rule=correlation)
    b.kernel = pyo.Var(points, bounds=(0.0, 1.0), initialize=0.5)
    b.kernel_link = pyo.Constraint(points, rule=lambda b, i: b.kernel[i] == b.kernel_def[i])
    mean = gp.constant + gp.outputscale * sum(
        float(a) * b.kernel[i] for i, a in enumerate(gp.alpha)
    )
    if not sd:
        return mean, None
    v = [
        gp.outputscale * sum(float(gp.linv[j, i]) * b.kernel[i] for i in range(j + 1))
        for j in points
    ]
    return mean, gp.outputscale - sum(t**2 for t in v)


def _dngo(b: Any, net: DNGOTerms, terms: ExportTerms, sd: bool) -> tuple[Any, Any]:
    """Standardised mean and variance expressions of the DNGO mixture."""
    import pyomo.environ as pyo

    features = _features(b, terms)
    members = range(net.weights[0].shape[0])
    index = [
        (e, layer, u)
        for e in members
        for layer, w in enumerate(net.weights)
        for u in range(w.shape[2])
    ]
    # Interval bounds of every unit, layer by layer, from the features' bounds.
    bounds: dict[tuple[int, int, int], tuple[float, float]] = {}
    for e in members:
        low, high = _feature_bounds(terms)
        for layer, (w, bias) in enumerate(zip(net.weights, net.biases, strict=True)):
            W = w[e]
            pre_low = bias[e] + np.minimum(W * low[:, None], W * high[:, None]).sum(0)
            pre_high = bias[e] + np.maximum(W * low[:, None], W * high[:, None]).sum(0)
            low, high = np.tanh(pre_low), np.tanh(pre_high)
            for u in range(W.shape[1]):
                bounds[e, layer, u] = (float(low[u]), float(high[u]))

    def unit(b: Any, e: int, layer: int, u: int) -> Any:
        inputs = (
            features
            if layer == 0
            else [b.hidden[e, layer - 1, t] for t in range(net.weights[layer - 1].shape[2])]
        )
        W = net.weights[layer][e]
        return _tanh(
            float(net.biases[layer][e, u]) + sum(float(W[t, u]) * h for t, h in enumerate(inputs))
        )

    b.hidden = pyo.Var(
        index, bounds=lambda _, *k: bounds[k], initialize=lambda _, *k: sum(bounds[k]) / 2
    )
    b.hidden_def = pyo.Expression(index, rule=unit)
    b.hidden_link = pyo.Constraint(index, rule=lambda b, *k: b.hidden[k] == b.hidden_def[k])
    last = len(net.weights) - 1
    width = net.weights[-1].shape[2]
    heads = range(len(net.head_net))

    def phi(k: int) -> list[Any]:
        return [b.hidden[int(net.head_net[k]), last, u] for u in range(width)] + [1.0]

    means = [
        sum(float(m) * f for m, f in zip(net.head_mean[k], phi(k), strict=True)) for k in heads
    ]
    weights = [float(w) for w in net.head_weight]
    mean = sum(w * m for w, m in zip(weights, means, strict=True))
    if not sd:
        return mean, None
    variance = net.jitter
    for k in heads:
        basis = phi(k)
        linv = net.head_linv[k]
        v = [sum(float(linv[j, i]) * basis[i] for i in range(j + 1)) for j in range(len(basis))]
        variance = variance + weights[k] * (sum(t**2 for t in v) + (means[k] - mean) ** 2)
    return mean, variance


def build(terms: ExportTerms, *, sd: bool = False, block: Any = None) -> Any:
    """Fill ``block`` (default a new ``ConcreteModel``) with the surrogate (module docstring).

    Args:
        terms: The surrogate's arrays (`terms.export_terms`).
        sd: Also build ``b.sd``.
        block: A Pyomo block to fill, or None.

    Returns:
        The block.
    """
    import pyomo.environ as pyo

    b = pyo.ConcreteModel(name="bo_loop_surrogate") if block is None else block
    b.bo_loop_space = terms.space
    _variables(b, terms.space)
    if isinstance(terms.model, GPTerms):
        mean, variance = _gp(b, terms.model, _features(b, terms), sd)
    else:
        mean, variance = _dngo(b, terms.model, terms, sd)
    b.mean = pyo.Expression(expr=terms.sign * (terms.y_mean + terms.y_std * mean))
    if sd:
        b.sd = pyo.Expression(expr=terms.y_std * pyo.sqrt(variance))
    return b


def warm_start(block: Any, params: Mapping[str, Any]) -> None:
    """Set every variable of a block from ``params``: the parameters, then each auxiliary
    variable from its defining expression, in order, so that all constraints hold.

    Raises:
        SpaceError: ``params`` is not a valid point of the block's space.
    """
    import pyomo.environ as pyo

    space: Space = block.bo_loop_space
    valid = space.validate(params)
    for p in space.parameters:
        if isinstance(p, Categorical):
            for j in range(len(p.choices)):
                block.choice[p.name, j].set_value(float(j == p.index(valid[p.name])))
        else:
            block.x[p.name].set_value(valid[p.name])
    for name in ("kernel", "hidden"):
        if hasattr(block, name):
            var, definition = getattr(block, name), getattr(block, f"{name}_def")
            for k in definition:  # insertion order: layer by layer
                var[k].set_value(pyo.value(definition[k]), skip_validation=True)


def read_params(block: Any) -> dict[str, Any]:
    """The parameter dict of a block's current (solved) values: integers rounded, the choice
    with the largest binary, values clipped into bounds.

    Raises:
        ExportError: a variable has no value (the block was not solved).
    """
    space: Space = block.bo_loop_space
    out: dict[str, Any] = {}
    for p in space.parameters:
        if isinstance(p, Categorical):
            values = [block.choice[p.name, j].value for j in range(len(p.choices))]
        else:
            values = [block.x[p.name].value]
        if any(v is None for v in values):
            raise ExportError(
                f"Every variable needs a value to read a solution, but {p.name!r} has none."
            )
        if isinstance(p, Categorical):
            out[p.name] = p.choices[int(np.argmax(values))]
        else:
            value = min(max(float(values[0]), p.low), p.high)
            out[p.name] = round(value) if isinstance(p, Integer) else value
    return space.validate(out)


def _tanh(a: Any) -> Any:
    """tanh written with one exponential: SCIP has no tanh, and Pyomo's translation of it,
    (e^a - e^-a) / (e^a + e^-a), relaxes worse."""
    import pyomo.environ as pyo

    return 1 - 2 / (pyo.exp(2 * a) + 1)
