"""Search-space parameters (`Real`, `Integer`, `Categorical`): their names, bounds, choices and
validation, and their config form. `bo_loop.space.Space` orders them and encodes them for the
models.
"""

from __future__ import annotations

import math
import numbers
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from bo_loop.exceptions import SpaceError

#: Column names that ``Campaign.to_dataframe`` uses for its own fields.
RESERVED_NAMES = frozenset({"number", "state", "source"})

ChoiceValue: TypeAlias = str | int | float | bool

#: Integer bounds must lie within +-MAX_EXACT_INTEGER: float64, the model's number type, holds
#: every integer up to 2**53 exactly and skips some beyond (2**62 and 2**62 + 10 are one float).
MAX_EXACT_INTEGER = 2**53

#: An integer with more allowed values than this is searched as a continuous column and rounded
#: (BoTorch relaxes any above 20 values the same way); listing its grid value by value cost
#: 2.5 GB for 0..10**7 and a MemoryError for 0..10**8.
MAX_GRID = 1000


#: How a name may not look: spaces at either end, or control characters (newline, tab, NUL...);
#: such names print like another name ("x" and "x ") and break the files and commands naming them.
NAME_RULE = "must not start or end with a space or hold a control character (newline, tab, NUL)"


def has_bad_characters(name: str) -> bool:
    """Whether ``name`` breaks :data:`NAME_RULE`."""
    return name != name.strip() or any(unicodedata.category(c) == "Cc" for c in name)


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise SpaceError(f"A parameter name must be a non-empty string, but got name={name!r}.")
    if name in RESERVED_NAMES:
        raise SpaceError(
            f"A parameter name must not be one of {sorted(RESERVED_NAMES)}, but got name={name!r}."
        )
    return name


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _to_float(value: Any) -> float:
    """``float(value)``, but an int beyond the float range becomes +-inf instead of raising."""
    try:
        return float(value)
    except OverflowError:  # so that the "must be finite" rules name such a value
        return math.inf if value > 0 else -math.inf


def _check_bounds(name: str, low: object, high: object, log: bool) -> tuple[float, float]:
    if not _is_number(low) or not _is_number(high):
        raise SpaceError(f"Bounds of {name!r} must be numbers, but got low={low!r}, high={high!r}.")
    low_f, high_f = _to_float(low), _to_float(high)
    if not (math.isfinite(low_f) and math.isfinite(high_f)):
        raise SpaceError(f"Bounds of {name!r} must be finite, but got low={low!r}, high={high!r}.")
    if not low_f < high_f:
        raise SpaceError(
            f"`low < high` must hold for {name!r}, but got low={low!r}, high={high!r}."
        )
    if log and low_f <= 0:
        raise SpaceError(f"A log-scale parameter needs `low > 0`, but {name!r} has low={low!r}.")
    return low_f, high_f


