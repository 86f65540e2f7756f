"""An objective: one named outcome, maximised or minimised, with optional known bounds."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bo_loop.exceptions import ObjectiveError, ObservationError

GOALS = ("maximize", "minimize")


@dataclass(frozen=True)
class Objective:
    """The outcome to optimise.

    Attributes:
        name: The outcome's name, as in ``tell(n, {name: value})`` and the DataFrame column.
        goal: ``"maximize"`` or ``"minimize"``.
        bounds: The values the outcome can physically take, ``(lo, hi)`` (either may be None for
            no bound), e.g. ``(0, 100)`` for a yield in percent: a told value outside is refused,
            and predictions and their intervals are clipped into them. None: unbounded.
    """

    name: str
    goal: Literal["maximize", "minimize"] = "maximize"
    bounds: tuple[float | None, float | None] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ObjectiveError(
                f"An objective name must be a non-empty string, but got name={self.name!r}."
            )
        if self.goal not in GOALS:
            raise ObjectiveError(f"goal must be one of {list(GOALS)}, but got goal={self.goal!r}.")
        object.__setattr__(self, "bounds", _check_bounds(self.name, self.bounds))

    @property
    def sign(self) -> float:
        """+1 when maximising, -1 when minimising: the model always maximises ``sign * value``."""
        return 1.0 if self.goal == "maximize" else -1.0

    def is_better(self, a: float, b: float) -> bool:
        """Whether outcome ``a`` beats outcome ``b``."""
        return a > b if self.goal == "maximize" else a < b

    def parse_value(self, value: object) -> float:
        """Turn what a user tells into a finite float, or raise ObservationError naming the rule.

        Accepts a real number, or a dict ``{name: number}`` holding exactly this objective.
        """
        if isinstance(value, Mapping):
            keys = list(value)
            if keys != [self.name]:
                raise ObservationError(
                    f"A told dict must hold exactly the objective {self.name!r}, but got keys {keys!r}."
                )
            value = value[self.name]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ObservationError(
                f"An outcome must be a real number, but got {value!r} ({type(value).__name__})."
            )
        try:
            v = float(value)
        except OverflowError:  # an int beyond the float range
            v = math.inf
        if not math.isfinite(v):
            raise ObservationError(f"An outcome must be finite, but got {value!r}.")
        self.check_bounds(v)
        return v

    def check_bounds(self, value: float) -> None:
        """Refuse a value outside the known bounds, naming the rule and the value."""
        if self.bounds is None:
            return
        lo, hi = self.bounds
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ObservationError(
                f"{self.name!r} must lie within its bounds {_interval(lo, hi)}, but got "
                f"{self.name}={value!r}."
            )

    def clip(self, value: float) -> float:
        """``value`` moved into the known bounds (unchanged without bounds)."""
        if self.bounds is None:
            return value
        lo, hi = self.bounds
        if lo is not None and value < lo:
            return float(lo)
        if hi is not None and value > hi:
            return float(hi)
        return value

    def to_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "goal": self.goal}
        if self.bounds is not None:  # absent otherwise: a config reads as before bounds existed
            config["bounds"] = list(self.bounds)
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Objective:
        bounds = config.get("bounds")
        return cls(
            name=config["name"],
            goal=config["goal"],
            bounds=None if bounds is None else (bounds[0], bounds[1]),
        )


def _interval(lo: float | None, hi: float | None) -> str:
    return f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"


def _check_bounds(name: str, bounds: object) -> tuple[float | None, float | None] | None:
    """``bounds`` as ``(lo, hi)`` floats (None for an open side), or an ObjectiveError."""
    if bounds is None:
        return None
    if isinstance(bounds, str | bytes) or not isinstance(bounds, tuple | list) or len(bounds) != 2:
        raise ObjectiveError(
            f"bounds of {name!r} must be a pair (lo, hi), but got bounds={bounds!r}."
        )
    out: list[float | None] = []
    for side in bounds:
        if side is None:
            out.append(None)
            continue
        if isinstance(side, bool) or not isinstance(side, numbers.Real) or not math.isfinite(side):
            raise ObjectiveError(
                f"bounds of {name!r} must be finite numbers or None, but got bounds={bounds!r}."
            )
        out.append(float(side))
    lo, hi = out
    if lo is None and hi is None:
        return None
    if lo is not None and hi is not None and not lo < hi:
        raise ObjectiveError(
            f"bounds of {name!r} must satisfy lo < hi, but got lo={lo!r}, hi={hi!r}."
        )
    return lo, hi
