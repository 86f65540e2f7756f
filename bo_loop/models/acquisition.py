"""Expected improvement and its maximisation over a mixed space.

The effort of the optimisation is a campaign setting (``acquisition`` in its config), checked at
create by `RULES`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch
from botorch.acquisition import AcquisitionFunction, LogExpectedImprovement
from botorch.acquisition.cached_cholesky import supports_cache_root
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.exceptions.warnings import BadInitialCandidatesWarning, OptimizationWarning
from botorch.models.model import Model
from botorch.optim import optimize_acqf
from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating
from botorch.sampling import SobolQMCNormalSampler
from torch import Tensor

from bo_loop.models import settings as _settings
from bo_loop.models.settings import Rules, integer
from bo_loop.space import Space

#: Acquisition optimisation effort. Chosen with experiments/compare.py; 20 restarts and 2,048 raw
#: samples did not change the Hartmann6 outcomes (experiments/results/compare/notes.md).
#: ``mc_samples`` are the quasi-Monte-Carlo samples of qLogNEI (batches and pending points).
RULES: Rules = {
    "num_restarts": (10, integer(1, 1000)),
    "raw_samples": (512, integer(1, 1_000_000)),
    "mc_samples": (256, integer(1, 100_000)),
}
DEFAULT_SETTINGS: dict[str, Any] = _settings.defaults(RULES)

#: The defaults of campaigns with two or more objectives, where optimising qLogNEHVI is ~80 % of
#: an ask: 64 MC samples, half the raw samples and restarts of `RULES`. On Branin-Currin (10
#: seeds, experiments/RESULTS.md "Multiple outcomes") the median log10 hypervolume difference
#: was 0.603, against 0.599 with 128 MC samples and 0.614 with `RULES`' defaults; CPU s per ask
#: 0.42 against 0.62 with 128 (the same three seeds, the same load) and 1.62. Fewer raw samples
#: (128) or restarts (3) lost (medians 0.55-0.86 per seed against 0.44-0.73). One objective, with
#: or without outcome constraints, keeps `RULES`' defaults: 64/256/5 doubled Gramacy's feasible
#: regret (median 4.7e-4 against 1.9e-4, 10 seeds).
MULTI_OBJECTIVE_DEFAULTS: dict[str, Any] = {
    "mc_samples": 64,
    "raw_samples": 256,
    "num_restarts": 5,
}


def resolve_settings(settings: Mapping[str, Any] | None, *, objectives: int = 1) -> dict[str, Any]:
    """The full, checked acquisition settings: the defaults (`MULTI_OBJECTIVE_DEFAULTS` for two
    or more ``objectives``) updated by ``settings``. A campaign stores the result, so a default
    changed later does not change how an existing campaign proposes.

    Raises:
        SettingsError: an unknown key or a value that breaks its rule.
    """
    if objectives >= 2 and (settings is None or isinstance(settings, Mapping)):
        settings = {**MULTI_OBJECTIVE_DEFAULTS, **(settings or {})}
    return _settings.resolve("the acquisition", RULES, settings)


def build_acquisition(
    model: Model,
    X: Tensor,
    Y: Tensor,
    X_pending: Tensor | None,
    q: int,
    seed: int,
    settings: Mapping[str, Any] = DEFAULT_SETTINGS,
) -> tuple[AcquisitionFunction, str]:
    """LogEI for one point with nothing pending; qLogNEI for batches and pending points.

    LogEI's incumbent is the best observation. The best posterior mean at an observed point (the
    usual remedy under noise) was measured and lost on the noisy "mixed" problem: final regret
    0.021 and 0.141 against 0.0055 and 0.0057 on seeds 0 and 1 (variants bo_loop_gp_v1 and
    bo_loop_gp_v0 in experiments/results/compare/archive/), so the default stays.
    """
    if q == 1 and X_pending is None:
        return LogExpectedImprovement(model, best_f=Y.max()), "logei"
    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([settings["mc_samples"]]), seed=seed)
    acq = qLogNoisyExpectedImprovement(
        model, X_baseline=X, sampler=sampler, X_pending=X_pending, prune_baseline=True,
        # Caching the baseline's Cholesky works for GPs only (DNGO is not a GPyTorch model).
        cache_root=supports_cache_root(model),
    )  # fmt: skip
    return acq, "qlognei"


def optimize(
    acq: AcquisitionFunction, space: Space, q: int, settings: Mapping[str, Any] = DEFAULT_SETTINGS
) -> Tensor:
    """Maximise ``acq`` over the space; integer and categorical columns stay on their grids."""
    bounds = space.bounds()
    restarts, raw = settings["num_restarts"], settings["raw_samples"]
    # Integers wider than Space's MAX_GRID are not in discrete_dims: searched as continuous and
    # rounded below, so their grid is never listed value by value.
    discrete_dims, cat_dims = space.discrete_dims, space.cat_dims
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizationWarning)
        warnings.simplefilter("ignore", BadInitialCandidatesWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        if not discrete_dims and not cat_dims:
            X, _ = optimize_acqf(
                acq, bounds=bounds, q=q, num_restarts=restarts, raw_samples=raw,
                sequential=q > 1, options={"batch_limit": restarts, "init_batch_limit": raw, "maxiter": 200},
                # A failed L-BFGS run on an ill-conditioned posterior is not worth a second round.
                retry_on_optimization_warning=False,
            )  # fmt: skip
        else:
            X, _ = optimize_acqf_mixed_alternating(
                acq, bounds=bounds, discrete_dims=discrete_dims or None,
                cat_dims=cat_dims or None, q=q, num_restarts=restarts, raw_samples=raw,
            )  # fmt: skip
    return space.round_to_grid(X.detach().reshape(q, space.dim))
