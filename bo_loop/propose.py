"""Deciding the next experiments: initial design, then expected improvement on a fitted surrogate.

Everything here is a pure function of the campaign's stored trials and its seed, so a campaign
reopened in a new process proposes exactly what it would have proposed had it stayed open.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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
from linear_operator.utils.warnings import NumericalWarning
from torch import Tensor
from torch.quasirandom import SobolEngine

from bo_loop.design import sobol_points
from bo_loop.exceptions import SpaceError
from bo_loop.objective import Objective
from bo_loop.space import Space, params_key
from bo_loop.surrogates import fit_surrogate, fitted_state
from bo_loop.trial import Trial, TrialState

#: Acquisition optimisation effort. Chosen with experiments/compare.py; 20 restarts and 2,048 raw
#: samples did not change the Hartmann6 outcomes (experiments/results/compare/notes.md).
NUM_RESTARTS = 10
RAW_SAMPLES = 512
MC_SAMPLES = 256


@dataclass(frozen=True)
class Proposal:
    """A point to try next, with how it was chosen."""

    params: dict[str, Any]
    provenance: dict[str, Any]


#: Below this many observations the model math is small matrices, where one thread beats two
#: (measured: a 4-D GP fit on 30 points took 0.34 s on 1 thread, 1.98 s on 2 with a busy machine).
SMALL_DATA = 1000


@contextmanager
def torch_threads(n_observations: int) -> Iterator[None]:
    """Run small-data model math on one thread, then restore the caller's thread count."""
    before = torch.get_num_threads()
    if n_observations < SMALL_DATA and before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


#: Sobol points before the surrogate takes over: DESIGN_PER_DIM per dimension, at least MIN_DESIGN.
MIN_DESIGN = 5
DESIGN_PER_DIM = 2


def default_design_size(space: Space) -> int:
    """Sobol points before the surrogate takes over: twice the dimension, at least 5."""
    return max(MIN_DESIGN, DESIGN_PER_DIM * space.dim)


def step_seed(seed: int, n_trials: int) -> int:
    """The seed of one ask: a function of the campaign seed and how many trials exist."""
    return (seed * 1_000_003 + n_trials * 7_919) % (2**31 - 1)


def training_data(
    space: Space, objective: Objective, trials: Sequence[Trial]
) -> tuple[Tensor, Tensor]:
    """Encode completed trials: ``n x d`` inputs and ``n x 1`` outcomes signed so larger is better."""
    done = [t for t in trials if t.state is TrialState.COMPLETED and t.value is not None]
    X = space.encode([t.params for t in done])
    Y = torch.tensor([[objective.sign * float(t.value)] for t in done], dtype=torch.float64)  # type: ignore[arg-type]
    return X, Y


#: The largest outcome magnitude the surrogates see. Campaigns with larger outcomes are divided by
#: a power of two (exact, and it leaves EI's argmax alone) before any model math: the variance of
#: outcomes near 1e155 overflows float64, which made every later ask fail.
MAX_MODEL_OUTCOME = 2.0**200


def outcome_scale(Y: Tensor) -> float:
    """The power of two to divide outcomes by before model math: 1.0 unless some |y| > 2**200."""
    peak = float(Y.abs().max()) if Y.numel() else 0.0
    if peak <= MAX_MODEL_OUTCOME:
        return 1.0
    return 2.0 ** math.ceil(math.log2(peak / MAX_MODEL_OUTCOME))


def propose(
    space: Space,
    objective: Objective,
    trials: Sequence[Trial],
    n: int,
    *,
    seed: int,
    surrogate: str,
    settings: Mapping[str, Any],
    design_size: int | None = None,
) -> list[Proposal]:
    """Propose ``n`` new points given every stored trial.

    Pending trials count as points under evaluation: batch proposals keep away from them. No
    proposal equals a completed, pending or failed trial, or another proposal of the same batch.
    """
    taken: set[Hashable] = {
        params_key(t.params, space) for t in trials if t.state is not TrialState.ABANDONED
    }
    completed = [t for t in trials if t.state is TrialState.COMPLETED]
    size = design_size if design_size is not None else default_design_size(space)
    this_seed = step_seed(seed, len(trials))
    if len(completed) < max(size, 2):
        return _design(space, trials, n, seed=seed, taken=taken)
    return _model_based(
        space, objective, trials, n, seed=this_seed, surrogate=surrogate,
        settings=settings, taken=taken,
    )  # fmt: skip