@dataclass(frozen=True)
class Real:
    """A continuous parameter in ``[low, high]``, searched on a log scale when ``log=True``."""

    name: str
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name)
        low, high = _check_bounds(self.name, self.low, self.high, self.log)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def validate(self, value: object) -> float:
        """Return ``value`` as a float inside the bounds, or raise SpaceError naming the rule."""
        if not _is_number(value):
            raise SpaceError(f"{self.name!r} must be a number, but got {value!r}.")
        v = _to_float(value)
        if not math.isfinite(v):
            raise SpaceError(f"{self.name!r} must be finite, but got {value!r}.")
        if not self.low <= v <= self.high:
            raise SpaceError(
                f"{self.name!r} must lie in [{self.low!r}, {self.high!r}], but got {value!r}."
            )
        return v

    def to_unit(self, value: float) -> float:
        if self.log:
            return (math.log(value) - math.log(self.low)) / (
                math.log(self.high) - math.log(self.low)
            )
        return (value - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> float:
        u = min(max(u, 0.0), 1.0)
        if self.log:
            v = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            v = self.low + u * (self.high - self.low)
        return min(max(v, self.low), self.high)

    def to_config(self) -> dict[str, Any]:
        return {
            "type": "real",
            "name": self.name,
            "low": self.low,
            "high": self.high,
            "log": self.log,
        }


@dataclass(frozen=True)
class Integer:
    """An integer parameter in ``[low, high]`` (both included); ``log=True`` spaces it on a log scale."""

    name: str
    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name)
        for label, bound in (("low", self.low), ("high", self.high)):
            if not _is_number(bound) or not _to_float(bound).is_integer():  # type: ignore[arg-type]
                raise SpaceError(
                    f"Bounds of integer parameter {self.name!r} must be integers, but got {label}={bound!r}."
                )
        for label, bound in (("low", self.low), ("high", self.high)):
            if math.isfinite(_to_float(bound)) and abs(int(bound)) > MAX_EXACT_INTEGER:
                raise SpaceError(
                    f"Bounds of integer parameter {self.name!r} must lie within ±2**53 "
                    f"(±{MAX_EXACT_INTEGER}, the integers float64 holds exactly), but got "
                    f"{label}={int(bound)}."
                )
        _check_bounds(self.name, self.low, self.high, self.log)
        object.__setattr__(self, "low", int(self.low))
        object.__setattr__(self, "high", int(self.high))

    def validate(self, value: object) -> int:
        """Return ``value`` as an int inside the bounds, or raise SpaceError naming the rule."""
        if not _is_number(value):
            raise SpaceError(f"{self.name!r} must be an integer, but got {value!r}.")
        v = _to_float(value)
        if not math.isfinite(v) or not v.is_integer():
            raise SpaceError(f"{self.name!r} must be an integer, but got {value!r}.")
        if not self.low <= v <= self.high:
            raise SpaceError(
                f"{self.name!r} must lie in [{self.low}, {self.high}], but got {value!r}."
            )
        return int(v)

    def to_unit(self, value: float) -> float:
        if self.log:
            return (math.log(value) - math.log(self.low)) / (
                math.log(self.high) - math.log(self.low)
            )
        return (value - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> int:
        u = min(max(u, 0.0), 1.0)
        if self.log:
            raw = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            raw = self.low + u * (self.high - self.low)
        return int(min(max(round(raw), self.low), self.high))

    @property
    def size(self) -> int:
        """How many integers the parameter allows."""
        return self.high - self.low + 1

    def grid(self) -> list[float]:
        """The encoded values of every allowed integer, in order (one float each: mind `size`)."""
        return [self.to_unit(v) for v in range(self.low, self.high + 1)]

    def to_config(self) -> dict[str, Any]:
        return {
            "type": "integer",
            "name": self.name,
            "low": self.low,
            "high": self.high,
            "log": self.log,
        }


def _choice_key(value: object) -> tuple[str, object]:
    # True == 1 in Python; keying on the kind keeps True and 1 apart as choices.
    if isinstance(value, bool):
        return ("bool", value)
    if _is_number(value):
        return ("number", _to_float(value))
    return ("str", value)


@dataclass(frozen=True)
class Categorical:
    """A parameter taking one of ``choices`` (strings, numbers or booleans); order carries no meaning."""

    name: str
    choices: tuple[ChoiceValue, ...]

    def __post_init__(self) -> None:
        _check_name(self.name)
        if isinstance(self.choices, str | bytes) or not isinstance(self.choices, Iterable):
            raise SpaceError(
                f"Choices of {self.name!r} must be a list, but got choices={self.choices!r}."
            )
        choices = tuple(self.choices)
        for choice in choices:
            if not isinstance(choice, str | bool) and not _is_number(choice):
                raise SpaceError(
                    f"Choices of {self.name!r} must be strings, numbers or booleans, but got {choice!r}."
                )
            if _is_number(choice) and not math.isfinite(_to_float(choice)):  # type: ignore[arg-type]
                raise SpaceError(f"Choices of {self.name!r} must be finite, but got {choice!r}.")
        if len(choices) < 2:
            raise SpaceError(
                f"A categorical parameter needs at least 2 choices, but {self.name!r} has choices={list(choices)!r}."
            )
        keys = [_choice_key(c) for c in choices]
        duplicates = sorted(
            {repr(c) for c, k in zip(choices, keys, strict=True) if keys.count(k) > 1}
        )
        if duplicates:
            raise SpaceError(
                f"Choices of {self.name!r} must be unique, but got duplicates {', '.join(duplicates)}."
            )
        object.__setattr__(self, "choices", choices)

    def index(self, value: object) -> int:
        """Return the index of ``value`` among the choices, or raise SpaceError."""
        key = _choice_key(value) if isinstance(value, str | bool) or _is_number(value) else None
        for i, choice in enumerate(self.choices):
            if key == _choice_key(choice):
                return i
        # A CSV hands every cell back as text: accept "4" for the choice 4.
        if isinstance(value, str):
            for i, choice in enumerate(self.choices):
                if not isinstance(choice, str) and value.strip() == str(choice):
                    return i
        raise SpaceError(f"{self.name!r} must be one of {list(self.choices)!r}, but got {value!r}.")

    def validate(self, value: object) -> ChoiceValue:
        """Return the exact choice object equal to ``value``."""
        return self.choices[self.index(value)]

    def to_config(self) -> dict[str, Any]:
        return {"type": "categorical", "name": self.name, "choices": list(self.choices)}


Parameter: TypeAlias = Real | Integer | Categorical

_FROM_CONFIG = {"real": Real, "integer": Integer, "categorical": Categorical}


def parameter_from_config(config: Mapping[str, Any]) -> Parameter:
    """Rebuild a parameter from the dict that ``to_config`` wrote."""
    kind = config.get("type")
    cls = _FROM_CONFIG.get(str(kind))
    if cls is None:
        raise SpaceError(
            f"A parameter type must be one of {sorted(_FROM_CONFIG)}, but got {kind!r}."
        )
    fields = {k: v for k, v in config.items() if k != "type"}
    try:
        return cls(**fields)
    except TypeError as e:
        raise SpaceError(f"Parameter config {dict(config)!r} is malformed: {e}.") from None
