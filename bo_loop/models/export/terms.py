"""A fitted surrogate reduced to plain float64 arrays: what an ONNX graph or a Pyomo block needs.

Both exports compute the same thing as ``FittedModel.mean_sd``, from raw parameter values:

1. Each numeric parameter to its unit value ``u`` (``(v - low) / (high - low)``, through the
   log for ``log=True``), each categorical to one-hot indicators of its choice index.
2. The surrogate's features (``encoding.FeatureMap``): each categorical's one-hot columns in its
   place, numeric columns as ``u`` for the GP and ``2u - 1`` for DNGO.
3. The standardised predictive mean and variance, then the outcome's scale and sign.

The linear algebra that BoTorch does with triangular solves is precomputed here as the inverse of
each Cholesky factor, because neither ONNX nor an algebraic modelling language has a solve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bo_loop.exceptions import ExportError
from bo_loop.models.fitting import FittedModel
from bo_loop.models.surrogates.dngo import JITTER, DNGOModel
from bo_loop.models.surrogates.gp_posterior import ClosedFormGP
from bo_loop.space import Categorical, Space

#: A feature: ``(parameter index, None)`` is a numeric parameter's ``scale * u + shift``;
#: ``(parameter index, j)`` is the indicator of a categorical's choice ``j``.
Feature = tuple[int, int | None]


@dataclass(frozen=True)
class GPTerms:
    """The closed-form posterior of the Matern-5/2 GP (`gp_posterior.ClosedFormGP`).

    On the standardised scale ``mean = constant + outputscale * k(z, Z) @ alpha`` and
    ``variance = outputscale - |Linv @ (outputscale * k(Z, z))|^2``.

    Attributes:
        train: ``n x p`` training features ``Z``.
        lengthscale: ``p`` lengthscales.
        alpha: ``n`` weights ``K^-1 (y - constant)``.
        linv: ``n x n`` inverse of the lower Cholesky factor of ``K``.
        outputscale: The kernel's outputscale.
        constant: The prior mean (standardised).
    """

    train: np.ndarray
    lengthscale: np.ndarray
    alpha: np.ndarray
    linv: np.ndarray
    outputscale: float
    constant: float


@dataclass(frozen=True)
class DNGOTerms:
    """An ensemble of tanh networks and the Bayesian linear-regression heads on their bases.

    Head ``k`` on network ``head_net[k]`` predicts ``phi @ head_mean[k]`` with variance
    ``|head_linv[k] @ phi|^2``, where ``phi`` is the network's last hidden layer plus a 1; the
    model's prediction is the mixture of the heads with weights ``head_weight``, its variance
    raised by ``jitter``.

    Attributes:
        weights: Per hidden layer an ``E x in x out`` array.
        biases: Per hidden layer an ``E x out`` array.
        head_net: ``K`` network indices.
        head_mean: ``K x D`` weight posterior means.
        head_linv: ``K x D x D`` inverses of the lower Cholesky factors of ``A``.
        head_weight: ``K`` mixture weights.
        jitter: Added to the standardised variance (`dngo.JITTER`).
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    head_net: np.ndarray
    head_mean: np.ndarray
    head_linv: np.ndarray
    head_weight: np.ndarray
    jitter: float


@dataclass(frozen=True)
class ExportTerms:
    """Everything an export needs, as plain arrays.

    Attributes:
        space: The search space (raw parameter values in, in its order).
        features: The surrogate's input features, in order (see `Feature`).
        scale: Numeric features are ``scale * u + shift``.
        shift: See ``scale``.
        y_mean: The standardised outcome is ``(y - y_mean) / y_std``, signed larger-is-better.
        y_std: See ``y_mean``.
        sign: +1 for a maximised objective, -1 for a minimised one.
        model: The surrogate's terms.
    """

    space: Space
    features: list[Feature]
    scale: float
    shift: float
    y_mean: float
    y_std: float
    sign: float
    model: GPTerms | DNGOTerms


def _array(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).cpu().numpy().copy()


def _inverse_lower(chol: torch.Tensor) -> np.ndarray:
    eye = torch.eye(chol.shape[-1], dtype=chol.dtype).expand_as(chol)
    return _array(torch.linalg.solve_triangular(chol, eye, upper=False))


