"""DNGO's deep-kernel head: a GP on the inputs and on a trained network's features.

The kernel is ``s * Matern52(x, x') * RBF(phi(x), phi(x'))``: bo_loop's GP kernel on the inputs
(one-hot categoricals, the GP's lengthscale and outputscale priors) times an RBF on the last
hidden layer ``phi`` of the ensemble's first network. Its hyperparameters maximise the marginal
likelihood (BoTorch's ``fit_gpytorch_mll``) under the noise prior ``noise_prior`` (`dngo.RULES`
says why the default is Optuna's nearly flat one).

Why a product (experiments/results/dngo_variants.md): on 30 points of Hartmann6 every
network-only head (BLR, more or fewer layers, weight decay, a quadratic prior mean, a sum kernel
``Matern + linear-or-RBF(phi)``) predicted an improvement 0.2-0.9 away from every observed point
where the truth was poor, and expected improvement went there. A product kernel is small
wherever the Matern factor is, so far from the data the mean reverts to the constant as a GP's
does, and near the data the features shape it.

It is an exact GP: cubic in the number of points. Past ``gp_head_max_n`` points DNGO uses its
Bayesian-linear-regression heads (linear in n) instead.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from botorch.exceptions.warnings import InputDataWarning, OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import InputTransform
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import MIN_INFERRED_NOISE_LEVEL
from gpytorch.kernels import MaternKernel, RBFKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior
from torch import Tensor, nn

from bo_loop.models.surrogates.encoding import FeatureMap
from bo_loop.models.surrogates.gp import flat_likelihood, refit_noise_free

#: Gamma(concentration, rate) of the RBF lengthscale on the features. The features are tanh
#: units in [-1, 1]; two points of a 50-unit basis lie about 1-10 apart, and the prior's mean (6)
#: sits in that range.
FEATURE_LENGTHSCALE_PRIOR = (3.0, 0.5)


class NetworkFeatures(InputTransform, nn.Module):
    """Encoded inputs -> ``[one-hot inputs in [0, 1], phi(x)]`` of one trained network."""

    def __init__(self, one_hot: FeatureMap, net_input: FeatureMap, networks: Any) -> None:
        """
        Args:
            one_hot: The GP's map of the encoded inputs (numeric in [0, 1], one-hot choices).
            net_input: The networks' map of the encoded inputs (numeric in [-1, 1]).
            networks: A trained ``dngo.Ensemble``; its first member gives the features.
        """
        super().__init__()
        self.transform_on_train = True
        self.transform_on_eval = True
        self.transform_on_fantasize = True
        self.one_hot = one_hot
        self.net_input = net_input
        self.networks = networks

    @property
    def input_dims(self) -> int:
        return self.one_hot.output_dim

    def transform(self, X: Tensor) -> Tensor:
        phi = self.networks.basis(self.net_input.transform(X))[0][..., :-1]
        return torch.cat([self.one_hot.transform(X), phi], dim=-1)

    def equals(self, other: InputTransform) -> bool:
        return other is self


def fit_product_gp(
    train_X: Tensor,
    train_Y: Tensor,
    *,
    bounds: Tensor,
    cat_dims: dict[int, list[float]],
    net_input: FeatureMap,
    networks: Any,
    noise_prior: str,
    noise_floor: float,
) -> SingleTaskGP:
    """Fit the product-kernel GP on the encoded data; the caller seeds torch's global RNG.

    Args:
        train_X: ``n x d`` float64 inputs in the space's encoding.
        train_Y: ``n x 1`` float64 outcomes (larger is better); standardised inside.
        bounds: The ``2 x d`` encoded bounds.
        cat_dims: Categorical columns (index -> allowed values), one-hot in both factors.
        net_input: The networks' input map.
        networks: The trained ensemble (its first member's features are used).
        noise_prior: "lognormal" (BoTorch's likelihood), "auto" (`gp.refit_noise_free` after
            it) or "gamma_flat" (`gp.flat_likelihood` from the start); the default is DNGO's
            setting (`dngo.RULES`), passed in by `dngo.fit_dngo`.
        noise_floor: The floor of the noise variance under "gamma_flat" (standardised units).

    Returns:
        A fitted ``SingleTaskGP`` in eval mode.
    """
    transform = NetworkFeatures(FeatureMap(bounds, cat_dims), net_input, networks)
    p = transform.input_dims
    width = int(networks.weights[-1].shape[1])

    def build(noise: GaussianLikelihood | None = None) -> SingleTaskGP:
        kernel = ScaleKernel(
            MaternKernel(nu=2.5, ard_num_dims=p, active_dims=list(range(p)),
                         lengthscale_prior=GammaPrior(3.0, 6.0))
            * RBFKernel(active_dims=list(range(p, p + width)),
                        lengthscale_prior=GammaPrior(*FEATURE_LENGTHSCALE_PRIOR)),
            outputscale_prior=GammaPrior(2.0, 0.15),
        )  # fmt: skip
        return SingleTaskGP(
            train_X, train_Y, outcome_transform=Standardize(m=1), input_transform=transform,
            covar_module=kernel, likelihood=noise,
        )  # fmt: skip

    def maximise(model: SingleTaskGP) -> None:
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputDataWarning)
        warnings.simplefilter("ignore", OptimizationWarning)
        model = build(flat_likelihood(noise_floor) if noise_prior == "gamma_flat" else None)
        maximise(model)
        if noise_prior == "auto":
            model = refit_noise_free(model, MIN_INFERRED_NOISE_LEVEL, build, maximise)
    model.eval()
    return model
