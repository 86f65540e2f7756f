"""Deciding the next experiments: initial design, then expected improvement on a fitted surrogate.

Everything here is a pure function of the campaign's stored trials, its seed and its settings, so
a campaign reopened in a new process proposes exactly what it would have proposed had it stayed
open. It never touches the database: the caller hands it plain `Trial` records.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.models.model import Model
from torch import Tensor
from torch.quasirandom import SobolEngine

from bo_loop.exceptions import SpaceError
from bo_loop.models.acquisition import DEFAULT_SETTINGS as DEFAULT_ACQUISITION
from bo_loop.models.acquisition import build_acquisition, optimize
from bo_loop.models.constrained import Region
from bo_loop.models.design import default_design_size, design_proposals, region_design
from bo_loop.models.fitting import FITTED_STATE, fit_model, quiet_jitter, torch_threads
from bo_loop.models.round_categories import category_plan, describe
from bo_loop.objective import Objective
from bo_loop.outcomes import Outcomes
from bo_loop.space import Space, params_key
from bo_loop.trial import Trial, TrialState


@dataclass(frozen=True)
class Proposal:
    """A point to try next, with how it was chosen."""

    params: dict[str, Any]
    provenance: dict[str, Any]


def in_design(completed: int, n: int, size: int, rounds: str) -> bool:
    """Whether an ask of ``n`` points, with ``completed`` trials completed, is initial design.

    ``rounds`` is the acquisition setting ``design_rounds``: "within", while the completed trials
    plus the ask fit within ``size``; "fill", while fewer than ``size`` are completed. The model
    needs two completed trials under both.
    """
    if completed < 2:
        return True
    if rounds == "fill":
        return completed < size
    return completed + n <= size


def propose(
    space: Space,
    objective: Objective,
    trials: Sequence[Trial],
    n: int,
    *,
    seed: int,
    surrogate: str,
    settings: Mapping[str, Any],
    acquisition: Mapping[str, Any] = DEFAULT_ACQUISITION,
    design_size: int | None = None,
    region: Region | None = None,
    outcomes: Outcomes | None = None,
) -> list[Proposal]:
    """Propose ``n`` new points given every stored trial.

    Pending trials count as points under evaluation: batch proposals keep away from them. No
    proposal equals a completed, pending or failed trial, or another proposal of the same batch.

    Args:
        space: The search space.
        objective: The objective (its sign).
        trials: Every stored trial of the campaign, any state.
        n: How many points to propose.
        seed: The campaign's seed.
        surrogate: The surrogate's name.
        settings: Its full settings.
        acquisition: The acquisition's full settings (`acquisition.RULES`).
        design_size: Completed trials before the surrogate takes over; default
            `default_design_size`.
        region: The parameter constraints and the values fixed for this ask
            (`constrained.region_for`); None searches the whole space as before.
        outcomes: The campaign's outcomes when it has several (objectives or outcome
            constraints): then `multi_objective.propose_outcomes` decides (qLogNEHVI or
            constrained qLogNEI); None for a single objective, decided here as always.
    """
    taken: set[Hashable] = {
        params_key(t.params, space) for t in trials if t.state is not TrialState.ABANDONED
    }
    completed = [t for t in trials if t.state is TrialState.COMPLETED]
    size = design_size if design_size is not None else default_design_size(space, region)
    if in_design(len(completed), n, size, acquisition["design_rounds"]):
        design = (
            design_proposals(space, trials, n, seed=seed, taken=taken)
            if region is None
            else region_design(region, trials, n, seed=seed, taken=taken)
        )
        return [Proposal(params, provenance) for params, provenance in design]
    if outcomes is not None:
        from bo_loop.models.multi_objective import propose_outcomes

        return propose_outcomes(
            space, outcomes, trials, n, seed=seed, surrogate=surrogate, settings=settings,
            acquisition=acquisition, taken=taken, region=region,
        )  # fmt: skip
    return _model_based(
        space, objective, trials, n, seed=seed, surrogate=surrogate, settings=settings,
        acquisition=acquisition, taken=taken, region=region,
    )  # fmt: skip


def _model_based(
    space: Space,
    objective: Objective,
    trials: Sequence[Trial],
    n: int,
    *,
    seed: int,
    surrogate: str,
    settings: Mapping[str, Any],
    acquisition: Mapping[str, Any],
    taken: set[Hashable],
    region: Region | None = None,
) -> list[Proposal]:
    fitted = fit_model(space, objective, trials, seed, surrogate, settings)
    # Y in the model's units: EI compares it with the model's predictions. X: the rows the model
    # is conditioned on (all, or the GP's subset on a large history) are qLogNEI's baseline.
    model, X, Y, this_seed = fitted.model, fitted.baseline, fitted.model_Y, fitted.seed
    pending = [t.params for t in trials if t.state is TrialState.PENDING]
    X_pending = space.encode(pending) if pending else None
    with torch.random.fork_rng(), torch_threads(len(fitted.X)), quiet_jitter():
        torch.manual_seed(this_seed)
        acq, acq_name = build_acquisition(model, X, Y, X_pending, n, this_seed, acquisition)
        plan = (
            category_plan(model, space, X, this_seed)
            if acquisition["round_categories"] == "matched"
            and space.cat_dims
            and region is None
            and (n > 1 or X_pending is not None)
            else None
        )
        if region is None:
            candidates = optimize(acq, space, n, acquisition, categories=plan)
        else:
            candidates = region.optimize(
                acq, n, acquisition["num_restarts"], acquisition["raw_samples"]
            )
        candidates = _replace_duplicates(
            candidates, space, model, X, Y, X_pending, taken, this_seed, acquisition, region
        )
        state = fitted.state
        return _with_provenance(
            candidates, space, objective, model, X, Y, X_pending, acquisition,
            meta={"generator": surrogate, "surrogate": surrogate, "acquisition": acq_name,
                  "seed": this_seed, "n_observations": len(fitted.X),
                  **({} if plan is None else {"category_probabilities": describe(plan, space)}),
                  **({} if state is None else {FITTED_STATE: state})},
            scale=fitted.scale,
        )  # fmt: skip


def _replace_duplicates(
    candidates: Tensor,
    space: Space,
    model: Model,
    X: Tensor,
    Y: Tensor,
    X_pending: Tensor | None,
    taken: set[Hashable],
    seed: int,
    acquisition: Mapping[str, Any],
    region: Region | None = None,
    *,
    make_acquisition: Callable[[Tensor | None], AcquisitionFunction] | None = None,
) -> Tensor:
    """Swap any candidate that repeats a tried point (or a batch-mate) for the best untried one.

    Rounding onto integer grids, or an optimum on a bound, can land exactly on a tried point. The
    replacement is the best of a Sobol pool of untried grid points (a hit-and-run pool of the
    region when constrained) under qLogNEI given everything pending, including the batch-mates
    already kept. ``make_acquisition(X_busy)`` builds another acquisition instead (campaigns
    with several outcomes).
    """
    kept: list[Tensor] = []
    for x, params in zip(candidates, space.decode(candidates), strict=True):
        key = params_key(params, space)
        if key not in taken:
            taken.add(key)
            kept.append(x)
            continue
        pool = (
            space.from_unit_cube(
                SobolEngine(space.dim, scramble=True, seed=seed + len(kept)).draw(
                    1024, dtype=torch.float64
                )
            )
            if region is None
            else region.sample(256, seed + len(kept))
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
        if make_acquisition is not None:
            acq = make_acquisition(torch.cat(busy) if busy else None)
        else:
            acq, _ = build_acquisition(
                model, X, Y, torch.cat(busy) if busy else None, 2, seed, acquisition
            )
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
    acquisition: Mapping[str, Any],
    meta: dict[str, Any],
    scale: float = 1.0,
) -> list[Proposal]:
    """Attach each point's predicted outcome (original scale) and its own acquisition value.

    ``scale`` is what the outcomes were divided by (`fitting.outcome_scale`) before the model saw
    them.
    """
    with torch.no_grad():
        posterior = model.posterior(candidates.unsqueeze(1))
        mean = posterior.mean.reshape(-1) * objective.sign * scale  # type: ignore[attr-defined]
        sd = posterior.variance.clamp_min(0).sqrt().reshape(-1) * scale  # type: ignore[attr-defined]
        single, single_name = build_acquisition(
            model, X, Y, X_pending, 1, int(meta["seed"]), acquisition
        )
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
