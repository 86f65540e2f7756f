"""The search space: parameters in order, and the encoding between params and model tensors.

The parameters themselves (names, bounds, validation) live in `bo_loop.parameters`.

The model sees one column per parameter:

- ``Real`` and ``Integer``: the value mapped to [0, 1] by the parameter's bounds (through the log
  when ``log=True``). Integers are only ever proposed on their grid.
- ``Categorical``: the index of the choice, 0..k-1, as a float; surrogates treat such a column as
  categorical (the GP with a categorical kernel, DNGO by one-hot expanding it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from bo_loop.exceptions import SpaceError
from bo_loop.parameters import (
    MAX_EXACT_INTEGER,
    MAX_GRID,
    NAME_RULE,
    RESERVED_NAMES,
    Categorical,
    ChoiceValue,
    Integer,
    Parameter,
    Real,
    has_bad_characters,
    parameter_from_config,
)

__all__ = [
    "MAX_EXACT_INTEGER",
    "MAX_GRID",
    "NAME_RULE",
    "RESERVED_NAMES",
    "Categorical",
    "ChoiceValue",
    "Integer",
    "Parameter",
    "Real",
    "Space",
    "has_bad_characters",
    "parameter_from_config",
    "params_key",
]


class Space:
    """An ordered, validated collection of parameters, and the encoding to model tensors."""

    def __init__(self, parameters: Sequence[Parameter]):
        if isinstance(parameters, Real | Integer | Categorical):
            parameters = [parameters]
        params = list(parameters)
        if not params:
            raise SpaceError("A search space needs at least one parameter, but got none.")
        for p in params:
            if not isinstance(p, Real | Integer | Categorical):
                raise SpaceError(
                    f"Parameters must be bl.Real, bl.Integer or bl.Categorical, but got {p!r}."
                )
        names = [p.name for p in params]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SpaceError(f"Parameter names must be unique, but got duplicates {duplicates!r}.")
        self.parameters: tuple[Parameter, ...] = tuple(params)

    # -- description -------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def dim(self) -> int:
        return len(self.parameters)

    def __len__(self) -> int:
        return len(self.parameters)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.parameters == other.parameters

    def __repr__(self) -> str:
        return f"Space({list(self.parameters)!r})"

    def to_config(self) -> list[dict[str, Any]]:
        return [p.to_config() for p in self.parameters]

    @classmethod
    def from_config(cls, config: Sequence[Mapping[str, Any]]) -> Space:
        return cls([parameter_from_config(c) for c in config])

    @property
    def cat_dims(self) -> dict[int, list[float]]:
        """Categorical columns and their allowed (index) values."""
        return {
            i: [float(j) for j in range(len(p.choices))]
            for i, p in enumerate(self.parameters)
            if isinstance(p, Categorical)
        }

    @property
    def discrete_dims(self) -> dict[int, list[float]]:
        """Integer columns of at most MAX_GRID values and their allowed encoded values.

        Wider integers are left out: the optimiser treats them as continuous and `decode` rounds.
        """
        return {
            i: p.grid()
            for i, p in enumerate(self.parameters)
            if isinstance(p, Integer) and p.size <= MAX_GRID
        }

    @property
    def is_continuous(self) -> bool:
        return all(isinstance(p, Real) for p in self.parameters)

    def bounds(self) -> Tensor:
        """A ``2 x d`` float64 tensor of the encoded bounds: [0, 1], or [0, k-1] for categoricals."""
        upper = [
            float(len(p.choices) - 1) if isinstance(p, Categorical) else 1.0
            for p in self.parameters
        ]
        return torch.tensor([[0.0] * self.dim, upper], dtype=torch.float64)

    # -- validation --------------------------------------------------------------------------

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check a full parameter dict and return it normalised (ints as int, exact choice objects).

        Raises:
            SpaceError: a parameter is missing or unknown, or a value breaks its parameter's rule.
        """
        if not isinstance(params, Mapping):
            raise SpaceError(f"Parameters must be a dict of name -> value, but got {params!r}.")
        unknown = [k for k in params if k not in self.names]
        if unknown:
            raise SpaceError(f"Unknown parameter(s) {unknown!r}; the space has {self.names!r}.")
        missing = [n for n in self.names if n not in params]
        if missing:
            raise SpaceError(
                f"Missing parameter(s) {missing!r}; every one of {self.names!r} is needed."
            )
        return {p.name: p.validate(params[p.name]) for p in self.parameters}

    # -- encoding ----------------------------------------------------------------------------

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> Tensor:
        """Encode validated parameter dicts as an ``n x d`` float64 tensor."""
        out = torch.empty(len(rows), self.dim, dtype=torch.float64)
        for r, row in enumerate(rows):
            for c, p in enumerate(self.parameters):
                value = row[p.name]
                out[r, c] = (
                    p.index(value) if isinstance(p, Categorical) else p.to_unit(float(value))
                )
        return out

    def decode(self, X: Tensor) -> list[dict[str, Any]]:
        """Decode an ``n x d`` tensor into parameter dicts, rounding onto integer and choice grids."""
        rows: list[dict[str, Any]] = []
        for x in X.detach().to(dtype=torch.float64, device="cpu").tolist():
            row: dict[str, Any] = {}
            for value, p in zip(x, self.parameters, strict=True):
                if isinstance(p, Categorical):
                    row[p.name] = p.choices[min(max(round(value), 0), len(p.choices) - 1)]
                else:
                    row[p.name] = p.from_unit(value)
            rows.append(row)
        return rows

    def round_to_grid(self, X: Tensor) -> Tensor:
        """Snap an encoded tensor onto what ``decode`` would return (integers and choices exact)."""
        return self.encode(self.decode(X)).to(X)

    def from_unit_cube(self, U: Tensor) -> Tensor:
        """Map uniform samples in [0, 1)^d to encoded points, each integer and choice equally likely."""
        X = U.clone().to(torch.float64)
        for c, p in enumerate(self.parameters):
            if isinstance(p, Categorical):
                X[:, c] = torch.clamp(torch.floor(U[:, c] * len(p.choices)), 0, len(p.choices) - 1)
            elif isinstance(p, Integer) and not p.log:
                n = p.high - p.low + 1
                idx = torch.clamp(torch.floor(U[:, c] * n), 0, n - 1)
                X[:, c] = idx / (n - 1)
        return self.round_to_grid(X)


def params_key(params: Mapping[str, Any], space: Space) -> tuple[Any, ...]:
    """A hashable key that is equal for two parameter dicts that decode to the same point."""
    key: list[Any] = []
    for p in space.parameters:
        value = params[p.name]
        key.append(p.index(value) if isinstance(p, Categorical) else float(value))
    return tuple(key)
