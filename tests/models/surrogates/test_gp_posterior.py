"""The closed-form posterior equals the fitted SingleTaskGP's own, values and gradients."""

from __future__ import annotations

import pytest
import torch

from bo_loop.models.surrogates import gp, resolve_settings
from bo_loop.models.surrogates.gp_posterior import ClosedFormGP

CATS = {2: [0.0, 1.0, 2.0]}


def fitted(cat: bool, n: int = 20) -> ClosedFormGP:
    g = torch.Generator().manual_seed(3)
    X = torch.rand(n, 3, generator=g, dtype=torch.float64)
    if cat:
        X[:, 2] = torch.randint(0, 3, (n,), generator=g).to(torch.float64)
    Y = 4.0 * torch.sin(5 * X[:, :1]) + X[:, 1:2] + 0.3 * X[:, 2:3] + 10.0
    bounds = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 2.0 if cat else 1.0]], dtype=torch.float64)
    model = gp.fit_gp(X, Y, bounds=bounds, cat_dims=CATS if cat else {}, seed=0)
    assert isinstance(model, ClosedFormGP)
    return model


def points(shape: tuple[int, ...], cat: bool) -> torch.Tensor:
    X = torch.rand(*shape, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    if cat:
        X[..., 2] = (3 * X[..., 2]).floor().clamp(max=2)
    return X


@pytest.mark.parametrize("cat", [False, True])
@pytest.mark.parametrize("shape", [(5, 1), (4, 3), (2, 3, 2)])
@pytest.mark.parametrize("noise", [False, True])
def test_mean_and_covariance_equal_the_singletaskgp(cat, shape, noise) -> None:
    model = fitted(cat)
    X = points(shape, cat)
    ours = model.posterior(X, observation_noise=noise)
    theirs = model.gp.posterior(X, observation_noise=noise)
    assert ours.mean.shape == theirs.mean.shape
    assert torch.allclose(ours.mean, theirs.mean, rtol=1e-8, atol=1e-8)
    cov = ours.distribution.covariance_matrix
    assert torch.allclose(cov, theirs.distribution.covariance_matrix, rtol=1e-6, atol=1e-8)
    assert torch.allclose(cov, cov.transpose(-1, -2))


@pytest.mark.parametrize("cat", [False, True])
def test_gradients_equal_the_singletaskgp(cat) -> None:
    model = fitted(cat)
    X = points((6, 2), cat)
    grads = []
    for m in (model, model.gp):
        x = X.clone().requires_grad_(True)
        post = m.posterior(x)
        (post.mean.sum() + post.distribution.covariance_matrix.sum()).backward()
        grads.append(x.grad)
    assert torch.allclose(grads[0][..., :2], grads[1][..., :2], rtol=1e-6, atol=1e-8)


def test_training_points_are_reproduced_under_low_noise() -> None:
    model = fitted(False)
    X = model.train_inputs[0][:5].unsqueeze(1)
    post = model.posterior(X)
    expected = model.gp.outcome_transform.untransform(model.train_targets.unsqueeze(-1))[0]
    assert torch.allclose(post.mean.reshape(-1), expected[:5].reshape(-1), atol=0.05)


def test_other_output_indices_are_refused() -> None:
    model = fitted(False)
    with pytest.raises(Exception, match="one output"):
        model.posterior(points((2, 1), False), output_indices=[1])


@pytest.mark.slow
def test_many_rows_at_thousands_of_observations_in_bounded_memory(monkeypatch) -> None:
    """`predict` and `recommend` on historical data ask for 2,000 rows of 2,000 observations at
    once: one triangular solve, not one per row (which broadcast the n x n factor to 64 GB)."""
    n, d = 2000, 3
    g = torch.Generator().manual_seed(0)
    X = torch.rand(n, d, generator=g, dtype=torch.float64)
    Y = torch.sin(6 * X[:, :1]) + 0.1 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    bounds = torch.stack([torch.zeros(d), torch.ones(d)]).to(torch.float64)
    # Three iterations: the hyperparameters' quality is not the point.
    settings = resolve_settings("gp", {"fit_maxiter": 3})
    model = gp.fit_gp(X, Y, bounds=bounds, cat_dims={}, seed=0, settings=settings)
    queries = X.unsqueeze(-2)  # 2,000 x 1 x d, as modeling.mean_sd asks
    with torch.no_grad():
        ours = model.posterior(queries, observation_noise=True)
        theirs = model.gp.posterior(queries[:50], observation_noise=True)
    assert ours.mean.shape == (n, 1, 1)
    assert torch.allclose(ours.mean[:50], theirs.mean, rtol=1e-6, atol=1e-6)
    assert torch.allclose(ours.variance[:50], theirs.variance, rtol=1e-5, atol=1e-8)
