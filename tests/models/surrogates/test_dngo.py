"""DNGO: the Bayesian-linear-regression math, the BoTorch Model contract, and the fit."""

from __future__ import annotations

import inspect
import json
import math
from typing import Any

import numpy as np
import pytest
import torch
from botorch.acquisition import LogExpectedImprovement, qLogNoisyExpectedImprovement
from botorch.models.model import Model
from botorch.optim import optimize_acqf
from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating
from botorch.posteriors.gpytorch import GPyTorchPosterior
from torch import Tensor

from bo_loop.models.surrogates import SurrogateError, blr, resolve_settings
from bo_loop.models.surrogates.dngo import DEFAULT_SETTINGS, DNGOModel, fit_dngo, num_steps

DT = torch.float64
#: Few Adam steps keep each fit well under a second; the tests check the math, not the accuracy.
#: The BLR heads (the GP head is tested in test_dngo_variants.py).
FAST: dict[str, Any] = {"epochs": 150, "max_steps": 150, "ensemble": 3, "head": "blr"}


def _data(n: int = 24, d: int = 2, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=g, dtype=DT)
    Y = (torch.sin(6 * X[:, :1]) + X.sum(-1, keepdim=True) ** 2) * 4 - 1
    bounds = torch.stack([torch.zeros(d, dtype=DT), torch.ones(d, dtype=DT)])
    return X, Y, bounds


@pytest.fixture(scope="module")
def model() -> DNGOModel:
    X, Y, bounds = _data()
    return fit_dngo(X, Y, bounds=bounds, cat_dims={}, seed=0, **FAST)


# --- Bayesian linear regression on fixed features ------------------------------------------------


@pytest.mark.parametrize(("n", "d"), [(20, 6), (7, 12)])
def test_blr_equals_function_space_gp(n: int, d: int) -> None:
    g = torch.Generator().manual_seed(n)
    phi = torch.randn(n, d, generator=g, dtype=DT)
    phi_star = torch.randn(5, d, generator=g, dtype=DT)
    y = torch.randn(n, generator=g, dtype=DT)
    alpha, beta = 0.7, 25.0
    post = blr.posterior(phi, y, alpha, beta)
    mean, cov = blr.predict(phi_star, post)
    _, cov_noisy = blr.predict(phi_star, post, observation_noise=True)

    # The same model as a GP with kernel phi(x)^T phi(x') / alpha and noise variance 1 / beta.
    k = phi @ phi.T / alpha
    k_star = phi @ phi_star.T / alpha
    k_ss = phi_star @ phi_star.T / alpha
    c = k + torch.eye(n, dtype=DT) / beta
    gp_mean = k_star.T @ torch.linalg.solve(c, y)
    gp_cov = k_ss - k_star.T @ torch.linalg.solve(c, k_star)
    gp_lml = torch.distributions.MultivariateNormal(torch.zeros(n, dtype=DT), c).log_prob(y)

    torch.testing.assert_close(mean, gp_mean, atol=1e-8, rtol=0)
    torch.testing.assert_close(cov, gp_cov, atol=1e-8, rtol=0)
    torch.testing.assert_close(cov_noisy, gp_cov + torch.eye(5, dtype=DT) / beta, atol=1e-8, rtol=0)
    assert abs(post.log_evidence - float(gp_lml)) < 1e-8
    assert abs(float(blr.log_evidence(phi, y, alpha, beta)) - float(gp_lml)) < 1e-8


def test_spectral_evidence_and_its_gradient_match_the_direct_formula() -> None:
    g = torch.Generator().manual_seed(3)
    phi = torch.randn(25, 10, generator=g, dtype=DT)
    y = torch.randn(25, generator=g, dtype=DT)
    spectrum = blr._Spectrum(phi, y)
    for log_a, log_b in [(-2.0, 1.0), (0.5, 4.0), (3.0, -1.0)]:
        value, grad_a, grad_b = spectrum.value_and_grad(np.array(log_a), np.array(log_b))
        direct = blr.posterior(phi, y, math.exp(log_a), math.exp(log_b)).log_evidence
        assert float(value) == pytest.approx(direct, abs=1e-8)
        h = 1e-6
        for grad, (da, db) in [(grad_a, (h, 0.0)), (grad_b, (0.0, h))]:
            up = spectrum.value_and_grad(np.array(log_a + da), np.array(log_b + db))[0]
            down = spectrum.value_and_grad(np.array(log_a - da), np.array(log_b - db))[0]
            assert float(grad) == pytest.approx(float(up - down) / (2 * h), abs=1e-5)


