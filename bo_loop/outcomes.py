"""A campaign's outcomes: its objectives, its outcome constraints, and what follows from them.

A campaign measures one or more named outcomes per trial: every objective, and every outcome that
only appears in a constraint (``purity >= 95`` where purity is not optimised). ``Outcomes`` checks
told values against them (known names, finite, within an objective's bounds), says which trials
are feasible and which are Pareto-optimal. It never touches the database or a model.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bo_loop.exceptions import ObjectiveError, ObservationError
from bo_loop.objective import Objective

#: The comparisons an outcome constraint can make.
OPERATORS = (">=", "<=")


@dataclass(frozen=True)
class OutcomeConstraint:
    """A requirement on a measured outcome, e.g. ``OutcomeConstraint("purity", ">=", 95.0)``.

    A trial is feasible when every constraint holds for its measured values. The outcome may be an
    objective too, or an outcome measured only for this constraint.

    Attributes:
        name: The outcome's name, as in ``tell(n, {name: value})``.
        op: ``">="`` or ``"<="``.
        value: The threshold (inclusive).
    """

    name: str
    op: Literal[">=", "<="]
    value: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ObjectiveError(
                f"An outcome constraint's name must be a non-empty string, but got "
                f"name={self.name!r}."
            )
        if self.op not in OPERATORS:
            raise ObjectiveError(
                f"An outcome constraint's op must be one of {list(OPERATORS)}, but got "
                f"op={self.op!r} (constraint on {self.name!r})."
            )
        v = self.value
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ObjectiveError(
                f"An outcome constraint's value must be a finite number, but got value={v!r} "
                f"(constraint on {self.name!r})."
            )
        object.__setattr__(self, "value", float(v))

    def is_satisfied(self, value: float) -> bool:
        """Whether a measured ``value`` of the outcome meets the constraint (thresholds included)."""
        return value >= self.value if self.op == ">=" else value <= self.value

    def __str__(self) -> str:
        return f"{self.name} {self.op} {self.value:g}"

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, "value": self.value}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OutcomeConstraint:
        return cls(name=config["name"], op=config["op"], value=config["value"])


@dataclass(frozen=True)
class Outcomes:
    """The objectives and outcome constraints of a campaign, checked together.

    Attributes:
        objectives: One or more objectives, distinct names.
        constraints: Outcome constraints; each names an objective or a constraint-only outcome.
    """

    objectives: tuple[Objective, ...]
    constraints: tuple[OutcomeConstraint, ...] = ()

    def __post_init__(self) -> None:
        if not self.objectives:
            raise ObjectiveError("A campaign needs at least one objective, but got none.")
        for o in self.objectives:
            if not isinstance(o, Objective):
                raise ObjectiveError(f"objectives must hold bl.Objective objects, but got {o!r}.")
        names = [o.name for o in self.objectives]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ObjectiveError(f"Objective names must be distinct, but got {repeated!r} twice.")
        seen: set[tuple[str, str]] = set()
        for c in self.constraints:
            if not isinstance(c, OutcomeConstraint):
                raise ObjectiveError(
                    f"outcome_constraints must hold bl.OutcomeConstraint objects, but got {c!r}."
                )
            if (c.name, c.op) in seen:
                raise ObjectiveError(
                    f"Each outcome takes at most one {c.op!r} constraint, but {c.name!r} has two."
                )
            seen.add((c.name, c.op))

    @property
    def names(self) -> tuple[str, ...]:
        """Every outcome: the objectives in order, then constraint-only outcomes by first mention."""
        out = [o.name for o in self.objectives]
        for c in self.constraints:
            if c.name not in out:
                out.append(c.name)
        return tuple(out)

    @property
    def is_single(self) -> bool:
        """One objective and nothing else to measure: a told value may be a plain number."""
        return len(self.names) == 1

    def objective(self, name: str) -> Objective | None:
        """The objective named ``name``, or None for a constraint-only outcome."""
        return next((o for o in self.objectives if o.name == name), None)

    def parse_values(self, value: object, *, partial: bool = True) -> dict[str, float]:
        """Turn what a user tells into ``{outcome: finite float}``, or raise ObservationError.

        Args:
            value: A plain number (only when the campaign has a single outcome), or a dict of
                some or all outcomes.
            partial: Whether a dict may leave outcomes out (they are told later).

        Raises:
            ObservationError: an unknown outcome name, an empty dict, a value that is not a
                finite number or lies outside its objective's bounds, or (``partial=False``)
                missing outcomes. The message names the rule and the value.
        """
        names = self.names
        if self.is_single:  # a number or {name: number}, checked as before outcomes were many
            return {names[0]: self.objectives[0].parse_value(value)}
        if not isinstance(value, Mapping):
            raise ObservationError(
                f"This campaign measures {list(names)!r}: tell a dict of outcome values, e.g. "
                f"{{{names[0]!r}: ...}}, but got {value!r}."
            )
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ObservationError(
                f"Unknown outcome(s) {unknown!r}: this campaign measures {list(names)!r}."
            )
        if not value:
            raise ObservationError(
                f"A told dict must hold at least one outcome of {list(names)!r}, but got {{}}."
            )
        missing = [n for n in names if n not in value]
        if missing and not partial:
            raise ObservationError(
                f"Every outcome {list(names)!r} is needed here, but {missing!r} is missing."
            )
        out: dict[str, float] = {}
        for name in names:
            if name in value:
                try:
                    out[name] = self.parse_one(name, value[name])
                except ObservationError as e:
                    if repr(name) in str(e):
                        raise
                    raise ObservationError(f"{name!r}: {e}") from None
        return out

    def parse_one(self, name: str, value: object) -> float:
        """One outcome's value as a finite float within its objective's bounds."""
        return (self.objective(name) or Objective(name)).parse_value(value)

    def violated(self, values: Mapping[str, float]) -> list[OutcomeConstraint]:
        """The constraints that measured ``values`` break; a missing outcome breaks its own."""
        return [
            c
            for c in self.constraints
            if c.name not in values or not c.is_satisfied(values[c.name])
        ]

    def is_feasible(self, values: Mapping[str, float]) -> bool:
        """Whether every outcome constraint holds for ``values`` (all constrained outcomes told)."""
        return not self.violated(values)

    def signed(self, values: Mapping[str, float]) -> list[float]:
        """The objectives' values signed so that larger is better, in objective order."""
        return [o.sign * float(values[o.name]) for o in self.objectives]

    def to_config(self) -> dict[str, Any]:
        return {
            "objectives": [o.to_config() for o in self.objectives],
            "outcome_constraints": [c.to_config() for c in self.constraints],
        }


