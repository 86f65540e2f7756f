"""Gaussian-process surrogate: BoTorch's SingleTaskGP, categorical columns one-hot inside the model."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
from botorch.exceptions.warnings import InputDataWarning, OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.outcome import Standardize
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import Kernel, MaternKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior, LogNormalPrior
from torch import Tensor

from bo_loop.models.settings import Rules, defaults, flag, integer, one_of, real
from bo_loop.models.surrogates.base import Surrogate
from bo_loop.models.surrogates.encoding import FeatureMap
from bo_loop.models.surrogates.gp_mll import fit_raw
from bo_loop.models.surrogates.gp_posterior import ClosedFormGP
from bo_loop.models.surrogates.gp_subset import fit_subset_gp, uses_subset

#: The GP's settings, stored with each campaign (name -> (default, check)):
#: - ``kernel``: "matern_gamma" (the default), Matern-5/2 with Gamma(3, ``lengthscale_rate``)
#:   lengthscales (mean 0.5 on the unit-scaled inputs at rate 6) under a scale kernel with a
#:   Gamma(2, 0.15) outputscale, BoTorch's default before 0.12; or "rbf_dim_scaled", BoTorch
#:   0.18's default, RBF with a LogNormal lengthscale prior whose median grows with the dimension
#:   (~10 at d = 6). On Hartmann6 that one let the GP call inputs irrelevant (lengthscales 4-8)
#:   and exploit a local basin: median final regret 0.042 over 10 seeds against 0.0006, and 0.031
#:   against 0.0098 on the mixed problem (experiments/results/compare/notes.md).
#: - ``category_lengthscale_rate``: the rate of the Gamma(3, rate) lengthscale prior of the
#:   one-hot columns of categorical parameters (kernel "matern_gamma"; "rbf_dim_scaled" keeps
#:   BoTorch's prior for every column); null gives them ``lengthscale_rate``'s prior,
#:   as campaigns created before 2026-12-04 keep. Two choices differ in two one-hot columns, so
#:   under the numeric columns' prior (fitted lengthscales ~0.35) their correlation was ~0.005:
#:   every choice was a separate model of its few points, and on the noisy "mixed" problem the
#:   model ranked the solvents by luck. At rate 1.0 (mode 2, fitted ~1.75) choices share what
#:   they have in common and the data can still pull them apart. 30 seeds on mixed, median
#:   (mean) final regret, null -> 1.0: sequential 0.044 (0.146) -> 0.039 (0.079), rounds of 4
#:   0.048 (0.133) -> 0.051 (0.087), rounds of 8 0.129 (0.175) -> 0.082 (0.107); seeds ending
#:   above 0.25 (a wrong solvent) 8, 7, 7 -> 3, 2, 4 (experiments/results/batch/notes.md).
#:   A space without categorical parameters fits exactly as before.
#: - ``fit_maxiter``: L-BFGS-B iterations of the marginal-likelihood fit; null keeps BoTorch's
#:   default. The fit is about three quarters of an ask on Hartmann6 at 59 points; capping it
#:   stopped on a plateau 20 nats short of the optimum and lost quality.
#: - ``warm_start``: start each fit from the hyperparameters of the campaign's previous fit
#:   (stored with its trials). On Hartmann6 data a fit from the prior took 110-430 L-BFGS-B
#:   evaluations (0.5-1.9 s) and reached the same optimum as one from the previous fit's values
#:   in 10-110.
#: - ``fast_fit``: maximise the marginal likelihood with `gp_mll` (the same objective in plain
#:   torch, 10-20x cheaper per evaluation than through GPyTorch) rather than BoTorch's
#:   ``fit_gpytorch_mll``, which remains the fallback when it fails and the fit of the other kernel.
#: - ``closed_form_posterior``: answer posterior queries with `gp_posterior.ClosedFormGP` (the same
#:   Gaussian, without GPyTorch's per-call overhead) rather than the SingleTaskGP itself.
#: - ``exact_max_rows``: the most observations an exact GP is fitted on; null: always exact. Past
#:   it (`gp_subset`), the hyperparameters are fitted on ``fit_rows`` rows and the posterior is
#:   conditioned on ``condition_rows`` rows, each subset a ``near_incumbent_share`` of rows
#:   nearest the best observation and the rest space-filling. An exact fit of the 2,000-row
#:   production data took 54 s of CPU, 9.2 s at 1,000 rows and 1.7 s at 500; the subset fit at
#:   2,000 rows 2.5 s, with a held-out RMSE no worse than the exact GP's (0.226 against 0.231;
#:   experiments/results/large_history*.md). Campaigns stored before this setting existed read it
#:   as null (`surrogates.stored_settings`): they keep proposing as they did.
#: - ``noise_prior``, ``noise_prior_loc``, ``noise_prior_scale`` and ``noise_floor``: the prior
#:   and the floor of the noise variance (of the standardised outcome). "auto" (the default for
#:   campaigns created since 2026-12-03): the "lognormal" fit, redone with "gamma_flat"'s prior
#:   above a floor of 1e-6 when its noise ends at its floor, i.e. when the data want less noise
#:   than that prior allows (noise-free outcomes, late in a campaign); otherwise the "lognormal"
#:   fit exactly. 10 seeds (experiments/RESULTS.md, "The GP's noise prior"): Hartmann6 median
#:   regret 1.2e-4 against 5.2e-4, Branin, mixed (noisy), yield and Gramacy unchanged, xsin
#:   within 1e-5. "lognormal" (BoTorch's; campaigns stored before "auto" keep it):
#:   LogNormal(``noise_prior_loc``, ``noise_prior_scale``), defaults -4 and 1 (median 0.018,
#:   floor 1e-4). "gamma_flat": Gamma(1.1, 30) (Optuna's GP), nearly flat below ~0.03 as a MAP
#:   prior, so the data decide how noisy they are (loc and scale unused). BoTorch's prior holds a
#:   nugget of ~1 % of the outcome's sd on noise-free data, which on Gramacy's constrained
#:   problem left the constraint's posterior too unsure at its boundary and in rounds lifted
#:   qLogNEI's sampled incumbent above the best observation (experiments/RESULTS.md,
#:   experiments/results/compare/notes.md); used from the start (always "gamma_flat") it lost
#:   2x on the noisy "mixed" problem. A LogNormal with a wide scale is no flat prior: its
#:   density's 1/x factor pulls a MAP fit to the floor even on noisy data.
RULES: Rules = {
    "kernel": ("matern_gamma", one_of("matern_gamma", "rbf_dim_scaled")),
    "lengthscale_rate": (6.0, real(0.0, low_open=True)),
    "category_lengthscale_rate": (1.0, real(0.0, low_open=True, optional=True)),
    "fit_maxiter": (None, integer(1, optional=True)),
    "warm_start": (True, flag),
    "fast_fit": (True, flag),
    "closed_form_posterior": (True, flag),
    "exact_max_rows": (500, integer(2, optional=True)),
    "fit_rows": (300, integer(2)),
    "condition_rows": (2000, integer(2)),
    "near_incumbent_share": (0.25, real(0.0, 1.0)),
    "noise_prior": ("auto", one_of("auto", "lognormal", "gamma_flat")),
    "noise_prior_loc": (-4.0, real(-30.0, 5.0)),
    "noise_prior_scale": (1.0, real(0.05, 10.0)),
    "noise_floor": (1e-4, real(1e-10, 1.0)),
}

#: BoTorch's own noise prior and floor (`get_gaussian_likelihood_with_lognormal_prior`): with
#: these the GP is built with BoTorch's likelihood, exactly as before the settings existed.
_BOTORCH_NOISE = (-4.0, 1.0, 1e-4)

#: Gamma(concentration, rate) of ``noise_prior="gamma_flat"`` (Optuna's GPSampler's noise prior).
_FLAT_NOISE = (1.1, 30.0)

#: ``noise_prior="auto"``: a LogNormal fit whose noise ends within this factor of its floor is
#: redone with `_FLAT_NOISE` above `_NOISE_FREE_FLOOR`.
_AT_FLOOR = 1.01
_NOISE_FREE_FLOOR = 1e-6


DEFAULT_SETTINGS: dict[str, Any] = defaults(RULES)


def covar_module(
    kernel: str,
    dims: int,
    lengthscale_rate: float,
    one_hot_columns: Tensor | None = None,
    category_lengthscale_rate: float | None = None,
) -> Kernel | None:
    """The covariance of ``kernel`` over ``dims`` model inputs; None leaves BoTorch's default.

    ``one_hot_columns`` (a boolean mask of the ``dims`` inputs) marks the columns whose
    lengthscale prior has the rate ``category_lengthscale_rate`` (null: ``lengthscale_rate``).
    """
    if kernel == "rbf_dim_scaled":
        return None
    prior = GammaPrior(3.0, lengthscale_rate)
    if one_hot_columns is not None and category_lengthscale_rate is not None:
        rates = torch.full((dims,), float(lengthscale_rate), dtype=torch.float64)
        rates[one_hot_columns] = category_lengthscale_rate
        prior = GammaPrior(torch.full_like(rates, 3.0), rates)
    return ScaleKernel(
        MaternKernel(nu=2.5, ard_num_dims=dims, lengthscale_prior=prior),
        outputscale_prior=GammaPrior(2.0, 0.15),
    )


def hyperparameters(model: Model) -> dict[str, Any]:
    """The fitted model's raw hyperparameters as plain JSON (name -> nested list of floats)."""
    gp = model.gp if isinstance(model, ClosedFormGP) else model
    return {name: p.detach().tolist() for name, p in gp.named_parameters()}