def test_maximize_evidence_finds_the_bounded_maximum() -> None:
    g = torch.Generator().manual_seed(1)
    phi = torch.randn(40, 8, generator=g, dtype=DT)
    y = phi @ torch.randn(8, generator=g, dtype=DT) + 0.3 * torch.randn(40, generator=g, dtype=DT)
    best = blr.maximize_evidence(phi, y)
    lo_a, hi_a = blr.ALPHA_BOUNDS
    lo_b, hi_b = blr.BETA_BOUNDS
    assert lo_a <= best.alpha <= hi_a and lo_b <= best.beta <= hi_b
    # Noise sd 0.3 -> beta near 1 / 0.09; the fitted value should be in that neighbourhood.
    assert 3.0 < best.beta < 30.0
    assert best.log_evidence == pytest.approx(
        blr.posterior(phi, y, best.alpha, best.beta).log_evidence
    )
    for fa in (0.8, 1.25):
        for fb in (0.8, 1.25):
            other = blr.posterior(phi, y, best.alpha * fa, best.beta * fb).log_evidence
            assert other <= best.log_evidence + 1e-9


def test_marginalize_evidence_weights_sum_to_one() -> None:
    g = torch.Generator().manual_seed(2)
    phi = torch.randn(15, 5, generator=g, dtype=DT)
    y = torch.randn(15, generator=g, dtype=DT)
    posts, weights = blr.marginalize_evidence(phi, y, max_components=8)
    assert 1 <= len(posts) == weights.numel() <= 8
    assert float(weights.sum()) == pytest.approx(1.0)
    assert bool((weights > 0).all())


# --- the BoTorch Model contract --------------------------------------------------------------


def test_model_is_a_botorch_model_in_eval_mode(model: DNGOModel) -> None:
    assert isinstance(model, Model)
    assert model.num_outputs == 1
    assert model.batch_shape == torch.Size([])
    assert not model.training
    assert all(not m.training for m in model.modules())
    assert "networks" in dict(model.named_children())
    post = model.posterior(torch.rand(4, 3, 2, dtype=DT))
    assert isinstance(post, GPyTorchPosterior)
    assert post.mean.shape == (4, 3, 1)
    assert post.distribution.covariance_matrix.shape == (4, 3, 3)
    assert post.mean.dtype == DT


def test_joint_covariance_is_psd_and_its_diagonal_is_the_marginal_variance(
    model: DNGOModel,
) -> None:
    X = torch.rand(2, 12, 2, generator=torch.Generator().manual_seed(3), dtype=DT)
    cov = model.posterior(X).distribution.covariance_matrix.detach()
    torch.testing.assert_close(cov, cov.transpose(-1, -2), atol=1e-12, rtol=0)
    assert float(torch.linalg.eigvalsh(cov).min()) > 0
    single = model.posterior(X.unsqueeze(-2)).variance.detach().reshape(2, 12)
    torch.testing.assert_close(torch.diagonal(cov, dim1=-2, dim2=-1), single, atol=1e-10, rtol=1e-8)
    # q far above the rank of the covariance (<= 3 x 51 + 3): the jitter keeps it factorisable.
    big = model.posterior(torch.rand(400, 2, dtype=DT)).distribution.covariance_matrix.detach()
    torch.linalg.cholesky(big)


def test_observation_noise_adds_the_fitted_noise(model: DNGOModel) -> None:
    X = torch.rand(5, 2, dtype=DT)
    latent = model.posterior(X).variance.detach()
    noisy = model.posterior(X, observation_noise=True).variance.detach()
    noise = model.y_std**2 * float((model.head_weight / model.head_beta).sum())
    torch.testing.assert_close(
        noisy - latent, torch.full_like(latent, noise), atol=1e-10, rtol=1e-8
    )