def _design(
    space: Space, trials: Sequence[Trial], n: int, *, seed: int, taken: set[Hashable]
) -> list[Proposal]:
    used = [int(t.provenance["sobol_index"]) for t in trials if "sobol_index" in t.provenance]
    start = max(used) + 1 if used else 0
    points = sobol_points(space, n, seed=seed, start=start, taken=taken)
    decoded = space.decode(torch.stack([x for x, _ in points]))
    return [
        Proposal(
            params=params, provenance={"generator": "sobol", "sobol_index": index, "seed": seed}
        )
        for params, (_, index) in zip(decoded, points, strict=True)
    ]


def build_acquisition(
    model: Model, X: Tensor, Y: Tensor, X_pending: Tensor | None, q: int, seed: int
) -> tuple[AcquisitionFunction, str]:
    """LogEI for one point with nothing pending; qLogNEI for batches and pending points.

    LogEI's incumbent is the best observation. The best posterior mean at an observed point (the
    usual remedy under noise) was measured and lost on the noisy "mixed" problem: final regret
    0.021 and 0.141 against 0.0055 and 0.0057 on seeds 0 and 1 (variants bo_loop_gp_v1 and
    bo_loop_gp_v0 in experiments/results/compare/archive/), so the default stays.
    """
    if q == 1 and X_pending is None:
        return LogExpectedImprovement(model, best_f=Y.max()), "logei"
    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([MC_SAMPLES]), seed=seed)
    acq = qLogNoisyExpectedImprovement(
        model, X_baseline=X, sampler=sampler, X_pending=X_pending, prune_baseline=True,
        # Caching the baseline's Cholesky works for GPs only (DNGO is not a GPyTorch model).
        cache_root=supports_cache_root(model),
    )  # fmt: skip
    return acq, "qlognei"


