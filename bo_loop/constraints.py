"""Linear parameter constraints: the value object, its checks against a space, and feasibility.

A ``LinearConstraint`` is ``sum(coefficient * value) op rhs`` over real and integer parameters,
in the parameters' own units. The space encodes such parameters linearly to [0, 1], so a
constraint stays linear in the encoding (`to_unit`); a log-scale parameter does not, and is refused.
Feasibility is decided with a linear program over the parameters' bounds, then with integer
parameters kept whole (a mixed-integer program): ``2*a + 2*b == 5`` over integers has no point.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import Bounds, linprog, milp
from scipy.optimize import LinearConstraint as ScipyLinearConstraint

from bo_loop.exceptions import SpaceError
from bo_loop.space import Categorical, Integer, Real, Space

#: The operators a constraint may use.
OPERATORS = ("==", "<=", ">=")

#: How far a point may miss a constraint (in the constraint's own units) and still satisfy it.
TOLERANCE = 1e-9


def _number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _format_number(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


@dataclass(frozen=True, eq=True)
class LinearConstraint:
    """``sum(coefficients[name] * params[name]) op rhs``, in the parameters' own units.

    Example: ``LinearConstraint({"water": 1, "ethanol": 1}, "<=", 1.0)``.
    """

    coefficients: Mapping[str, float]
    """Parameter name -> coefficient; at least one, each finite, not all zero."""
    op: str
    """One of ``"=="``, ``"<="``, ``">="``."""
    rhs: float
    """The right-hand side, finite."""

    def __post_init__(self) -> None:
        coefficients = self.coefficients
        if not isinstance(coefficients, Mapping) or not coefficients:
            raise SpaceError(
                "A linear constraint needs a non-empty dict of parameter name -> coefficient, "
                f"but got coefficients={coefficients!r}."
            )
        clean: dict[str, float] = {}
        for name, value in coefficients.items():
            if not isinstance(name, str) or not name:
                raise SpaceError(
                    f"Constraint coefficients must be keyed by parameter names, but got {name!r}."
                )
            if not _number(value) or not math.isfinite(float(value)):
                raise SpaceError(
                    f"A constraint coefficient must be a finite number, but got {name!r}: {value!r}."
                )
            clean[name] = float(value)
        if all(v == 0 for v in clean.values()):
            raise SpaceError(
                f"A linear constraint needs a non-zero coefficient, but got {coefficients!r}."
            )
        if self.op not in OPERATORS:
            raise SpaceError(
                f"A constraint's operator must be one of {list(OPERATORS)!r}, but got {self.op!r}."
            )
        if not _number(self.rhs) or not math.isfinite(float(self.rhs)):
            raise SpaceError(
                f"A constraint's right-hand side must be a finite number, but got rhs={self.rhs!r}."
            )
        object.__setattr__(self, "coefficients", clean)
        object.__setattr__(self, "rhs", float(self.rhs))

    def __hash__(self) -> int:
        return hash((tuple(self.coefficients.items()), self.op, self.rhs))

    def __str__(self) -> str:
        terms = []
        for i, (name, a) in enumerate(self.coefficients.items()):
            sign = "-" if a < 0 else ("" if i == 0 else "+")
            mag = "" if abs(a) == 1 else f"{_format_number(abs(a))}*"
            terms.append(f"{sign} {mag}{name}".strip() if sign else f"{mag}{name}")
        return f"{' '.join(terms)} {self.op} {_format_number(self.rhs)}"

    def lhs(self, params: Mapping[str, Any]) -> float:
        """The left-hand side at ``params`` (numbers in the parameters' own units)."""
        return math.fsum(a * float(params[name]) for name, a in self.coefficients.items())

    def holds(self, params: Mapping[str, Any], tolerance: float = TOLERANCE) -> bool:
        """Whether ``params`` satisfies the constraint to within ``tolerance``."""
        gap = self.lhs(params) - self.rhs
        if self.op == "==":
            return abs(gap) <= tolerance
        return gap <= tolerance if self.op == "<=" else gap >= -tolerance

    def to_config(self) -> dict[str, Any]:
        return {"coefficients": dict(self.coefficients), "op": self.op, "rhs": self.rhs}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LinearConstraint:
        """Rebuild from ``to_config``'s dict, or parse the string form (see `parse_constraint`)."""
        if isinstance(config, str):
            return parse_constraint(config)
        if not isinstance(config, Mapping) or set(config) != {"coefficients", "op", "rhs"}:
            raise SpaceError(
                "A constraint must be a string like 'a + b <= 1' or a mapping with the keys "
                f"coefficients, op and rhs, but got {config!r}."
            )
        return cls(config["coefficients"], config["op"], config["rhs"])


_TERM = re.compile(
    r"\s*([+-])?\s*(?:(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)\s*\*\s*)?"
    r"([A-Za-z_][\w.]*)\s*"
)
_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def parse_constraint(text: str) -> LinearConstraint:
    """Parse ``"water + ethanol + 0.5*glycerol == 1"`` into a LinearConstraint.

    The left side is a sum of terms ``[number *] name`` joined by ``+`` or ``-`` (names as
    Python identifiers, dots allowed); the right side a number; the operator ``==``, ``<=`` or
    ``>=``. A name used twice has its coefficients added.

    Raises:
        SpaceError: the text does not have that form (the message shows it).
    """
    if not isinstance(text, str):
        raise SpaceError(f"A constraint must be a string like 'a + b <= 1', but got {text!r}.")
    ops = [op for op in OPERATORS if op in text]
    form = "like 'water + ethanol + 0.5*glycerol == 1' (operator ==, <= or >=)"
    if len(ops) != 1 or text.count(ops[0]) != 1:
        raise SpaceError(f"A constraint must read {form}, but got {text!r}.")
    left, right = text.split(ops[0])
    if not _NUMBER.match(right):
        raise SpaceError(f"A constraint's right side must be a number, but got {text!r}.")
    coefficients: dict[str, float] = {}
    pos = 0
    while pos < len(left):
        match = _TERM.match(left, pos)
        if match is None or match.end() == pos or (pos > 0 and match.group(1) is None):
            raise SpaceError(f"A constraint must read {form}, but got {text!r}.")
        sign = -1.0 if match.group(1) == "-" else 1.0
        value = sign * float(match.group(2) or 1.0)
        coefficients[match.group(3)] = coefficients.get(match.group(3), 0.0) + value
        pos = match.end()
    return LinearConstraint(coefficients, ops[0], float(right))


def check_constraints(space: Space, constraints: Sequence[object]) -> tuple[LinearConstraint, ...]:
    """Check constraints against the space: names, parameter kinds, and a non-empty region.

    Raises:
        SpaceError: an entry is not a LinearConstraint, names an unknown, categorical or
            log-scale parameter, or the constraints leave no point of the space.
    """
    if isinstance(constraints, LinearConstraint | str | Mapping):
        constraints = [constraints]
    out: list[LinearConstraint] = []
    for c in constraints:
        if isinstance(c, str | Mapping):
            c = LinearConstraint.from_config(c)  # type: ignore[arg-type]
        if not isinstance(c, LinearConstraint):
            raise SpaceError(
                f"parameter_constraints must hold bl.LinearConstraint objects, but got {c!r}."
            )
        for name in c.coefficients:
            if name not in space.names:
                raise SpaceError(
                    f"A constraint may only name parameters of the space {space.names!r}, "
                    f"but {str(c)!r} names {name!r}."
                )
            p = space[name]
            if isinstance(p, Categorical):
                raise SpaceError(
                    f"A linear constraint needs real or integer parameters, but {str(c)!r} names "
                    f"the categorical {name!r}."
                )
            if p.log:
                raise SpaceError(
                    f"A linear constraint cannot name a log-scale parameter (it would not be "
                    f"linear where the search happens), but {str(c)!r} names {name!r}."
                )
        out.append(c)
    if out and not is_feasible(space, out):
        listed = "; ".join(str(c) for c in out)
        raise SpaceError(
            f"The parameter constraints must leave some point of the space, but no point within "
            f"the bounds satisfies all of: {listed}."
        )
    if out and not has_integer_point(space, out):
        raise SpaceError(_no_integer_point(space, out))
    return tuple(out)


def check_fixed(
    space: Space, constraints: Sequence[LinearConstraint], fixed: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Validate the values held for one ask; the region with them fixed must not be empty.

    Raises:
        SpaceError: an unknown name, a value its parameter refuses, or values that leave no
            point satisfying the constraints.
    """
    if fixed is None:
        return {}
    if not isinstance(fixed, Mapping):
        raise SpaceError(f"fixed must be a dict of parameter name -> value, but got {fixed!r}.")
    unknown = [k for k in fixed if k not in space.names]
    if unknown:
        raise SpaceError(
            f"fixed may only name parameters of the space {space.names!r}, but got {unknown!r}."
        )
    clean = {name: space[name].validate(value) for name, value in fixed.items()}
    if constraints and not (
        is_feasible(space, constraints, clean) and has_integer_point(space, constraints, clean)
    ):
        listed = "; ".join(str(c) for c in constraints)
        raise SpaceError(
            f"The fixed values must leave some point satisfying the constraints, but with "
            f"fixed={clean!r} no point within the bounds satisfies all of: {listed}."
        )
    return clean


def violations(params: Mapping[str, Any], constraints: Sequence[LinearConstraint]) -> list[str]:
    """The constraints ``params`` breaks, each in its string form."""
    return [str(c) for c in constraints if not c.holds(params)]


@dataclass(frozen=True)
class UnitConstraint:
    """A constraint over encoded columns: ``sum(coefficients * x[indices]) op rhs``."""

    indices: tuple[int, ...]
    coefficients: tuple[float, ...]
    op: str
    rhs: float


def to_unit(space: Space, constraints: Sequence[LinearConstraint]) -> list[UnitConstraint]:
    """The constraints in the space's encoding: value = low + u * (high - low) for each column.

    Each constraint is divided by its largest coefficient so that optimisers see numbers near 1.
    """
    out = []
    for c in constraints:
        indices, coefs, rhs = [], [], c.rhs
        for name, a in c.coefficients.items():
            p = space[name]
            assert isinstance(p, Real | Integer)
            indices.append(space.names.index(name))
            coefs.append(a * (p.high - p.low))
            rhs -= a * p.low
        scale = max(abs(v) for v in coefs) or 1.0
        out.append(
            UnitConstraint(tuple(indices), tuple(v / scale for v in coefs), c.op, rhs / scale)
        )
    return out


def is_feasible(
    space: Space,
    constraints: Sequence[LinearConstraint],
    fixed: Mapping[str, Any] | None = None,
) -> bool:
    """Whether some point within the bounds (integers relaxed) satisfies every constraint."""
    fixed = fixed or {}
    d = space.dim
    A_ub, b_ub, A_eq, b_eq = [], [], [], []
    for u in to_unit(space, constraints):
        row = np.zeros(d)
        row[list(u.indices)] = u.coefficients
        if u.op == "==":
            A_eq.append(row)
            b_eq.append(u.rhs)
        else:
            sign = 1.0 if u.op == "<=" else -1.0
            A_ub.append(sign * row)
            b_ub.append(sign * u.rhs)
    bounds = []
    for _i, p in enumerate(space.parameters):
        if p.name in fixed and not isinstance(p, Categorical):
            v = p.to_unit(float(fixed[p.name]))
            bounds.append((v, v))
        else:
            bounds.append((0.0, 1.0))
    result = linprog(
        np.zeros(d),
        A_ub=np.array(A_ub) if A_ub else None,
        b_ub=np.array(b_ub) if b_ub else None,
        A_eq=np.array(A_eq) if A_eq else None,
        b_eq=np.array(b_eq) if b_eq else None,
        bounds=bounds,
        method="highs",
    )
    return bool(result.status == 0)


def has_integer_point(
    space: Space,
    constraints: Sequence[LinearConstraint],
    fixed: Mapping[str, Any] | None = None,
) -> bool:
    """Whether some point within the bounds, its integer parameters whole numbers, satisfies
    every constraint (a mixed-integer program in the parameters' own units).

    `is_feasible` relaxes the integers; this is the exact question for a space with integer
    parameters in a constraint, where rounding cannot repair an equality such as
    ``2*a + 2*b == 5``.
    """
    names = sorted({n for c in constraints for n in c.coefficients}, key=space.names.index)
    if not any(isinstance(space[n], Integer) for n in names):
        return True
    fixed = fixed or {}
    lows, highs, integral = [], [], []
    for n in names:
        p = space[n]
        assert isinstance(p, Real | Integer)
        low, high = (float(fixed[n]),) * 2 if n in fixed else (float(p.low), float(p.high))
        lows.append(low)
        highs.append(high)
        integral.append(1 if isinstance(p, Integer) else 0)
    A = np.array([[c.coefficients.get(n, 0.0) for n in names] for c in constraints])
    lower = np.array([-np.inf if c.op == "<=" else c.rhs for c in constraints])
    upper = np.array([np.inf if c.op == ">=" else c.rhs for c in constraints])
    result = milp(
        np.zeros(len(names)),
        constraints=ScipyLinearConstraint(A, lower, upper),
        integrality=np.array(integral),
        bounds=Bounds(np.array(lows), np.array(highs)),
    )
    return bool(result.status == 0)


def _no_integer_point(space: Space, constraints: Sequence[LinearConstraint]) -> str:
    """Why the constraints leave no point with whole-number integers, naming the culprit."""
    alone = [c for c in constraints if not has_integer_point(space, [c])]
    if not alone:
        listed = "; ".join(str(c) for c in constraints)
        return (
            "The parameter constraints must leave some point with every integer parameter a whole "
            f"number, but none within the bounds satisfies all of: {listed} (there are such "
            "points only with fractional integers)."
        )
    c = alone[0]
    integers = [n for n in c.coefficients if isinstance(space[n], Integer)]
    why = ""
    coefs = list(c.coefficients.values())
    if c.op == "==" and len(integers) == len(coefs) and all(float(a).is_integer() for a in coefs):
        divisor = math.gcd(*(int(a) for a in coefs))
        if not (c.rhs / divisor).is_integer():
            multiple = "a whole number" if divisor == 1 else f"a multiple of {divisor}"
            why = (
                f": with whole numbers the left side is always {multiple}, "
                f"and {_format_number(c.rhs)} is not"
            )
    return (
        f"The constraint {str(c)!r} must be satisfiable with the integer parameters "
        f"{integers!r} whole numbers within their bounds, but no such point satisfies it{why}."
    )
