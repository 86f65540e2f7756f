"""What the rest of bo_loop needs of a surrogate: its settings' rules, a fit, and a state to resume from.

Each surrogate module defines one ``Surrogate`` record; ``bo_loop.models.surrogates.SURROGATES``
maps names to them. Callers never branch on a surrogate's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from botorch.models.model import Model
from torch import Tensor

from bo_loop.models.settings import Rules


class FitFunction(Protocol):
    def __call__(
        self,
        train_X: Tensor,
        train_Y: Tensor,
        *,
        bounds: Tensor,
        cat_dims: dict[int, list[float]],
        seed: int,
        settings: Mapping[str, Any],
        warm_start: Mapping[str, Any] | None,
    ) -> Model: ...


@dataclass(frozen=True)
class Surrogate:
    """A surrogate model kind.

    Attributes:
        rules: Its settings: name -> (default, check); see `bo_loop.models.settings`.
        fit: Builds a fitted BoTorch ``Model`` from encoded data (``train_X``: ``n x d`` in the
            space's encoding; ``train_Y``: ``n x 1``, signed so that larger is better), with its
            full settings and the `state` of an earlier fit to start from (or None).
        state: Plain-JSON state of a fitted model that a later fit can start from, or None.
        legacy: Settings added after campaigns began storing theirs in full, with the value
            such a campaign ran with: a stored settings dict that lacks one gets this value,
            not the current default, so an old campaign keeps proposing as it did.
    """

    rules: Rules
    fit: FitFunction
    state: Callable[[Model], dict[str, Any] | None]
    legacy: Mapping[str, Any] = field(default_factory=dict)