def model_features(space: Space) -> list[Feature]:
    """The features of every surrogate (``encoding.FeatureMap``): each categorical's one-hot
    columns in its place."""
    out: list[Feature] = []
    for i, p in enumerate(space.parameters):
        out += (
            [(i, j) for j in range(len(p.choices))] if isinstance(p, Categorical) else [(i, None)]
        )
    return out


def export_terms(fitted: FittedModel) -> ExportTerms:
    """Read the arrays of an exportable fitted surrogate.

    Raises:
        ExportError: the surrogate is not the closed-form Matern GP or DNGO (a GP with kernel
            "rbf_dim_scaled" or ``closed_form_posterior=False``), or its outcomes were divided
            by a power of two because some exceed 2**200 (``FittedModel.scale`` above 1).
    """
    # Outcomes spread over less than 2**-10 are multiplied by a power of two before the fit
    # (scale below 1): the export's outcome standardisation takes the factor back, exactly.
    u = fitted.scale
    if u > 1.0:
        raise ExportError(
            "An export needs outcomes within ±2**200 (the model's own units), but this campaign's "
            f"model divides them by scale={fitted.scale!r}; no solver copes with such magnitudes."
        )
    model = fitted.model
    sign = float(fitted.objective.sign)
    if isinstance(model, ClosedFormGP):
        gp = GPTerms(
            train=_array(model.Z), lengthscale=_array(model.lengthscale),
            alpha=_array(model.alpha.reshape(-1)), linv=_inverse_lower(model.L),
            outputscale=model.outputscale, constant=model.constant,
        )  # fmt: skip
        return ExportTerms(
            fitted.space,
            model_features(fitted.space),
            1.0,
            0.0,
            model.y_mean * u,
            model.y_std * u,
            sign,
            gp,
        )
    if isinstance(model, DNGOModel) and model.prior_mean:
        raise ExportError(
            "DNGO with a quadratic prior mean cannot be exported (the export has no term for it), "
            f"but got prior_mean={model.prior_mean!r}; refit with prior_mean=0."
        )
    if isinstance(model, DNGOModel):
        # The encoder maps a numeric column x to 2 (x - low) / span - 1 with the encoded bounds.
        numeric = [i for i in range(model.encoder.d) if i not in model.encoder.sizes]
        low, span = _array(model.encoder.low)[numeric], _array(model.encoder.span)[numeric]
        if len(low) and not (np.all(low == 0.0) and np.all(span == 1.0)):
            raise ExportError(
                f"DNGO's numeric inputs must be bounded by [0, 1], but got low={low}, span={span}."
            )
        net = model.networks
        dngo = DNGOTerms(
            weights=[_array(w) for w in net.weights[:-1]],
            biases=[_array(b).reshape(b.shape[0], -1) for b in net.biases[:-1]],
            head_net=_array(model.head_net).astype(np.int64), head_mean=_array(model.head_mean),
            head_linv=_inverse_lower(model.head_chol), head_weight=_array(model.head_weight),
            jitter=JITTER,
        )  # fmt: skip
        return ExportTerms(
            fitted.space, model_features(fitted.space), 2.0, -1.0, model.y_mean * u,
            model.y_std * u, sign, dngo,
        )  # fmt: skip
    if fitted.surrogate == "dngo":
        raise ExportError(
            "DNGO exports with its Bayesian-linear-regression heads only, but this fit used "
            f"head={fitted.settings.get('head')!r} ({type(model).__name__}: a GP on the network's "
            "features, which the export has no terms for); refit with head='blr'."
        )
    setting = (
        f"kernel={fitted.settings.get('kernel')!r}, "
        f"closed_form_posterior={fitted.settings.get('closed_form_posterior')!r}"
        if fitted.surrogate == "gp"
        else f"{fitted.settings!r}"
    )
    raise ExportError(
        "Only DNGO and the GP with kernel='matern_gamma' and closed_form_posterior=True can be "
        f"exported, but got surrogate={fitted.surrogate!r} with {setting} "
        f"({type(model).__name__})."
    )