def check_satisfiable(outcomes: Outcomes) -> None:
    """Refuse outcome constraints that no value can meet: ``purity >= 99`` with ``purity <= 95``,
    or ``yield >= 150`` on an objective bounded to (0, 100). Such a campaign could never have a
    feasible trial, so ``best()`` and ``pareto_front()`` would stay empty for good.

    Checked at create only (`config.CampaignConfig.build`): campaigns stored before still open.

    Raises:
        ObjectiveError: naming the outcome, its constraints and bounds.
    """
    for name in outcomes.names:
        mine = [c for c in outcomes.constraints if c.name == name]
        objective = outcomes.objective(name)
        bounds = objective.bounds if objective is not None else None
        lo, hi = bounds if bounds is not None else (None, None)
        lows = [c.value for c in mine if c.op == ">="] + ([lo] if lo is not None else [])
        highs = [c.value for c in mine if c.op == "<="] + ([hi] if hi is not None else [])
        if lows and highs and max(lows) > min(highs):
            rules = [str(c) for c in mine]
            if bounds is not None:
                rules.append(f"its known bounds {tuple(bounds)!r}")
            raise ObjectiveError(
                f"Outcome constraints must leave some value of the outcome feasible, but no "
                f"{name!r} meets {' and '.join(rules)} (needs >= {max(lows):g} and "
                f"<= {min(highs):g})."
            )


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether ``a`` Pareto-dominates ``b`` (larger is better in every coordinate): at least as
    good everywhere and strictly better somewhere."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(
        x > y for x, y in zip(a, b, strict=True)
    )


def non_dominated(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points no other point dominates (larger is better), in input order.

    Equal points do not dominate each other: both are kept. O(n^2 m), which is nothing next to a
    model fit at the sizes of a lab campaign.
    """
    return [
        i
        for i, p in enumerate(points)
        if not any(dominates(q, p) for j, q in enumerate(points) if j != i)
    ]