def _load_hyperparameters(model: Model, values: Mapping[str, Any]) -> bool:
    """Set every raw hyperparameter of ``model`` from ``values``; all or none.

    Returns:
        Whether they were set: False (and ``model`` untouched) unless ``values`` names exactly
        the model's parameters with the same shapes (another kernel or space starts cold).
    """
    params = dict(model.named_parameters())
    if set(values) != set(params):
        return False
    try:
        new = {k: torch.as_tensor(values[k], dtype=p.dtype) for k, p in params.items()}
    except (TypeError, ValueError):
        return False
    if any(new[k].shape != p.shape or not torch.isfinite(new[k]).all() for k, p in params.items()):
        return False
    with torch.no_grad():
        for k, p in params.items():
            p.copy_(new[k])
    return True


def fit_gp(
    train_X: Tensor,
    train_Y: Tensor,
    *,
    bounds: Tensor,
    cat_dims: dict[int, list[float]],
    seed: int,
    settings: Mapping[str, Any] | None = None,
    warm_start: Mapping[str, Any] | None = None,
) -> Model:
    """Fit a GP by maximising the marginal likelihood.

    On more than ``settings["exact_max_rows"]`` observations the hyperparameters are fitted on a
    subset of ``fit_rows`` rows and the posterior is conditioned on ``condition_rows`` rows
    (`gp_subset.fit_subset_gp`); the returned model's ``conditioned_X`` holds the rows it uses.

    Args:
        train_X: An ``n x d`` float64 tensor in the space's encoding (numeric columns in [0, 1]).
        train_Y: An ``n x 1`` float64 tensor; standardised inside the model.
        bounds: The ``2 x d`` encoded bounds; numeric columns are already scaled to them.
        cat_dims: Categorical columns (index -> allowed values), one-hot expanded inside the model.
        seed: Seeds the random restarts that the fit may take when the optimiser fails.
        settings: The full settings (`RULES`); default `DEFAULT_SETTINGS`.
        warm_start: Raw hyperparameters of an earlier fit (`hyperparameters`) to start from
            when ``settings["warm_start"]``; ignored unless they fit this model exactly.

    Returns:
        A fitted model in eval mode whose posterior is on the scale of ``train_Y``.
    """
    settings = DEFAULT_SETTINGS if settings is None else settings
    kernel = settings["kernel"]
    # Categorical columns are one-hot expanded inside the model. BoTorch's MixedSingleTaskGP
    # (a categorical kernel) fitted 5-10x slower here for no gain in the benchmarks.
    one_hot = FeatureMap(bounds, cat_dims) if cat_dims else None
    dims = one_hot.output_dim if one_hot is not None else train_X.shape[-1]

    def build(
        X: Tensor, Y: Tensor, outcome_transform: Any, noise: GaussianLikelihood | None = None
    ) -> SingleTaskGP:
        return SingleTaskGP(
            X, Y, outcome_transform=outcome_transform, input_transform=one_hot,
            covar_module=covar_module(
                kernel, dims, settings["lengthscale_rate"],
                one_hot.one_hot_columns() if one_hot is not None else None,
                settings["category_lengthscale_rate"],
            ),
            likelihood=noise if noise is not None else likelihood(settings),
        )  # fmt: skip

    def maximise(model: SingleTaskGP) -> None:
        maxiter = settings["fit_maxiter"]
        if not (settings["fast_fit"] and kernel == "matern_gamma" and fit_raw(model, maxiter)):
            fit_options = None if maxiter is None else {"options": {"maxiter": maxiter}}
            fit_gpytorch_mll(
                ExactMarginalLogLikelihood(model.likelihood, model), optimizer_kwargs=fit_options
            )

    def fit_exact(X: Tensor, Y: Tensor) -> SingleTaskGP:
        model = build(X, Y, Standardize(m=1))
        if warm_start is not None and settings["warm_start"]:
            _load_hyperparameters(model, warm_start)
            _raise_noise_to_floor(model, settings["noise_floor"])
        maximise(model)
        if settings["noise_prior"] != "auto":
            return model
        return refit_noise_free(
            model, settings["noise_floor"],
            lambda noise: build(X, Y, Standardize(m=1), noise=noise), maximise,
        )  # fmt: skip

    with torch.random.fork_rng(), warnings.catch_warnings():
        torch.manual_seed(seed)
        # Inputs are normalised by construction; categorical index columns legitimately exceed 1.
        warnings.simplefilter("ignore", InputDataWarning)
        warnings.simplefilter("ignore", OptimizationWarning)
        if uses_subset(len(train_X), settings):
            features = one_hot.transform if one_hot is not None else (lambda X: X)
            model, train_X = fit_subset_gp(train_X, train_Y, features, settings, fit_exact, build)
        else:
            model = fit_exact(train_X, train_Y)
    model.eval()
    if kernel == "matern_gamma" and settings["closed_form_posterior"]:
        return ClosedFormGP(model, train_X)
    model.conditioned_X = train_X  # the subset, when there is one (`FittedModel.baseline`)
    return model


