"""DNGO (Snoek et al. 2015) as a BoTorch ``Model``: a tanh network's last hidden layer is the basis
of a Bayesian linear regression, and an ensemble of such networks gives honest uncertainty.

Fit: numeric inputs are scaled to [-1, 1] by the space's fixed bounds, categorical columns one-hot
expanded, outcomes standardised. Each of ``ensemble`` networks ``d -> 50 -> 50 -> 50 -> 1`` is
trained with Adam on MSE under its own seed, on its own random ``subsample`` of the data. The last
hidden layer plus a constant column is the basis ``phi``; ``blr`` fits the weight posterior on all
the data with ``(alpha, beta)`` maximising the log evidence (or integrated out).

Predict: each (network, ``(alpha, beta)``) "head" is a Gaussian over the ``q`` points; the model
returns their mixture, moment-matched jointly over the ``q`` points, on the original scale.

Why these defaults (``python -m experiments.dngo_calibration --sweep``; 30 noise-free points of
x·sin(x) + x·cos(2x), 10 seeds): one network covers the truth with its ±2 sd band only ~67% of the
time. Ensembles of 5 to 10 networks reach ~80% and integrating ``(alpha, beta)`` out changes
nothing; what the members lack is disagreement. Two things create it: a wider first-layer
initialisation (``init_scale``: tanh units with steeper, more spread-out transitions, so members
interpolate the gaps differently) and training each member on a random 80% of the points. With
both, coverage is ~97% and the RMSE is at the GP's.

The BLR heads lose optimisation to the GP at 30-60 points (experiments/results/dngo_variants.md):
the networks extrapolate past the best observations, the mean is optimistic 0.2-0.9 away from
every data point, and expected improvement goes there. ``head="gp_product"`` (`dngo_kernel`) puts
a GP with kernel ``Matern(x) * RBF(phi(x))`` on the first network's features instead, up to
``gp_head_max_n`` points; ``prior_mean`` (a quadratic bowl, `dngo_network.bowl`) was measured and
did not help. The networks and the bowl live in `dngo_network`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from botorch.acquisition.objective import PosteriorTransform
from botorch.models.model import Model
from botorch.posteriors.gpytorch import GPyTorchPosterior
from torch import Tensor

from bo_loop.models.settings import Rules, defaults, int_list, integer, one_of, real, resolve
from bo_loop.models.surrogates import blr
from bo_loop.models.surrogates.base import Surrogate
from bo_loop.models.surrogates.dngo_kernel import fit_product_gp
from bo_loop.models.surrogates.dngo_network import Ensemble, bowl, train_ensemble
from bo_loop.models.surrogates.dngo_network import num_steps as num_steps  # re-exported
from bo_loop.models.surrogates.encoding import FeatureMap
from bo_loop.models.surrogates.posterior import check_query, gaussian_posterior

#: DNGO's settings (name -> (default, check)), stored with each campaign.
RULES: Rules = {
    # tanh layer widths; the last is the basis size D (plus a bias)
    "hidden": ([50, 50, 50], int_list(1)),
    # networks, each with its own seed and subsample
    "ensemble": (5, integer(1, 100)),
    # share of the points each network trains on (the BLR uses all)
    "subsample": (0.8, real(0.0, 1.0, low_open=True)),
    # first-layer initialisation bound, in units of 1/sqrt(fan_in)
    "init_scale": (6.0, real(0.0, low_open=True)),
    # passes over a network's data (more fitted the 1-D benchmark worse) ...
    "epochs": (250, integer(1)),
    # ... but at most this many Adam steps: past ~1,000 points training costs the same at any n
    # (mini-batches), and 3000 steps fitted noisy Hartmann6 worse
    "max_steps": (1000, integer(1)),
    # mini-batch size; smaller data sets train full-batch
    "batch_size": (256, integer(1)),
    # Adam learning rate
    "lr": (0.003, real(0.0, low_open=True)),
    # Adam's L2 penalty on the network weights
    "weight_decay": (0.0, real(0.0)),
    # "map": maximise the evidence over (alpha, beta); "marginal": integrate
    "hyper": ("map", one_of("map", "marginal")),
    # depth of a fixed quadratic prior mean, in outcome sds: the networks and heads fit the
    # outcomes minus ``-prior_mean * mean_j(z_j^2)`` over the numeric inputs z in [-1, 1]
    "prior_mean": (0.0, real(0.0)),
    # "blr": Bayesian linear regression on each network's basis (Snoek et al.); "gp_product":
    # a GP with kernel Matern(x) * RBF(phi(x)) on the first network's features (dngo_kernel)
    "head": ("gp_product", one_of("blr", "gp_product")),
    # the "gp_product" head is an exact GP (cubic in n): past this many points, "blr" heads
    "gp_head_max_n": (500, integer(1)),
    # the "gp_product" head's noise prior: "gamma_flat", Optuna's Gamma(1.1, 30), which lets the
    # data decide how noisy they are; "lognormal", BoTorch's LogNormal(-4, 1) above 1e-4 (what
    # stored campaigns keep); or "auto", the GP's rule (`gp.RULES`). BoTorch's prior held the
    # head's noise at 6e-4 - 4e-3 of the variance on noise-free Branin and its posterior sd at
    # the best point at 0.7-2.2, so regrets of 0.14-0.32 went unseen and EI kept exploring;
    # "auto" never fired there (the fit never reached the floor). 10 seeds, median final regret
    # against "lognormal" (experiments/results/dngo_variants.md, section 7): branin 0.0062 vs
    # 0.011 (Ax 0.0084); xsin, mixed and hartmann6 in that section.
    "noise_prior": ("gamma_flat", one_of("gamma_flat", "lognormal", "auto")),
    # the floor of the "gamma_flat" head's noise variance (of the standardised outcome): 1e-6
    # refined further (branin 0.0080, xsin 2.9e-8) but covered the truth with its ±2 sd band
    # 0.887 of the time in experiments.dngo_calibration (target 0.90); 1e-5 0.902, 1e-4 0.925
    # with branin 0.014 over 5 seeds.
    "noise_floor": (1e-5, real(1e-10, 1.0)),
}
DEFAULT_SETTINGS: dict[str, Any] = defaults(RULES)

#: Variance added to the diagonal of the q x q covariance, in units of the outcome's variance: a
#: network's covariance over q > D points has rank <= D, and a Cholesky of it needs a floor.
JITTER = 1e-8


class DNGOModel(Model):
    """A fitted DNGO ensemble; the posterior is the moment-matched mixture of its heads.

    Head ``k`` is a Bayesian linear regression ``N(m_k, A_k^-1)`` on the basis of network
    ``head_net[k]`` with mixture weight ``head_weight[k]``: one head per network when the
    hyperparameters are maximised, several when they are integrated out. Build it with
    ``fit_dngo``.
    """

    head_net: Tensor
    head_mean: Tensor
    head_chol: Tensor
    head_alpha: Tensor
    head_beta: Tensor
    head_weight: Tensor

    def __init__(
        self,
        encoder: FeatureMap,
        networks: Ensemble,
        heads: list[tuple[int, blr.BLRPosterior, float]],
        y_mean: float,
        y_std: float,
        train_X: Tensor,
        train_Y: Tensor,
        prior_mean: float = 0.0,
    ) -> None:
        """Assemble a fitted model.

        Args:
            encoder: Maps encoded space columns to network inputs.
            networks: The trained networks.
            heads: ``(network index, weight posterior, mixture weight)`` triples.
            y_mean: Mean of the training outcomes; the posterior is shifted back by it.
            y_std: Standard deviation of the training outcomes; the posterior is scaled by it.
            train_X: The ``n x d`` training inputs, kept as ``train_inputs`` because BoTorch's
                optimisers look there for starting points, as on a GP.
            train_Y: The ``n x 1`` training outcomes.
            prior_mean: Depth of the quadratic prior mean (`bowl`), standardised units.
        """
        super().__init__()
        self.prior_mean = prior_mean
        self.encoder = encoder
        self.networks = networks
        f64 = torch.float64
        self.register_buffer("head_net", torch.tensor([h[0] for h in heads], dtype=torch.long))
        self.register_buffer("head_mean", torch.stack([h[1].mean for h in heads]))
        self.register_buffer("head_chol", torch.stack([h[1].chol for h in heads]))
        self.register_buffer("head_alpha", torch.tensor([h[1].alpha for h in heads], dtype=f64))
        self.register_buffer("head_beta", torch.tensor([h[1].beta for h in heads], dtype=f64))
        self.register_buffer("head_weight", torch.tensor([h[2] for h in heads], dtype=f64))
        self.log_evidence = [h[1].log_evidence for h in heads]
        self.y_mean = y_mean
        self.y_std = y_std
        self.train_inputs = (train_X,)
        self.train_targets = train_Y.squeeze(-1)
        self.eval()

    @property
    def num_outputs(self) -> int:
        """One outcome."""
        return 1

    @property
    def batch_shape(self) -> torch.Size:
        """The model is not batched."""
        return torch.Size([])

    @property
    def heads(self) -> list[blr.BLRPosterior]:
        """The weight posteriors, rebuilt from the buffers (which follow ``.to()``)."""
        fields = zip(
            self.head_alpha.tolist(), self.head_beta.tolist(), self.head_mean, self.head_chol,
            self.log_evidence, strict=True,
        )  # fmt: skip
        return [blr.BLRPosterior(*f) for f in fields]

    def features(self, X: Tensor) -> Tensor:
        """The bases: ``E x batch_shape x q x D`` for a ``batch_shape x q x d`` input."""
        return self.networks.basis(self.encoder.transform(X))

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
            observation_noise: If True, add each head's fitted noise variance ``1 / beta``.
            posterior_transform: Applied to the posterior before it is returned.

        Returns:
            A ``GPyTorchPosterior`` over a ``MultivariateNormal`` with a ``batch_shape x q``
            mean and a ``batch_shape x q x q`` covariance, on the original outcome scale.
        """
        check_query("DNGO", X, output_indices, observation_noise)
        phi = self.features(X)
        pairs = [
            blr.predict(phi[i], post, observation_noise=bool(observation_noise))
            for i, post in zip(self.head_net.tolist(), self.heads, strict=True)
        ]
        mean = torch.stack([p[0] for p in pairs])  # K x batch_shape x q
        cov = torch.stack([p[1] for p in pairs])  # K x batch_shape x q x q
        # The mixture's moments, jointly over the q points. The spread of the heads' means enters
        # as E[(mu_k - mu)(mu_k - mu)^T] rather than E[mu_k mu_k^T] - mu mu^T: the same in exact
        # arithmetic, but a sum of PSD terms in floating point.
        w = self.head_weight.view(-1, *([1] * (mean.dim() - 1)))
        mix_mean = (w * mean).sum(0)
        if self.prior_mean:
            mix_mean = mix_mean + bowl(self.encoder, self.encoder.transform(X), self.prior_mean)
        dev = mean - mix_mean
        mix_cov = (w.unsqueeze(-1) * (cov + dev.unsqueeze(-1) * dev.unsqueeze(-2))).sum(0)
        mix_cov = mix_cov + JITTER * torch.eye(X.shape[-2], dtype=X.dtype, device=X.device)
        return gaussian_posterior(
            self.y_mean + self.y_std * mix_mean, self.y_std**2 * mix_cov, posterior_transform
        )


