"""The plain-torch marginal likelihood equals GPyTorch's, so the fast fit fits the same model."""

from __future__ import annotations

import pytest
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood

from bo_loop.models.surrogates import gp, gp_mll
from bo_loop.models.surrogates.encoding import FeatureMap


def make_model(
    n: int, cat: bool, seed: int = 0, category_rate: float | None = None
) -> SingleTaskGP:
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 3, generator=g, dtype=torch.float64)
    if cat:
        X[:, 2] = torch.randint(0, 3, (n,), generator=g).to(torch.float64)
    Y = torch.sin(5 * X[:, :1]) + X[:, 1:2] + 0.3 * X[:, 2:3]
    bounds = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 2.0]], dtype=torch.float64)
    one_hot = FeatureMap(bounds, {2: [0.0, 1.0, 2.0]}) if cat else None
    dims = one_hot.output_dim if one_hot is not None else 3
    return SingleTaskGP(
        X, Y, outcome_transform=Standardize(m=1), input_transform=one_hot,
        covar_module=gp.covar_module(
            "matern_gamma", dims, 6.0,
            one_hot.one_hot_columns() if one_hot is not None else None, category_rate,
        ),
    )  # fmt: skip


def gpytorch_value(model: SingleTaskGP) -> torch.Tensor:
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    return mll(model(*model.train_inputs), model.train_targets)


@pytest.mark.parametrize(("cat", "category_rate"), [(False, None), (True, None), (True, 1.0)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_value_and_gradient_equal_gpytorch(
    cat: bool, category_rate: float | None, seed: int
) -> None:
    model = make_model(15, cat, seed, category_rate)
    g = torch.Generator().manual_seed(100 + seed)
    with torch.no_grad():  # somewhere away from the initial values
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
        # BoTorch bounds the raw noise below (1e-4) instead of transforming it.
        model.likelihood.noise_covar.raw_noise.abs_().add_(1e-3)
    expected = gpytorch_value(model)
    grads = torch.autograd.grad(expected, [p for _, p in model.named_parameters()])
    expected_grad = dict(zip([n for n, _ in model.named_parameters()], grads, strict=True))

    problem = gp_mll.Problem(model)
    theta = problem.pack({k: p.detach() for k, p in model.named_parameters()}).requires_grad_(True)
    value = gp_mll.negative_mll(theta, problem)
    (grad,) = torch.autograd.grad(value, theta)
    assert float(value.detach()) == pytest.approx(-float(expected.detach()), rel=1e-9, abs=1e-9)
    ours = problem.unpack(grad)
    for name, g_expected in expected_grad.items():
        assert torch.allclose(ours[name], -g_expected, rtol=1e-6, atol=1e-8), name


@pytest.mark.parametrize("cat", [False, True])
def test_fast_fit_reaches_botorchs_optimum(cat: bool) -> None:
    fast, slow = make_model(25, cat), make_model(25, cat)
    assert gp_mll.fit_raw(fast)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(slow.likelihood, slow))
    assert float(gpytorch_value(fast).detach()) >= float(gpytorch_value(slow).detach()) - 1e-4


def test_one_hot_columns_get_the_category_rate() -> None:
    """Only the one-hot columns' lengthscales get the category prior (a wrong mask would give
    the numeric columns or the wrong choices the long lengthscales)."""
    bounds = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 1.0, 1.0]], dtype=torch.float64)
    one_hot = FeatureMap(bounds, {1: [0.0, 1.0, 2.0], 3: [0.0, 1.0]})
    mask = one_hot.one_hot_columns()
    assert mask.tolist() == [False, True, True, True, False, True, True]
    kernel = gp.covar_module("matern_gamma", one_hot.output_dim, 6.0, mask, 1.5)
    prior = kernel.base_kernel.lengthscale_prior
    assert prior.rate.tolist() == [6.0, 1.5, 1.5, 1.5, 6.0, 1.5, 1.5]
    assert prior.concentration.tolist() == [3.0] * 7
    same = gp.covar_module("matern_gamma", one_hot.output_dim, 6.0, mask, None)
    assert float(same.base_kernel.lengthscale_prior.rate) == 6.0


def test_a_model_with_other_parameters_is_left_to_botorch() -> None:
    X = torch.rand(8, 2, dtype=torch.float64)
    model = SingleTaskGP(X, X[:, :1], outcome_transform=Standardize(m=1))  # BoTorch's RBF
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert not gp_mll.fit_raw(model)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_one_feature_map_serves_both_surrogates():
    """The GP's features are the encoding itself plus one-hot choices; DNGO's the same columns
    centred on [-1, 1]: one map, two ranges."""
    bounds = torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=torch.float64)
    X = torch.tensor([[0.25, 2.0], [1.0, 0.4]], dtype=torch.float64)
    gp_features = FeatureMap(bounds, {1: [0.0, 1.0, 2.0]}).transform(X)
    dngo_features = FeatureMap(bounds, {1: [0.0, 1.0, 2.0]}, (-1.0, 1.0)).transform(X)
    assert gp_features.tolist() == [[0.25, 0.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]]
    assert dngo_features.tolist() == [[-0.5, 0.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]]