def refit_noise_free(
    model: SingleTaskGP,
    floor: float,
    build: Callable[[GaussianLikelihood], SingleTaskGP],
    maximise: Callable[[SingleTaskGP], None],
) -> SingleTaskGP:
    """The ``noise_prior="auto"`` rule after a fit whose noise prior had the floor ``floor``.

    Returns ``model`` unless its fitted noise ends at the floor, i.e. the data ask for less noise
    than the floor allows; then a refit, from ``model``'s hyperparameters, of ``build(noise)``
    with a nearly flat noise prior (`_FLAT_NOISE`) above a floor 100x lower (`_NOISE_FREE_FLOOR`).
    ``build`` makes the same GP with the given likelihood; ``maximise`` fits it in place.
    """
    if _noise(model) > _AT_FLOOR * floor:
        return model
    free = build(flat_likelihood(_NOISE_FREE_FLOOR))
    _load_hyperparameters(free, hyperparameters(model))
    maximise(free)
    return free


def likelihood(settings: Mapping[str, Any]) -> GaussianLikelihood | None:
    """The Gaussian likelihood of the settings' noise prior and floor; None (BoTorch's own) for
    BoTorch's values. ("auto" fits with the LogNormal first: `fit_gp`.)"""
    loc, scale = settings["noise_prior_loc"], settings["noise_prior_scale"]
    floor = settings["noise_floor"]
    if settings["noise_prior"] == "gamma_flat":
        return flat_likelihood(floor)
    if (loc, scale, floor) == _BOTORCH_NOISE:
        return None
    return _with_floor(LogNormalPrior(loc=loc, scale=scale), floor)


