"""The campaign's objective: one named outcome, maximised or minimised."""

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
    """

    name: str
    goal: Literal["maximize", "minimize"] = "maximize"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ObjectiveError(
                f"An objective name must be a non-empty string, but got name={self.name!r}."
            )
        if self.goal not in GOALS:
            raise ObjectiveError(f"goal must be one of {list(GOALS)}, but got goal={self.goal!r}.")

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
        return v

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, "goal": self.goal}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Objective:
        return cls(name=config["name"], goal=config["goal"])
