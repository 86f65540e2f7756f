"""The GP surrogate: its fit, and starting a fit from the hyperparameters of an earlier one."""

from __future__ import annotations

import json
import math

import pytest
import torch
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior

import bo_loop as bl
from bo_loop.models import fitting
from bo_loop.models.surrogates import gp, resolve_settings


def data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 3, generator=g, dtype=torch.float64)
    Y = (torch.sin(6 * X[:, :1]) + X[:, 1:2] ** 2 - 0.5 * X[:, 2:3]).to(torch.float64)
    return X, Y


def fit(X, Y, warm_start=None, **settings):
    """The fitted SingleTaskGP (`fit_gp` returns it inside its closed-form posterior)."""
    bounds = torch.stack([torch.zeros(3), torch.ones(3)]).to(torch.float64)
    full = resolve_settings("gp", settings)
    return gp.fit_gp(
        X, Y, bounds=bounds, cat_dims={}, seed=0, settings=full, warm_start=warm_start
    ).gp


def mll_value(model) -> float:
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with torch.no_grad():
        value = float(mll(model(*model.train_inputs), model.train_targets))
    model.eval()
    return value


def test_hyperparameters_are_plain_json_and_load_back_exactly():
    model = fit(*data(20))
    state = json.loads(json.dumps(gp.hyperparameters(model)))
    assert set(state) == {name for name, _ in model.named_parameters()}
    other = fit(*data(20, seed=1))
    assert gp._load_hyperparameters(other, state)
    for name, p in other.named_parameters():
        assert torch.equal(p.detach(), torch.tensor(state[name], dtype=torch.float64))


@pytest.mark.parametrize(
    "change",
    [
        lambda s: {k: v for k, v in list(s.items())[1:]},  # a parameter missing
        lambda s: {**s, "extra": [1.0]},  # a parameter this model lacks
        lambda s: {k: [v, v] for k, v in s.items()},  # other shapes
        lambda s: {k: "x" for k in s},  # not numbers
        lambda s: {k: torch.full_like(torch.tensor(v), math.nan).tolist() for k, v in s.items()},
    ],
)
def test_a_state_that_does_not_fit_the_model_is_ignored(change):
    model = fit(*data(20))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bad = change(gp.hyperparameters(model))
    assert not gp._load_hyperparameters(model, bad)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    fit(*data(20), warm_start=bad)  # and fitting with it is a cold start, not an error


def test_warm_start_reaches_the_cold_optimum():
    X, Y = data(31)
    previous = fit(X[:30], Y[:30])
    cold = fit(X, Y)
    warm = fit(X, Y, warm_start=gp.hyperparameters(previous))
    assert mll_value(warm) == pytest.approx(mll_value(cold), abs=2e-3)
    # ...and it started where it was told to: without the fit, the values are the old ones.
    barely = fit(X, Y, warm_start=gp.hyperparameters(previous), fit_maxiter=1)
    old = dict(previous.named_parameters())
    for name, p in barely.named_parameters():
        assert torch.allclose(p, old[name], atol=0.5), name


def test_each_gp_ask_stores_its_fit_and_the_next_starts_there(sqlite_url, monkeypatch):
    campaign = bl.Campaign.create(
        "warm", [bl.Real("x", 0, 1), bl.Real("z", 0, 1)], "y", storage=sqlite_url,
        initial_design_size=5,
    )  # fmt: skip
    for t in campaign.ask(5):
        campaign.tell(t.number, t.params["x"] - t.params["z"] ** 2)
    starts: list[object] = []
    real_fit = fitting.fit

    def spy(*args, **kwargs):
        starts.append(kwargs.get("warm_start"))
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(fitting, "fit", spy)
    (first,) = campaign.ask(1)
    campaign.tell(first.number, 0.3)
    (second,) = campaign.ask(1)
    assert starts[0] is None  # the first fit of the campaign starts from the priors
    assert starts[1] == first.provenance["fitted_state"]
    assert set(second.provenance["fitted_state"]) == set(first.provenance["fitted_state"])


