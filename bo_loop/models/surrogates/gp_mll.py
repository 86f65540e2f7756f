"""The marginal likelihood of bo_loop's GP in plain torch, so that fitting it is cheap.

A ``SingleTaskGP`` with a Matern-5/2 ARD kernel under a scale kernel, a constant mean and
homoskedastic noise (``gp.covar_module("matern_gamma", ...)``) is fitted by maximising
GPyTorch's ``ExactMarginalLogLikelihood``: the log density of the standardised outcomes plus the
log priors of the hyperparameters, divided by n. Evaluated through GPyTorch that costs 5-10 ms
per evaluation at tens of points, nearly all of it Python dispatch, and a fit takes 20-400
evaluations. `negative_mll` computes the same number from the same raw parameters with a dozen
tensor operations (tests/surrogates/test_gp_mll.py checks value and gradient against GPyTorch);
`fit_raw` minimises it with SciPy's L-BFGS-B over the same unconstrained parameters that
BoTorch's ``fit_gpytorch_mll`` optimises, and the result is loaded back into the SingleTaskGP,
whose posterior the acquisition functions then use as usual.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from botorch.models import SingleTaskGP
from scipy.optimize import minimize
from torch import Tensor

#: The raw parameters, by their names in the SingleTaskGP.
NOISE = "likelihood.noise_covar.raw_noise"
CONSTANT = "mean_module.raw_constant"
OUTPUTSCALE = "covar_module.raw_outputscale"
LENGTHSCALE = "covar_module.base_kernel.raw_lengthscale"
NAMES = (NOISE, CONSTANT, OUTPUTSCALE, LENGTHSCALE)

#: Jitter added to the covariance's diagonal when its Cholesky fails, as GPyTorch does.
JITTERS = (1e-8, 1e-7, 1e-6)


class Problem:
    """The data and priors of one fit, read off a constructed (unfitted) SingleTaskGP."""

    def __init__(self, model: SingleTaskGP) -> None:
        """
        Args:
            model: A SingleTaskGP built by `gp.fit_gp` with the "matern_gamma" kernel.
        """
        X = model.train_inputs[0]
        transform = getattr(model, "input_transform", None)
        self.Z = transform.transform(X) if transform is not None else X
        self.y = model.train_targets
        base = model.covar_module.base_kernel
        noise = model.likelihood.noise_covar
        #: Each raw parameter's constraint. An enforced one maps the raw value (softplus); one
        #: that is not (BoTorch's noise floor) is the raw value, bounded in the optimiser.
        self.constraints = {
            NOISE: noise.raw_noise_constraint,
            OUTPUTSCALE: model.covar_module.raw_outputscale_constraint,
            LENGTHSCALE: base.raw_lengthscale_constraint,
        }
        self.lengthscale_prior = _gamma(base.lengthscale_prior)
        self.outputscale_prior = _gamma(model.covar_module.outputscale_prior)
        prior = noise.noise_prior
        #: ("lognormal", loc, scale) or ("gamma", concentration, rate) (`gp.likelihood`).
        self.noise_prior: tuple[str, float, float] = (
            ("gamma", float(prior.concentration), float(prior.rate))
            if isinstance(prior, torch.distributions.Gamma)
            else ("lognormal", float(prior.loc), float(prior.scale))
        )
        self.shapes = {name: p.shape for name, p in model.named_parameters()}

    def unpack(self, theta: Tensor) -> dict[str, Tensor]:
        """Split a flat parameter vector into the named raw parameters (in `NAMES` order)."""
        out, start = {}, 0
        for name in NAMES:
            size = math.prod(self.shapes[name])
            out[name] = theta[start : start + size].reshape(self.shapes[name])
            start += size
        return out

    def pack(self, raw: Mapping[str, Tensor]) -> Tensor:
        """The flat vector of raw parameters, in `NAMES` order."""
        return torch.cat([raw[name].reshape(-1) for name in NAMES])

    def value(self, raw: Mapping[str, Tensor], name: str) -> Tensor:
        """The actual hyperparameter from its raw parameter, as GPyTorch computes it."""
        constraint = self.constraints[name]
        return constraint.transform(raw[name]) if constraint.enforced else raw[name]

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """L-BFGS-B bounds per entry of the flat vector: those of constraints not enforced."""
        out: list[tuple[float | None, float | None]] = []
        for name in NAMES:
            bound: tuple[float | None, float | None] = (None, None)
            constraint = self.constraints.get(name)
            if constraint is not None and not constraint.enforced:
                low, high = float(constraint.lower_bound), float(constraint.upper_bound)
                bound = (low if math.isfinite(low) else None, high if math.isfinite(high) else None)
            out += [bound] * math.prod(self.shapes[name])
        return out


def _gamma(prior: torch.distributions.Gamma) -> tuple[Tensor, Tensor]:
    """Concentration and rate: scalars, or one per lengthscale (`gp.covar_module`)."""
    return prior.concentration.detach().double(), prior.rate.detach().double()


def _gamma_log_prob(x: Tensor, concentration: Tensor | float, rate: Tensor | float) -> Tensor:
    concentration = torch.as_tensor(concentration, dtype=x.dtype)
    rate = torch.as_tensor(rate, dtype=x.dtype)
    return (
        concentration * torch.log(rate)
        + (concentration - 1) * torch.log(x)
        - rate * x
        - torch.lgamma(concentration)
    ).sum()


def _lognormal_log_prob(x: Tensor, loc: float, scale: float) -> Tensor:
    z = (torch.log(x) - loc) / scale
    return (-0.5 * z**2 - math.log(scale) - 0.5 * math.log(2 * math.pi) - torch.log(x)).sum()


def _noise_log_prob(noise: Tensor, prior: tuple[str, float, float]) -> Tensor:
    kind, a, b = prior
    return _gamma_log_prob(noise, a, b) if kind == "gamma" else _lognormal_log_prob(noise, a, b)


def matern52(Z1: Tensor, Z2: Tensor, lengthscale: Tensor) -> Tensor:
    """The Matern-5/2 correlation of every row of ``Z1`` with every row of ``Z2``."""
    diff = (Z1.unsqueeze(-2) - Z2.unsqueeze(-3)) / lengthscale
    # The square root's gradient is infinite at 0 (the diagonal); the clamp keeps it finite.
    r = diff.pow(2).sum(-1).clamp_min(1e-30).sqrt()
    s5r = math.sqrt(5.0) * r
    return (1.0 + s5r + s5r**2 / 3.0) * torch.exp(-s5r)


def negative_mll(theta: Tensor, problem: Problem) -> Tensor:
    """Minus GPyTorch's ``ExactMarginalLogLikelihood`` (log density + log priors, over n)."""
    raw = problem.unpack(theta)
    noise = problem.value(raw, NOISE)
    outputscale = problem.value(raw, OUTPUTSCALE)
    lengthscale = problem.value(raw, LENGTHSCALE).reshape(-1)
    n = problem.y.shape[0]
    K = outputscale * matern52(problem.Z, problem.Z, lengthscale)
    K = K + noise * torch.eye(n, dtype=K.dtype)
    L, info = torch.linalg.cholesky_ex(K)
    for jitter in JITTERS:
        if not info:
            break
        L, info = torch.linalg.cholesky_ex(K + jitter * torch.eye(n, dtype=K.dtype))
    if info:
        return torch.tensor(math.inf, dtype=theta.dtype)
    r = (problem.y - raw[CONSTANT]).unsqueeze(-1)
    alpha = torch.cholesky_solve(r, L)
    log_density = -0.5 * (r * alpha).sum() - torch.log(torch.diagonal(L)).sum()
    log_density = log_density - 0.5 * n * math.log(2 * math.pi)
    log_prior = (
        _gamma_log_prob(lengthscale, *problem.lengthscale_prior)
        + _gamma_log_prob(outputscale, *problem.outputscale_prior)
        + _noise_log_prob(noise, problem.noise_prior)
    )
    return -(log_density + log_prior) / n


def fit_raw(model: SingleTaskGP, maxiter: int | None = None) -> bool:
    """Maximise the marginal likelihood of ``model`` from its current raw parameters.

    Returns:
        True if L-BFGS-B ended at a finite value and the optimum was loaded into ``model``;
        False (``model`` untouched) otherwise, for the caller to fall back on BoTorch's fit.
    """
    params = dict(model.named_parameters())
    if set(params) != set(NAMES):
        return False
    problem = Problem(model)
    x0 = problem.pack({k: p.detach() for k, p in params.items()}).numpy()

    def value_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        theta = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        value = negative_mll(theta, problem)
        if not torch.isfinite(value):
            return math.inf, np.zeros_like(x)
        (grad,) = torch.autograd.grad(value, theta)
        return float(value.detach()), grad.numpy()

    options = {} if maxiter is None else {"maxiter": maxiter}
    result = minimize(
        value_and_grad, x0, jac=True, method="L-BFGS-B", bounds=problem.bounds(), options=options
    )
    if not np.isfinite(result.fun) or not np.all(np.isfinite(result.x)):
        return False
    best = problem.unpack(torch.as_tensor(result.x, dtype=torch.float64))
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(best[name])
    return True