def flat_likelihood(floor: float) -> GaussianLikelihood:
    """Gamma(1.1, 30) above ``floor``: `_FLAT_NOISE`, nearly flat at small noise."""
    return _with_floor(GammaPrior(*_FLAT_NOISE), floor)


def _with_floor(prior: GammaPrior | LogNormalPrior, floor: float) -> GaussianLikelihood:
    start = max(float(prior.mode), floor)
    return GaussianLikelihood(
        noise_prior=prior, noise_constraint=GreaterThan(floor, transform=None, initial_value=start)
    )


def _noise(model: SingleTaskGP) -> float:
    """The fitted noise variance (of the standardised outcome)."""
    return float(model.likelihood.noise.detach().max())


def _raise_noise_to_floor(model: SingleTaskGP, floor: float) -> None:
    """Lift a warm-started noise below ``floor`` (a noise-free fit's, under "auto") to it."""
    raw = model.likelihood.noise_covar.raw_noise
    with torch.no_grad():
        if not model.likelihood.noise_covar.raw_noise_constraint.enforced:
            raw.clamp_(min=floor)  # the floor is the raw value's bound (BoTorch's, transform=None)


#: A GP config stored without ``exact_max_rows`` ran an exact GP at any size.
SURROGATE = Surrogate(
    rules=RULES,
    fit=fit_gp,
    state=hyperparameters,
    legacy={"exact_max_rows": None, "noise_prior": "lognormal", "category_lengthscale_rate": None},
)