def test_posterior_mean_and_variance_pass_gradcheck(model: DNGOModel) -> None:
    X = torch.rand(2, 3, 2, generator=torch.Generator().manual_seed(4), dtype=DT)
    X.requires_grad_(True)

    def mean(x: Tensor) -> Tensor:
        return model.posterior(x).mean

    def covariance(x: Tensor) -> Tensor:
        return model.posterior(x).distribution.covariance_matrix

    assert torch.autograd.gradcheck(mean, (X,))
    assert torch.autograd.gradcheck(covariance, (X,))


# --- the fit -----------------------------------------------------------------------------------


def test_affine_outcomes_map_the_posterior_affinely() -> None:
    X, Y, bounds = _data()
    Xt = torch.rand(6, 2, dtype=DT)
    p1 = fit_dngo(X, Y, bounds=bounds, cat_dims={}, seed=5, **FAST).posterior(Xt)
    p2 = fit_dngo(X, 10 * Y + 3, bounds=bounds, cat_dims={}, seed=5, **FAST).posterior(Xt)
    torch.testing.assert_close(p2.mean, 10 * p1.mean + 3, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(
        p2.distribution.covariance_matrix, 100 * p1.distribution.covariance_matrix,
        atol=1e-8, rtol=1e-5,
    )  # fmt: skip


def test_seed_makes_the_fit_reproducible_and_leaves_global_rng_alone() -> None:
    X, Y, bounds = _data()
    Xt = torch.rand(7, 2, dtype=DT)
    state = torch.get_rng_state()
    a = fit_dngo(X, Y, bounds=bounds, cat_dims={}, seed=11, **FAST).posterior(Xt)
    b = fit_dngo(X, Y, bounds=bounds, cat_dims={}, seed=11, **FAST).posterior(Xt)
    c = fit_dngo(X, Y, bounds=bounds, cat_dims={}, seed=12, **FAST).posterior(Xt)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.mean, b.mean)
    assert torch.equal(a.distribution.covariance_matrix, b.distribution.covariance_matrix)
    assert not torch.allclose(a.mean, c.mean)


def test_categorical_column_is_one_hot_and_matters() -> None:
    g = torch.Generator().manual_seed(6)
    x = torch.rand(36, 1, generator=g, dtype=DT)
    cat = torch.arange(36, dtype=DT).remainder(3).unsqueeze(-1)
    X = torch.cat([x, cat], -1)
    Y = torch.sin(4 * x) + 3.0 * (cat - 1)
    bounds = torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=DT)
    model = fit_dngo(X, Y, bounds=bounds, cat_dims={1: [0.0, 1.0, 2.0]}, seed=0, **FAST)
    assert model.encoder.transform(X).shape == (36, 4)  # one numeric column + three one-hot
    Xt = torch.tensor([[0.5, 0.0], [0.5, 1.0], [0.5, 2.0]], dtype=DT, requires_grad=True)
    mean = model.posterior(Xt).mean.squeeze(-1)
    assert float(mean[2].detach() - mean[0].detach()) > 3.0
    mean.sum().backward()
    assert Xt.grad is not None and bool(Xt.grad[:, 0].ne(0).all())
    # A value off the index grid counts as its nearest choice.
    off = model.posterior(torch.tensor([[0.5, 1.9]], dtype=DT)).mean
    torch.testing.assert_close(off.squeeze(), mean[2].detach())


