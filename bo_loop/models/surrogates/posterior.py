"""What bo_loop's one-output BoTorch models share in ``posterior``: the checks and the wrapping."""

from __future__ import annotations

from botorch.acquisition.objective import PosteriorTransform
from botorch.exceptions.errors import UnsupportedError
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal
from linear_operator import LinearOperator
from torch import Tensor


def check_query(
    model: str, X: Tensor, output_indices: list[int] | None, observation_noise: bool | Tensor
) -> None:
    """Refuse what a one-output model that infers its own noise cannot answer.

    Raises:
        UnsupportedError: another output than 0, a noise tensor, or ``X`` without a ``q`` axis.
    """
    if output_indices not in (None, [0]):
        raise UnsupportedError(f"{model} has one output, but got {output_indices=}.")
    if isinstance(observation_noise, Tensor):
        raise UnsupportedError(f"{model} infers its noise: observation_noise must be a bool.")
    if X.dim() < 2:
        raise UnsupportedError(f"X must be `batch_shape x q x d`, but got {X.shape=}.")


def gaussian_posterior(
    mean: Tensor,
    covariance: Tensor | LinearOperator,
    posterior_transform: PosteriorTransform | None,
) -> GPyTorchPosterior:
    """A ``GPyTorchPosterior`` over the joint Gaussian, with ``posterior_transform`` applied."""
    posterior = GPyTorchPosterior(MultivariateNormal(mean, covariance))
    if posterior_transform is not None:
        return posterior_transform(posterior)
    return posterior
