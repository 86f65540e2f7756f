"""Surrogate models. Each is a `base.Surrogate` record: the rules of its settings, a fit that
builds a fitted BoTorch ``Model`` from encoded training data, and the state a later fit of the
same campaign starts from.

The arguments of every fit:

- ``train_X``: an ``n x d`` float64 tensor in the space's encoding (numeric columns in [0, 1],
  categorical columns holding the choice index 0..k-1 as a float).
- ``train_Y``: an ``n x 1`` float64 tensor, already signed so that larger is better.
- ``bounds``: the ``2 x d`` encoded bounds (``Space.bounds()``).
- ``cat_dims``: categorical column index -> allowed index values (``Space.cat_dims``).
- ``seed``: makes the fit reproducible.
- ``settings``: the surrogate's full settings (``resolve_settings``), stored with the campaign.
- ``warm_start``: the ``state`` of the campaign's previous fit of this surrogate, or None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bo_loop.exceptions import SettingsError
from bo_loop.models import settings as _settings
from bo_loop.models.surrogates import dngo, gp
from bo_loop.models.surrogates.base import Surrogate

SURROGATES: dict[str, Surrogate] = {"gp": gp.SURROGATE, "dngo": dngo.SURROGATE}

#: Raised for an unknown surrogate or setting (the name predates `SettingsError`).
SurrogateError = SettingsError


def get(name: object) -> Surrogate:
    """The surrogate called ``name``.

    Raises:
        SettingsError: no such surrogate.
    """
    if not isinstance(name, str) or name not in SURROGATES:
        raise SettingsError(f"surrogate must be one of {sorted(SURROGATES)}, but got {name!r}.")
    return SURROGATES[name]


def stored_settings(name: str, settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The full settings of a stored campaign: like `resolve_settings`, except that a setting
    added after the campaign stored its settings takes the value the campaign ran with
    (`Surrogate.legacy`), not today's default, so the campaign proposes as it did.

    Raises:
        SettingsError: as `resolve_settings`.
    """
    if isinstance(settings, Mapping) and isinstance(name, str) and name in SURROGATES:
        settings = {**SURROGATES[name].legacy, **settings}
    return resolve_settings(name, settings)


def resolve_settings(name: str, settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The full, checked settings of surrogate ``name``: its defaults updated by ``settings``.

    Raises:
        SettingsError: the name, a setting's key or a setting's value breaks its rule.
    """
    return _settings.resolve(f"surrogate {name!r}", get(name).rules, settings)


__all__ = [
    "SURROGATES", "Surrogate", "SurrogateError", "get", "resolve_settings", "stored_settings",
]  # fmt: skip