def test_logei_and_qlognei_with_pending_points_optimise_to_finite_values(
    model: DNGOModel,
) -> None:
    X, Y, bounds = _data()
    options: dict[str, bool | float | int | str] = {"maxiter": 20}
    ei = LogExpectedImprovement(model, best_f=Y.max())
    cand, value = optimize_acqf(ei, bounds, q=1, num_restarts=2, raw_samples=32, options=options)
    assert value is not None
    assert cand.shape == (1, 2) and bool(torch.isfinite(value).all())
    pending = torch.rand(2, 2, dtype=DT)
    qnei = qLogNoisyExpectedImprovement(model, X_baseline=X, prune_baseline=True, X_pending=pending)
    # Incremental qLogNEI conditions on the pending points by appending them to the baseline.
    assert torch.equal(qnei._full_X_baseline[-2:], pending)
    cand, value = optimize_acqf(qnei, bounds, q=2, num_restarts=2, raw_samples=32, options=options)
    assert value is not None
    assert cand.shape == (2, 2) and bool(torch.isfinite(value).all())
    assert bool(((cand >= 0) & (cand <= 1)).all())


def test_mixed_alternating_optimiser_runs_on_a_categorical_model() -> None:
    g = torch.Generator().manual_seed(7)
    X = torch.cat(
        [torch.rand(20, 1, generator=g, dtype=DT), torch.randint(3, (20, 1), generator=g).to(DT)],
        -1,
    )
    Y = torch.cos(5 * X[:, :1]) - X[:, 1:]
    bounds = torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=DT)
    cat_dims = {1: [0.0, 1.0, 2.0]}
    model = fit_dngo(X, Y, bounds=bounds, cat_dims=cat_dims, seed=0, **FAST)
    ei = LogExpectedImprovement(model, best_f=Y.max())
    cand, value = optimize_acqf_mixed_alternating(
        ei,
        bounds,
        cat_dims=cat_dims,
        num_restarts=2,
        raw_samples=32,
        options={"maxiter_alternating": 2},
    )
    assert cand.shape == (1, 2) and float(cand[0, 1]) in (0.0, 1.0, 2.0)
    assert value is not None and bool(torch.isfinite(value).all())


# --- settings -----------------------------------------------------------------------------------


def test_default_settings_are_plain_json_and_are_the_fit_options() -> None:
    assert json.loads(json.dumps(DEFAULT_SETTINGS)) == DEFAULT_SETTINGS
    options = {
        name
        for name, p in inspect.signature(fit_dngo).parameters.items()
        if p.kind is p.KEYWORD_ONLY and p.default is not p.empty
    }
    assert options == set(DEFAULT_SETTINGS)
    assert resolve_settings("dngo", None) == DEFAULT_SETTINGS
    X, Y, bounds = _data(n=6)
    settings = {**DEFAULT_SETTINGS, "epochs": 5, "max_steps": 5, "head": "blr"}
    model = fit_dngo(X, Y, bounds=bounds, cat_dims={}, seed=0, **settings)
    assert isinstance(model, DNGOModel)
    assert len(model.head_weight) >= DEFAULT_SETTINGS["ensemble"]


def test_steps_grow_with_n_until_the_cap() -> None:
    assert num_steps(30, epochs=100, batch_size=256, max_steps=10_000) == 100
    assert num_steps(1000, epochs=100, batch_size=256, max_steps=10_000) == 400
    assert num_steps(10**6, epochs=100, batch_size=256, max_steps=10_000) == 10_000


def test_bad_arguments_say_the_rule_and_the_value() -> None:
    X, Y, bounds = _data(n=5)
    with pytest.raises(
        SurrogateError,
        match=r"Setting 'ensemble' of DNGO must be in \[1, 100\], but got ensemble=0",
    ):
        fit_dngo(X, Y, bounds=bounds, cat_dims={}, seed=0, ensemble=0)
    with pytest.raises(
        SurrogateError,
        match=r"'subsample' of DNGO must be a finite number in \(0.0, 1.0\], but got subsample=1.5",
    ):
        fit_dngo(X, Y, bounds=bounds, cat_dims={}, seed=0, subsample=1.5)
    with pytest.raises(
        SurrogateError,
        match=r"'hyper' of DNGO must be one of \['map', 'marginal'\], but got hyper='sample'",
    ):
        fit_dngo(X, Y, bounds=bounds, cat_dims={}, seed=0, hyper="sample")
    with pytest.raises(ValueError, match="train_Y"):
        fit_dngo(X, Y.squeeze(-1), bounds=bounds, cat_dims={}, seed=0)
