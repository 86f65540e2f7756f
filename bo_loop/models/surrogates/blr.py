"""Bayesian linear regression on fixed features: the second half of DNGO.

Model: ``y = Phi w + eps`` with weights ``w ~ N(0, I / alpha)`` and noise ``eps ~ N(0, I / beta)``.

- ``A = alpha I + beta Phi^T Phi``; ``m = beta A^-1 Phi^T y``
- predictive mean ``phi(x)^T m``, covariance ``Phi* A^-1 Phi*^T`` (+ ``I / beta`` with noise)
- log evidence ``D/2 log alpha + N/2 log beta - beta/2 |y - Phi m|^2 - alpha/2 |m|^2
  - 1/2 log|A| - N/2 log 2 pi``

This is the weight-space view of a GP with kernel ``phi(x)^T phi(x') / alpha`` and noise variance
``1 / beta``; the tests check the two views agree. Every function works in float64.

The hyperparameters are found on the spectrum of ``Phi^T Phi``: once it is diagonalised (``O(D^3)``,
once), the evidence at any ``(alpha, beta)`` costs ``O(D)``. That makes a dense grid over the
bounded log-space box (the "several starts") and an exact-gradient refinement of the best grid
points nearly free, and it gives the grid weights for integrating ``(alpha, beta)`` out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize
from torch import Tensor

#: Bounds of the weight precision alpha and the noise precision beta, for standardised outcomes.
#: beta <= 1e8 keeps a noise floor of sd 1e-4 (in units of the outcome's sd): a network never
#: interpolates exactly, and an unbounded beta would make the evidence chase round-off.
ALPHA_BOUNDS = (1e-4, 1e4)
BETA_BOUNDS = (1e-2, 1e8)
GRID_SIZE = 41
N_STARTS = 3


@dataclass(frozen=True)
class BLRPosterior:
    """The weight posterior ``N(mean, A^-1)`` for one ``(alpha, beta)``.

    Attributes:
        alpha: Prior precision of the weights.
        beta: Noise precision.
        mean: The ``D`` posterior mean of the weights, ``m``.
        chol: The ``D x D`` lower Cholesky factor of ``A = alpha I + beta Phi^T Phi``.
        log_evidence: ``log p(y | alpha, beta)``.
    """

    alpha: float
    beta: float
    mean: Tensor
    chol: Tensor
    log_evidence: float


def log_evidence(phi: Tensor, y: Tensor, alpha: float, beta: float) -> Tensor:
    """The log marginal likelihood ``log N(y; 0, Phi Phi^T / alpha + I / beta)`` in weight space.

    Args:
        phi: An ``N x D`` float64 feature matrix.
        y: An ``N`` float64 target vector.
        alpha: Prior precision of the weights.
        beta: Noise precision.

    Returns:
        A scalar tensor.
    """
    return torch.tensor(posterior(phi, y, alpha, beta).log_evidence, dtype=phi.dtype)


def posterior(phi: Tensor, y: Tensor, alpha: float, beta: float) -> BLRPosterior:
    """The weight posterior and the log evidence for fixed ``alpha`` and ``beta``.

    Args:
        phi: An ``N x D`` float64 feature matrix.
        y: An ``N`` float64 target vector.
        alpha: Prior precision of the weights.
        beta: Noise precision.

    Returns:
        The posterior, with the Cholesky factor of ``A`` for predictions.
    """
    n, d = phi.shape
    a = alpha * torch.eye(d, dtype=phi.dtype) + beta * (phi.T @ phi)
    chol = torch.linalg.cholesky(a)
    m = beta * torch.cholesky_solve((phi.T @ y).unsqueeze(-1), chol).squeeze(-1)
    resid = y - phi @ m
    logdet_a = 2.0 * torch.log(torch.diagonal(chol)).sum()
    value = (
        0.5 * d * math.log(alpha)
        + 0.5 * n * math.log(beta)
        - 0.5 * beta * resid.pow(2).sum()
        - 0.5 * alpha * m.pow(2).sum()
        - 0.5 * logdet_a
        - 0.5 * n * math.log(2 * math.pi)
    )
    return BLRPosterior(alpha, beta, m, chol, float(value))


class _Spectrum:
    """``Phi^T Phi`` diagonalised, so that the evidence is ``O(D)`` per ``(alpha, beta)``."""

    def __init__(self, phi: Tensor, y: Tensor) -> None:
        eigval, eigvec = torch.linalg.eigh(phi.T @ phi)
        # Round-off can leave tiny negative eigenvalues of a PSD matrix; they are zero.
        self.lam = eigval.clamp_min(0.0).numpy()
        self.b = (eigvec.T @ (phi.T @ y)).numpy()
        self.yy = float(y @ y)
        self.n, self.d = phi.shape

    def value_and_grad(self, log_a: np.ndarray, log_b: np.ndarray) -> tuple[np.ndarray, ...]:
        """Log evidence and its gradient in ``(log alpha, log beta)``; broadcasts over the inputs.

        The gradient uses that ``m`` maximises the joint density, so the evidence depends on
        ``alpha`` and ``beta`` only through their explicit terms (MacKay 1992).
        """
        a = np.exp(log_a)[..., None]
        b = np.exp(log_b)[..., None]
        s = a + b * self.lam  # eigenvalues of A
        c = b * self.b / s  # m in the eigenbasis
        m2 = (c**2).sum(-1)
        # |y - Phi m|^2 expanded in the eigenbasis; clamp guards the cancellation at tiny residuals.
        e_d = np.maximum(self.yy - 2 * (c * self.b).sum(-1) + (c**2 * self.lam).sum(-1), 0.0)
        a, b = a[..., 0], b[..., 0]
        value = (
            0.5 * self.d * log_a
            + 0.5 * self.n * log_b
            - 0.5 * b * e_d
            - 0.5 * a * m2
            - 0.5 * np.log(s).sum(-1)
            - 0.5 * self.n * math.log(2 * math.pi)
        )
        grad_a = 0.5 * self.d - 0.5 * a * m2 - 0.5 * a * (1.0 / s).sum(-1)
        grad_b = 0.5 * self.n - 0.5 * b * e_d - 0.5 * b * (self.lam / s).sum(-1)
        return value, grad_a, grad_b


def _log_box(
    alpha_bounds: tuple[float, float], beta_bounds: tuple[float, float]
) -> list[tuple[float, float]]:
    return [(math.log(alpha_bounds[0]), math.log(alpha_bounds[1])),
            (math.log(beta_bounds[0]), math.log(beta_bounds[1]))]  # fmt: skip


def maximize_evidence(
    phi: Tensor,
    y: Tensor,
    alpha_bounds: tuple[float, float] = ALPHA_BOUNDS,
    beta_bounds: tuple[float, float] = BETA_BOUNDS,
) -> BLRPosterior:
    """The posterior at the ``(alpha, beta)`` that maximise the log evidence inside the bounds.

    A ``GRID_SIZE x GRID_SIZE`` grid over the log-space box picks ``N_STARTS`` distinct starts;
    L-BFGS-B with the exact gradient refines each; the best wins.

    Args:
        phi: An ``N x D`` float64 feature matrix.
        y: An ``N`` float64 target vector.
        alpha_bounds: ``(low, high)`` for alpha.
        beta_bounds: ``(low, high)`` for beta.

    Returns:
        The weight posterior at the maximiser.
    """
    spec = _Spectrum(phi, y)
    box = _log_box(alpha_bounds, beta_bounds)
    ga, gb = np.meshgrid(*(np.linspace(lo, hi, GRID_SIZE) for lo, hi in box), indexing="ij")
    grid_value = spec.value_and_grad(ga, gb)[0].ravel()
    starts = np.stack([ga.ravel(), gb.ravel()], -1)[np.argsort(-grid_value)[:N_STARTS]]

    def negative(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad_a, grad_b = spec.value_and_grad(x[0], x[1])
        return -float(value), -np.array([grad_a, grad_b], dtype=np.float64)

    best = max(
        (minimize(negative, x0, jac=True, method="L-BFGS-B", bounds=box) for x0 in starts),
        key=lambda res: -res.fun,
    )
    return posterior(phi, y, math.exp(best.x[0]), math.exp(best.x[1]))


def marginalize_evidence(
    phi: Tensor,
    y: Tensor,
    alpha_bounds: tuple[float, float] = ALPHA_BOUNDS,
    beta_bounds: tuple[float, float] = BETA_BOUNDS,
    max_components: int = 16,
    mass: float = 0.999,
) -> tuple[list[BLRPosterior], Tensor]:
    """Integrate ``(alpha, beta)`` out under a flat prior on the log-space box, on a grid.

    A coarse grid over the whole box locates the evidence's bulk; a finer grid over the bulk
    gives the quadrature weights. The heaviest points carrying ``mass`` of the total (at most
    ``max_components``) are kept and renormalised.

    Args:
        phi: An ``N x D`` float64 feature matrix.
        y: An ``N`` float64 target vector.
        alpha_bounds: ``(low, high)`` for alpha.
        beta_bounds: ``(low, high)`` for beta.
        max_components: The most grid points kept.
        mass: The share of the posterior mass to keep.

    Returns:
        The posteriors at the kept grid points and their ``K`` weights (summing to one).
    """
    spec = _Spectrum(phi, y)
    box = _log_box(alpha_bounds, beta_bounds)
    ga, gb = np.meshgrid(*(np.linspace(lo, hi, GRID_SIZE) for lo, hi in box), indexing="ij")
    value = spec.value_and_grad(ga, gb)[0]
    # The fine grid spans the coarse points within 10 log-units of the best one (and a cell more).
    keep = value >= value.max() - 10.0
    step = [(hi - lo) / (GRID_SIZE - 1) for lo, hi in box]
    fine = [
        np.linspace(max(lo, g[keep].min() - s), min(hi, g[keep].max() + s), 21)
        for (lo, hi), g, s in zip(box, (ga, gb), step, strict=True)
    ]
    fa, fb = np.meshgrid(*fine, indexing="ij")
    fv = spec.value_and_grad(fa, fb)[0].ravel()
    w = np.exp(fv - fv.max())
    w /= w.sum()
    order = np.argsort(-w)
    k = min(max_components, int(np.searchsorted(np.cumsum(w[order]), mass)) + 1)
    chosen = order[:k]
    posts = [posterior(phi, y, math.exp(fa.ravel()[i]), math.exp(fb.ravel()[i])) for i in chosen]
    weights = torch.as_tensor(w[chosen] / w[chosen].sum(), dtype=phi.dtype)
    return posts, weights


def predict(
    phi_star: Tensor, post: BLRPosterior, observation_noise: bool = False
) -> tuple[Tensor, Tensor]:
    """Joint predictive mean and covariance at test features; differentiable in ``phi_star``.

    Args:
        phi_star: A ``batch_shape x q x D`` float64 tensor of test features.
        post: The weight posterior.
        observation_noise: Add the noise variance ``1 / beta`` to the diagonal.

    Returns:
        The ``batch_shape x q`` mean and the ``batch_shape x q x q`` covariance
        ``Phi* A^-1 Phi*^T``.
    """
    mean = phi_star @ post.mean
    # A^-1 = L^-T L^-1, so Phi* A^-1 Phi*^T = W^T W with W = L^-1 Phi*^T: PSD by construction.
    # All batch_shape x q points go in as the columns of one right-hand side, so that one
    # triangular solve serves the whole batch instead of one per broadcast copy of L.
    d = phi_star.shape[-1]
    rhs = phi_star.reshape(-1, d).T
    w = torch.linalg.solve_triangular(post.chol, rhs, upper=False).T.reshape(phi_star.shape)
    cov = w @ w.transpose(-1, -2)
    if observation_noise:
        cov = cov + torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device) / post.beta
    return mean, cov
