"""Typed model settings: every knob that can change a proposal, checked when a campaign is created.

Settings are plain JSON stored in the campaign's config, so a campaign opened anywhere proposes
with exactly the settings it was created (or last switched) with. Each group (a surrogate's, the
acquisition's) is a dict of rules: name -> (default, check). ``resolve`` fills the defaults and
checks every value, so a bad value is refused at create, not at the first model-based ask.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

from bo_loop.exceptions import SettingsError

#: A check takes the setting's name and value and returns the cleaned value, or raises ValueError
#: with the rule ("must be an integer >= 1").
Check = Callable[[Any], Any]
Rules = Mapping[str, tuple[Any, Check]]


def integer(low: int, high: int | None = None, *, optional: bool = False) -> Check:
    """An int in ``[low, high]`` (None allowed when ``optional``)."""

    def check(value: Any) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError("must be an integer" + (" or null" if optional else ""))
        v = int(value)
        if v < low or (high is not None and v > high):
            raise ValueError(
                f"must be in [{low}, {high}]" if high is not None else f"must be >= {low}"
            )
        return v

    return check


def real(
    low: float, high: float = math.inf, *, low_open: bool = False, optional: bool = False
) -> Check:
    """A finite number in ``[low, high]`` (``(low, high]`` when ``low_open``); or null when
    ``optional``."""

    def check(value: Any) -> float | None:
        if optional and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError("must be a number" + (" or null" if optional else ""))
        v = float(value)
        too_low = v <= low if low_open else v < low
        if not math.isfinite(v) or too_low or v > high:
            left = "(" if low_open else "["
            null = " or null" if optional else ""
            raise ValueError(f"must be a finite number in {left}{low}, {high}]{null}")
        return v

    return check


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {list(choices)!r}")
        return str(value)

    return check


def int_list(low: int) -> Check:
    """A non-empty list of ints >= ``low``."""

    def check(value: Any) -> list[int]:
        if (
            not isinstance(value, list | tuple)
            or not value
            or any(
                isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low for v in value
            )
        ):
            raise ValueError(f"must be a non-empty list of integers >= {low}")
        return [int(v) for v in value]

    return check


def resolve(group: str, rules: Rules, settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The full settings of ``group``: its defaults updated by ``settings``, every value checked.

    Raises:
        SettingsError: an unknown key, or a value that breaks its rule (the message names both).
    """
    if settings is not None and not isinstance(settings, Mapping):
        raise SettingsError(f"{group} settings must be a mapping, but got {settings!r}.")
    given = dict(settings or {})
    unknown = sorted(set(given) - set(rules))
    if unknown:
        raise SettingsError(
            f"Unknown setting(s) {unknown!r} for {group}; allowed: {sorted(rules)!r}."
        )
    out = {}
    for name, (default, check) in rules.items():
        value = given.get(name, default)
        try:
            out[name] = check(value)
        except ValueError as e:
            raise SettingsError(
                f"Setting {name!r} of {group} {e}, but got {name}={value!r}."
            ) from None
    return out


def defaults(rules: Rules) -> dict[str, Any]:
    return {name: default for name, (default, _) in rules.items()}
