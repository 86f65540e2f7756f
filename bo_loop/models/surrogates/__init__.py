"""Surrogate models. Each entry builds a fitted BoTorch ``Model`` from encoded training data.

Every fit function has the same signature::

    fit(train_X, train_Y, *, bounds, cat_dims, seed, **settings) -> botorch.models.model.Model

- ``train_X``: an ``n x d`` float64 tensor in the space's encoding (numeric columns in [0, 1],
  categorical columns holding the choice index 0..k-1 as a float).
- ``train_Y``: an ``n x 1`` float64 tensor, already signed so that larger is better.
- ``bounds``: the ``2 x d`` encoded bounds (``Space.bounds()``).
- ``cat_dims``: categorical column index -> allowed index values (``Space.cat_dims``).
- ``seed``: makes the fit reproducible.
- ``settings``: the surrogate's own options, stored with the campaign as plain JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botorch.models.model import Model

from bo_loop.exceptions import BoLoopError
from bo_loop.models.surrogates.dngo import DEFAULT_SETTINGS as DNGO_DEFAULTS
from bo_loop.models.surrogates.dngo import fit_dngo
from bo_loop.models.surrogates.gp import DEFAULT_SETTINGS as GP_DEFAULTS
from bo_loop.models.surrogates.gp import fit_gp
from bo_loop.models.surrogates.gp import hyperparameters as gp_hyperparameters

FitFunction = Callable[..., Model]

SURROGATES: dict[str, tuple[FitFunction, dict[str, Any]]] = {
    "gp": (fit_gp, GP_DEFAULTS),
    "dngo": (fit_dngo, DNGO_DEFAULTS),
}


class SurrogateError(BoLoopError, ValueError):
    """An unknown surrogate name or setting."""


def resolve_settings(name: str, settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the full settings for surrogate ``name``: its defaults updated by ``settings``.

    Raises:
        SurrogateError: the name or one of the setting keys is unknown.
    """
    if name not in SURROGATES:
        raise SurrogateError(f"surrogate must be one of {sorted(SURROGATES)}, but got {name!r}.")
    defaults = SURROGATES[name][1]
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise SurrogateError(
            f"Unknown setting(s) {unknown!r} for surrogate {name!r}; allowed: {sorted(defaults)!r}."
        )
    return {**defaults, **settings}


def fit_surrogate(
    name: str,
    train_X: Any,
    train_Y: Any,
    *,
    bounds: Any,
    cat_dims: Mapping[int, list[float]],
    seed: int,
    settings: Mapping[str, Any] | None = None,
    warm_start: Mapping[str, Any] | None = None,
) -> Model:
    """Fit surrogate ``name`` on encoded data; see the module docstring for the arguments.

    ``warm_start`` is what `fitted_state` returned for an earlier fit of the same surrogate: the
    GP starts its marginal-likelihood fit there. DNGO trains from its seed and has none.
    """
    fit, _ = SURROGATES[name]
    extra = {"warm_start": warm_start} if name == "gp" and warm_start is not None else {}
    return fit(
        train_X,
        train_Y,
        bounds=bounds,
        cat_dims=dict(cat_dims),
        seed=seed,
        **extra,
        **resolve_settings(name, settings),
    )


def fitted_state(name: str, model: Model) -> dict[str, Any] | None:
    """Plain-JSON state of a fitted surrogate that a later fit can start from, or None."""
    return gp_hyperparameters(model) if name == "gp" else None