def fit_dngo(
    train_X: Tensor,
    train_Y: Tensor,
    *,
    bounds: Tensor,
    cat_dims: dict[int, list[float]],
    seed: int,
    hidden: list[int] = DEFAULT_SETTINGS["hidden"],
    ensemble: int = DEFAULT_SETTINGS["ensemble"],
    subsample: float = DEFAULT_SETTINGS["subsample"],
    init_scale: float = DEFAULT_SETTINGS["init_scale"],
    epochs: int = DEFAULT_SETTINGS["epochs"],
    max_steps: int = DEFAULT_SETTINGS["max_steps"],
    batch_size: int = DEFAULT_SETTINGS["batch_size"],
    lr: float = DEFAULT_SETTINGS["lr"],
    weight_decay: float = DEFAULT_SETTINGS["weight_decay"],
    hyper: str = DEFAULT_SETTINGS["hyper"],
    prior_mean: float = DEFAULT_SETTINGS["prior_mean"],
    head: str = DEFAULT_SETTINGS["head"],
    gp_head_max_n: int = DEFAULT_SETTINGS["gp_head_max_n"],
    noise_prior: str = DEFAULT_SETTINGS["noise_prior"],
    noise_floor: float = DEFAULT_SETTINGS["noise_floor"],
) -> Model:
    """Fit a DNGO ensemble; the keyword settings are those of ``DEFAULT_SETTINGS``.

    Args:
        train_X: An ``n x d`` float64 tensor in the space's encoding.
        train_Y: An ``n x 1`` float64 tensor, larger is better; standardised inside.
        bounds: The ``2 x d`` encoded bounds, the fixed input normalisation.
        cat_dims: Categorical columns (index -> allowed values), one-hot expanded.
        seed: Seeds every network's initialisation, subsample and mini-batches.
        hidden: Widths of the tanh hidden layers; the last is the basis size.
        ensemble: Number of networks.
        subsample: Share of the points each network trains on.
        init_scale: First-layer initialisation bound, in units of ``1 / sqrt(fan_in)``.
        epochs: Passes over a network's data, capped by ``max_steps`` Adam steps.
        max_steps: The most Adam steps per network.
        batch_size: Mini-batch size; a network with fewer points trains full-batch.
        lr: Adam learning rate.
        weight_decay: Adam's L2 penalty on the network weights.
        hyper: ``"map"`` maximises the log evidence over ``(alpha, beta)``; ``"marginal"``
            integrates them out on a grid (one head per kept grid point).
        prior_mean: Depth of the quadratic prior mean (`bowl`) of the BLR heads.
        head: ``"blr"`` or ``"gp_product"`` (`dngo_kernel.fit_product_gp`).
        gp_head_max_n: The most points the ``"gp_product"`` head takes; more get BLR heads.
        noise_prior: The ``"gp_product"`` head's noise prior: ``"gamma_flat"``, ``"lognormal"``
            or ``"auto"`` (`dngo_kernel.fit_product_gp`).
        noise_floor: The floor of the ``"gamma_flat"`` head's noise variance.

    Returns:
        A fitted model in eval mode whose posterior is on the scale of ``train_Y``: a
        ``DNGOModel``, or with the ``"gp_product"`` head on at most ``gp_head_max_n`` points a
        ``SingleTaskGP``.

    Raises:
        SettingsError: a setting breaks its rule.
        ValueError: the training tensors have the wrong shapes.
    """
    resolve("DNGO", RULES, {"hidden": list(hidden), "ensemble": ensemble, "subsample": subsample,
                            "init_scale": init_scale, "epochs": epochs, "max_steps": max_steps,
                            "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                            "hyper": hyper, "prior_mean": prior_mean, "head": head,
                            "gp_head_max_n": gp_head_max_n,
                            "noise_prior": noise_prior, "noise_floor": noise_floor})  # fmt: skip
    if train_X.dim() != 2 or train_Y.shape != (train_X.shape[0], 1) or train_X.shape[0] < 1:
        raise ValueError(
            "train_X must be `n x d` and train_Y `n x 1` with n >= 1, but got "
            f"train_X.shape={tuple(train_X.shape)}, train_Y.shape={tuple(train_Y.shape)}."
        )
    X = train_X.to(torch.float64)
    y = train_Y.to(torch.float64).squeeze(-1)
    y_mean = float(y.mean())
    # One point, or all equal: no scale to learn, so leave the outcomes in their own units.
    y_std = float(y.std()) if y.numel() > 1 else 0.0
    y_std = y_std if y_std > 0 else 1.0
    y_s = (y - y_mean) / y_std
    encoder = FeatureMap(bounds.to(torch.float64), cat_dims, numeric_range=(-1.0, 1.0))
    z = encoder.transform(X)
    if prior_mean:
        y_s = y_s - bowl(encoder, z, prior_mean)
    seeds = torch.randint(2**62, (ensemble,), generator=torch.Generator().manual_seed(seed))
    gp_head = head == "gp_product" and len(X) <= gp_head_max_n
    if gp_head:
        # The GP head uses the first network only; members train independently (each under its
        # own seed), so training it alone gives the same network.
        seeds = seeds[:1]
    networks = train_ensemble(
        z, y_s, hidden=list(hidden), seeds=seeds.tolist(), subsample=subsample,
        init_scale=init_scale, epochs=epochs, max_steps=max_steps, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay,
    )  # fmt: skip
    if gp_head:
        return fit_product_gp(
            X, y.unsqueeze(-1), bounds=bounds.to(torch.float64), cat_dims=cat_dims,
            net_input=encoder, networks=networks, noise_prior=noise_prior, noise_floor=noise_floor,
        )  # fmt: skip
    heads: list[tuple[int, blr.BLRPosterior, float]] = []
    with torch.no_grad():
        for i, phi in enumerate(networks.basis(z)):
            if hyper == "map":
                heads.append((i, blr.maximize_evidence(phi, y_s), 1.0 / ensemble))
            else:
                posts, weights = blr.marginalize_evidence(phi, y_s)
                heads += [
                    (i, p, w / ensemble) for p, w in zip(posts, weights.tolist(), strict=True)
                ]
    return DNGOModel(encoder, networks, heads, y_mean, y_std, X, y.unsqueeze(-1), prior_mean)


def _fit(
    train_X: Tensor,
    train_Y: Tensor,
    *,
    bounds: Tensor,
    cat_dims: dict[int, list[float]],
    seed: int,
    settings: Mapping[str, Any],
    warm_start: Mapping[str, Any] | None,
) -> Model:
    del warm_start  # each fit trains its networks from the seed
    return fit_dngo(train_X, train_Y, bounds=bounds, cat_dims=cat_dims, seed=seed, **settings)


#: What DNGO campaigns stored before these settings existed ran with (the BLR heads, no prior
#: mean, BoTorch's noise prior): a stored campaign keeps them while new campaigns get the defaults.
LEGACY: dict[str, Any] = {
    "prior_mean": 0.0, "head": "blr", "gp_head_max_n": 500, "noise_prior": "lognormal",
    "noise_floor": 1e-4,
}  # fmt: skip

SURROGATE = Surrogate(rules=RULES, fit=_fit, state=lambda model: None, legacy=LEGACY)