def test_the_noise_settings_default_to_botorchs_likelihood_and_can_let_a_gp_interpolate():
    X, Y = data(25)  # noise-free
    default = fit(X, Y)
    # BoTorch's prior (LogNormal(-4, 1), floor 1e-4) holds a nugget on noise-free data ...
    assert default.likelihood.noise_covar.noise_prior.loc == -4.0
    assert float(default.likelihood.noise.detach()) > 1e-4
    # ... the low-noise settings let the same data be nearly interpolated.
    low = fit(X, Y, noise_prior="lognormal", noise_prior_loc=-12.0, noise_floor=1e-6)
    noise = float(low.likelihood.noise.detach())
    assert 1e-6 <= noise < 1e-4
    assert float(low.likelihood.noise_covar.raw_noise_constraint.lower_bound) == pytest.approx(1e-6)
    # The closed-form posterior and the fast fit read the settings from the model: at a training
    # point the low-noise GP's sd is an order of magnitude below the default one's.
    bounds = torch.stack([torch.zeros(3), torch.ones(3)]).to(torch.float64)
    sds = []
    for settings in (
        {},
        {"noise_prior": "lognormal", "noise_prior_loc": -12.0, "noise_floor": 1e-6},
    ):
        model = gp.fit_gp(X, Y, bounds=bounds, cat_dims={}, seed=0,
                          settings=resolve_settings("gp", settings))  # fmt: skip
        sds.append(float(model.posterior(X[:1]).variance.sqrt()))
    assert sds[1] < sds[0] / 10


def test_the_flat_noise_prior_interpolates_clean_data_and_keeps_the_noise_of_noisy_data():
    # Unlike a wide LogNormal, whose density's 1/x pulls a MAP fit to the floor even on noisy
    # data (LogNormal(-8, 3): 1e-6 on these noisy data), Gamma(1.1, 30) lets the data decide.
    X, Y = data(40)
    noisy = Y + 0.1 * torch.randn(
        Y.shape, generator=torch.Generator().manual_seed(1), dtype=Y.dtype
    )
    flat = {"noise_prior": "gamma_flat", "noise_floor": 1e-6}
    true = 0.01 / float(noisy.var())  # the noise variance in standardised units
    for fast in (True, False):  # the plain-torch fit and BoTorch's agree
        assert float(fit(X, Y, fast_fit=fast, **flat).likelihood.noise.detach()) < 1e-5
        noise = float(fit(X, noisy, fast_fit=fast, **flat).likelihood.noise.detach())
        assert true / 4 < noise < true * 4
    wide = fit(
        X, noisy, noise_prior="lognormal", noise_prior_loc=-8.0, noise_prior_scale=3.0,
        noise_floor=1e-6,
    )  # fmt: skip
    assert float(wide.likelihood.noise.detach()) < 1e-5


def test_auto_noise_refits_noise_free_data_without_the_nugget_and_leaves_noisy_data_alone():
    X, Y = data(60)  # noise-free: BoTorch's prior ends at its floor
    lognormal = float(fit(X, Y, noise_prior="lognormal").likelihood.noise.detach())
    assert lognormal == pytest.approx(1e-4, rel=1e-3)
    auto = fit(X, Y, noise_prior="auto")
    assert float(auto.likelihood.noise.detach()) < 1e-5
    assert isinstance(auto.likelihood.noise_covar.noise_prior, GammaPrior)
    noisy = Y + 0.1 * torch.randn(
        Y.shape, generator=torch.Generator().manual_seed(1), dtype=Y.dtype
    )
    # Off the floor "auto" is the LogNormal fit itself, hyperparameter for hyperparameter ...
    assert gp.hyperparameters(fit(X, noisy, noise_prior="auto")) == gp.hyperparameters(
        fit(X, noisy, noise_prior="lognormal")
    )
    # ... also when warm-started from a noise-free fit, whose noise is lifted to the floor first.
    warm = fit(X, noisy, warm_start=gp.hyperparameters(auto), noise_prior="auto")
    assert float(warm.likelihood.noise.detach()) == pytest.approx(0.0104, rel=0.01)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"noise_prior": "flat"}, r"'noise_prior' .*'flat'"),
        ({"noise_floor": 0.0}, r"'noise_floor' .*noise_floor=0.0"),
        ({"noise_floor": 2.0}, r"'noise_floor' .*noise_floor=2.0"),
        ({"noise_prior_loc": "low"}, r"'noise_prior_loc' .*number"),
        ({"noise_prior_scale": 0.0}, r"'noise_prior_scale' .*noise_prior_scale=0.0"),
    ],
)
def test_bad_noise_settings_are_refused_at_create(sqlite_url, settings, message):
    with pytest.raises(bl.SettingsError, match=message):
        bl.Campaign.create(
            "c", [bl.Real("x", 0, 1)], "y", storage=sqlite_url, surrogate_settings=settings
        )
