"""A fitted SingleTaskGP's posterior in closed form, as a lean BoTorch ``Model``.

Acquisition optimisation evaluates the posterior and its gradient some 50-150 times per ask; at
tens of observations GPyTorch spends ~10 ms of Python dispatch on each, so on Hartmann6 the
optimiser took about 0.5 s of a 0.6 s ask. `ClosedFormGP` computes the same Gaussian from the
fitted hyperparameters with a handful of tensor operations: the Cholesky factor of the training
covariance is computed once, and a posterior over ``q`` points is

    mean = c + k(X, Z) alpha,   cov = s k(X, X) - V^T V,   V = L^-1 k(Z, X)

on the standardised scale, mapped back by the outcome transform's mean and sd. It answers only
for the "matern_gamma" kernel of `gp.fit_gp`, whose fitted SingleTaskGP it keeps (for its
hyperparameters and anything else a caller may want); tests/surrogates/test_gp_posterior.py
checks it against that model's own posterior.
"""

from __future__ import annotations

from typing import Any

import torch
from botorch.acquisition.objective import PosteriorTransform
from botorch.exceptions.errors import UnsupportedError
from botorch.models import SingleTaskGP
from botorch.models.model import Model
from botorch.posteriors.gpytorch import GPyTorchPosterior
from linear_operator import to_linear_operator
from torch import Tensor

from bo_loop.models.surrogates.gp_mll import JITTERS, matern52
from bo_loop.models.surrogates.posterior import check_query, gaussian_posterior


class ClosedFormGP(Model):
    """The posterior of a fitted Matern-5/2 SingleTaskGP, computed directly.

    Attributes:
        gp: The fitted SingleTaskGP this model answers for.
    """

    Z: Tensor
    L: Tensor
    alpha: Tensor
    lengthscale: Tensor

    def __init__(self, gp: SingleTaskGP, train_X: Tensor) -> None:
        """
        Args:
            gp: A SingleTaskGP with the "matern_gamma" kernel, fitted; it is put in eval mode.
            train_X: Its ``n x d`` training inputs in the space's encoding. (In eval mode a
                BoTorch model holds them with its input transform applied.)
        """
        super().__init__()
        gp.eval()
        self.gp = gp
        X = train_X
        self.input_map: Any = getattr(gp, "input_transform", None)
        with torch.no_grad():
            Z = self._features(X)
            kernel = gp.covar_module
            self.outputscale = float(kernel.outputscale)
            self.noise = float(gp.likelihood.noise.reshape(-1)[0])
            self.constant = float(gp.mean_module.constant)
            lengthscale = kernel.base_kernel.lengthscale.reshape(-1).clone()
            K = self.outputscale * matern52(Z, Z, lengthscale)
            K = K + self.noise * torch.eye(len(Z), dtype=Z.dtype)
            L, info = torch.linalg.cholesky_ex(K)
            for jitter in JITTERS:
                if not info:
                    break
                L, info = torch.linalg.cholesky_ex(K + jitter * torch.eye(len(Z), dtype=Z.dtype))
            if info:
                raise UnsupportedError("The training covariance is not positive definite.")
            r = (gp.train_targets - self.constant).unsqueeze(-1)
            alpha = torch.cholesky_solve(r, L)
        self.register_buffer("Z", Z)
        self.register_buffer("L", L)
        self.register_buffer("alpha", alpha)
        self.register_buffer("lengthscale", lengthscale)
        transform: Any = gp.outcome_transform
        self.y_mean = float(transform.means.reshape(-1)[0])
        self.y_std = float(transform.stdvs.reshape(-1)[0])
        # BoTorch's optimisers look here for starting points, as on any GP.
        self.train_inputs = (X,)
        #: The encoded rows the posterior is conditioned on (`FittedModel.baseline`).
        self.conditioned_X = X
        self.train_targets = gp.train_targets

    def _features(self, X: Tensor) -> Tensor:
        """Encoded space columns -> kernel inputs (categorical columns one-hot)."""
        return self.input_map.transform(X) if self.input_map is not None else X

    @property
    def num_outputs(self) -> int:
        """One outcome."""
        return 1

    @property
    def batch_shape(self) -> torch.Size:
        """The model is not batched."""
        return torch.Size([])

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: PosteriorTransform | None = None,
        **kwargs: Any,
    ) -> GPyTorchPosterior:
        """The joint Gaussian over ``q`` points, differentiable in ``X``.

        Args:
            X: A ``batch_shape x q x d`` float64 tensor in the space's encoding.
            output_indices: ``None`` or ``[0]``: the model has one output.
            observation_noise: If True, add the fitted noise variance to the diagonal.
            posterior_transform: Applied to the posterior before it is returned.

        Returns:
            A ``GPyTorchPosterior`` over a ``MultivariateNormal`` with a ``batch_shape x q``
            mean and a ``batch_shape x q x q`` covariance, on the original outcome scale.
        """
        check_query("The GP", X, output_indices, observation_noise)
        Zq = self._features(X)
        cross = self.outputscale * matern52(Zq, self.Z, self.lengthscale)  # b x q x n
        mean = self.constant + (cross @ self.alpha).squeeze(-1)
        # One triangular solve for every query point of every batch: solving against a batched
        # right-hand side would broadcast L to batch x n x n (64 GB for 2,000 rows at n = 2,000).
        n = self.L.shape[-1]
        Vt = torch.linalg.solve_triangular(self.L, cross.reshape(-1, n).T, upper=False).T
        Vt = Vt.reshape(cross.shape)  # b x q x n
        prior = self.outputscale * matern52(Zq, Zq, self.lengthscale)
        cov = prior - Vt @ Vt.transpose(-1, -2)
        if observation_noise:
            cov = cov + self.noise * torch.eye(X.shape[-2], dtype=X.dtype, device=X.device)
        # A lazy covariance, as GPyTorch's own posteriors have: a dense tensor would be factored
        # at once by torch, which fails for nearly singular joint covariances (a pending point
        # next to an observation); linear_operator factors on demand and adds jitter when needed.
        return gaussian_posterior(
            self.y_mean + self.y_std * mean,
            to_linear_operator(self.y_std**2 * cov),
            posterior_transform,
        )