def optimize(acq: AcquisitionFunction, space: Space, q: int) -> Tensor:
    """Maximise ``acq`` over the space; integer and categorical columns stay on their grids."""
    bounds = space.bounds()
    # Integers wider than MAX_GRID are not in discrete_dims: searched as continuous, rounded below.
    discrete_dims, cat_dims = space.discrete_dims, space.cat_dims
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizationWarning)
        warnings.simplefilter("ignore", BadInitialCandidatesWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        if not discrete_dims and not cat_dims:
            X, _ = optimize_acqf(
                acq, bounds=bounds, q=q, num_restarts=NUM_RESTARTS, raw_samples=RAW_SAMPLES,
                sequential=q > 1, options={"batch_limit": NUM_RESTARTS, "init_batch_limit": RAW_SAMPLES, "maxiter": 200},
                # A failed L-BFGS run on an ill-conditioned posterior is not worth a second round.
                retry_on_optimization_warning=False,
            )  # fmt: skip
        else:
            X, _ = optimize_acqf_mixed_alternating(
                acq, bounds=bounds, discrete_dims=discrete_dims or None,
                cat_dims=cat_dims or None, q=q, num_restarts=NUM_RESTARTS,
                raw_samples=RAW_SAMPLES,
            )  # fmt: skip
    return space.round_to_grid(X.detach().reshape(q, space.dim))


def _model_based(
    space: Space,
    objective: Objective,
    trials: Sequence[Trial],
    n: int,
    *,
    seed: int,
    surrogate: str,
    settings: Mapping[str, Any],
    taken: set[Hashable],
) -> list[Proposal]:
    X, Y = training_data(space, objective, trials)
    scale = outcome_scale(Y)
    Y = Y / scale
    pending = [t.params for t in trials if t.state is TrialState.PENDING]
    X_pending = space.encode(pending) if pending else None
    with torch.random.fork_rng(), torch_threads(len(X)), warnings.catch_warnings():
        # Near-duplicate observations make the GP's covariance nearly singular; the jitter that
        # GPyTorch adds (fitting, pruning qLogNEI's baseline, optimising) is the right response
        # and the warning only alarms users.
        warnings.simplefilter("ignore", NumericalWarning)
        torch.manual_seed(seed)
        model = fit_surrogate(
            surrogate, X, Y, bounds=space.bounds(), cat_dims=space.cat_dims, seed=seed,
            settings=settings, warm_start=latest_fitted_state(trials, surrogate),
        )  # fmt: skip
        acq, acq_name = build_acquisition(model, X, Y, X_pending, n, seed)
        candidates = optimize(acq, space, n)
        candidates = _replace_duplicates(candidates, space, model, X, Y, X_pending, taken, seed)
        return _with_provenance(
            candidates, space, objective, model, X, Y, X_pending,
            meta={"generator": surrogate, "surrogate": surrogate, "acquisition": acq_name,
                  "seed": seed, "n_observations": len(X),
                  **_state_entry(fitted_state(surrogate, model))},
            scale=scale,
        )  # fmt: skip


#: Provenance key of the fitted surrogate's state (the GP's raw hyperparameters).
FITTED_STATE = "fitted_state"


def _state_entry(state: dict[str, Any] | None) -> dict[str, Any]:
    return {} if state is None else {FITTED_STATE: state}


def latest_fitted_state(trials: Sequence[Trial], surrogate: str) -> dict[str, Any] | None:
    """The surrogate state stored by the campaign's latest ask that fitted ``surrogate``.

    It comes from the database like everything else an ask uses, so a campaign reopened in a
    new process starts its fit from the same values as one that stayed open.
    """
    for t in sorted(trials, key=lambda t: t.number, reverse=True):
        if t.provenance.get("surrogate") == surrogate and FITTED_STATE in t.provenance:
            state: dict[str, Any] = t.provenance[FITTED_STATE]
            return state
    return None


def _replace_duplicates(
    candidates: Tensor,
    space: Space,
    model: Model,
    X: Tensor,
    Y: Tensor,
    X_pending: Tensor | None,
    taken: set[Hashable],
    seed: int,
) -> Tensor:
    """Swap any candidate that repeats a tried point (or a batch-mate) for the best untried one.

    Rounding onto integer grids, or an optimum on a bound, can land exactly on a tried point. The
    replacement is the best of a Sobol pool of untried grid points under qLogNEI given everything
    pending, including the batch-mates already kept.
    """
    kept: list[Tensor] = []
    for x, params in zip(candidates, space.decode(candidates), strict=True):
        key = params_key(params, space)
        if key not in taken:
            taken.add(key)
            kept.append(x)
            continue
        pool = space.from_unit_cube(
            SobolEngine(space.dim, scramble=True, seed=seed + len(kept)).draw(
                1024, dtype=torch.float64
            )
        )
        fresh = []
        for p, row in zip(pool, space.decode(pool), strict=True):
            k = params_key(row, space)
            if k not in taken:
                fresh.append((k, p))
        if not fresh:
            raise SpaceError(
                "Every point of the search space near the proposals has been tried already; "
                "widen the space or abandon trials to free points."
            )
        busy = [t for t in (X_pending, torch.stack(kept) if kept else None) if t is not None]
        acq, _ = build_acquisition(model, X, Y, torch.cat(busy) if busy else None, 2, seed)
        with torch.no_grad():
            values = acq(torch.stack([p for _, p in fresh]).unsqueeze(1))
        best = int(values.argmax())
        taken.add(fresh[best][0])
        kept.append(fresh[best][1])
    return torch.stack(kept)


def _with_provenance(
    candidates: Tensor,
    space: Space,
    objective: Objective,
    model: Model,
    X: Tensor,
    Y: Tensor,
    X_pending: Tensor | None,
    meta: dict[str, Any],
    scale: float = 1.0,
) -> list[Proposal]:
    """Attach each point's predicted outcome (original scale) and its own acquisition value.

    ``scale`` is what the outcomes were divided by (`outcome_scale`) before the model saw them.
    """
    with torch.no_grad():
        posterior = model.posterior(candidates.unsqueeze(1))
        mean = posterior.mean.reshape(-1) * objective.sign * scale  # type: ignore[attr-defined]
        sd = posterior.variance.clamp_min(0).sqrt().reshape(-1) * scale  # type: ignore[attr-defined]
        single, single_name = build_acquisition(model, X, Y, X_pending, 1, int(meta["seed"]))
        acq_values = single(candidates.unsqueeze(1)).reshape(-1)
    out = []
    for i, params in enumerate(space.decode(candidates)):
        value = float(acq_values[i])
        out.append(
            Proposal(
                params=params,
                provenance={
                    **meta,
                    "acquisition_value": value if math.isfinite(value) else None,
                    "acquisition_value_kind": f"log EI of this point alone ({single_name})",
                    "predicted_mean": float(mean[i]),
                    "predicted_sd": float(sd[i]),
                },
            )
        )
    return out
