"""Campaigns with several outcomes: one surrogate per outcome, and the acquisition over them.

Each outcome (every objective, every constraint-only outcome) gets its own surrogate of the
campaign's kind (GP or DNGO, through the same `fitting.fit`), fitted on the trials that have a
value for it: completed trials, and pending trials told in part. Together they form a BoTorch
``ModelList`` (independent outputs, in the order of `Outcomes.names`), whose samples feed

- qLogNEHVI (log noisy expected hypervolume improvement) for two or more objectives, and
- qLogNEI on the single objective for one objective with outcome constraints,

both with each outcome constraint as a smooth feasibility weight on the modelled outcome (BoTorch's
``constraints=`` callables). Pending trials, including those told in part, are ``X_pending``.

Reference point of the hypervolume (per objective, larger-is-better sign): the objective's worst
known bound when it has one (``lo`` when maximised, ``hi`` when minimised), else BoTorch's
``infer_reference_point`` on the observed feasible Pareto front (all completed trials when none is
feasible): the front's nadir minus 10 % of its range.

Everything here is a pure function of the trials, the seed and the settings, like `propose`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
from botorch.acquisition.objective import GenericMCObjective
from botorch.models.model import ModelList
from botorch.sampling import SobolQMCNormalSampler
from botorch.sampling.list_sampler import ListSampler
from botorch.utils.multi_objective.hypervolume import infer_reference_point
from torch import Tensor

from bo_loop.exceptions import BoLoopError
from bo_loop.models.acquisition import optimize
from bo_loop.models.constrained import Region
from bo_loop.models.fitting import (
    FittedModel,
    fit,
    quiet_jitter,
    step_seed,
    torch_threads,
)
from bo_loop.objective import Objective
from bo_loop.outcomes import Outcomes, non_dominated
from bo_loop.space import Space
from bo_loop.trial import Trial, TrialState

#: Provenance key of the fitted surrogates' states, one per outcome.
FITTED_STATES = "fitted_states"

#: Width of the smooth feasibility weight of each outcome constraint, as a fraction of the
#: constrained outcome's observed standard deviation (model units). BoTorch's ``eta`` (1e-3 in
#: qLogNEI, 1e-2 in qLogNEHVI) is in the units the model sees, which Ax standardises but bo_loop
#: does not: passed as is, it blurred feasibility over a band that depended on the unit a lab
#: reports the outcome in (1e-3 of a percentage, or of a fraction, alike). Scaling by the spread
#: makes the weight the same whatever the unit. 1e-3 is BoTorch's value on a standardised outcome;
#: on Gramacy's problem 1e-3 and 1e-5 of the spread gave the same median feasible regret within
#: the seeds' scatter (experiments/RESULTS.md, "Multiple outcomes").
ETA_FRACTION = 1e-3

#: Lower bound on the spread that ``eta`` scales with, for an outcome observed constant (sd 0).
_MIN_SPREAD = 1e-9

#: The standard normal, for probabilities of feasibility.
_NORMAL = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)


def outcome_objective(outcomes: Outcomes, name: str) -> Objective:
    """The objective of ``name``, or a maximised stand-in for a constraint-only outcome (its
    model then predicts the outcome itself)."""
    return outcomes.objective(name) or Objective(name)


def measured(trials: Sequence[Trial], name: str) -> list[Trial]:
    """The trials a surrogate of outcome ``name`` trains on: completed, or pending and told in
    part, with a value for it."""
    return [
        t
        for t in trials
        if t.state in (TrialState.COMPLETED, TrialState.PENDING) and name in t.values
    ]


def _warm_start(trials: Sequence[Trial], surrogate: str, name: str) -> dict[str, Any] | None:
    """The state of ``name``'s surrogate stored by the latest ask that fitted ``surrogate``."""
    for t in sorted(trials, key=lambda t: t.number, reverse=True):
        states = t.provenance.get(FITTED_STATES)
        if t.provenance.get("surrogate") == surrogate and isinstance(states, dict):
            state = states.get(name)
            if isinstance(state, dict):
                return state
    return None


def fit_outcome_models(
    space: Space,
    outcomes: Outcomes,
    trials: Sequence[Trial],
    seed: int,
    surrogate: str,
    settings: Mapping[str, Any],
) -> dict[str, FittedModel]:
    """One fitted surrogate per outcome, in `Outcomes.names` order, as the next ask fits them.

    Raises:
        BoLoopError: an outcome has fewer than 2 values.
    """
    this_seed = step_seed(seed, len(trials))
    fits: dict[str, FittedModel] = {}
    for name in outcomes.names:
        objective = outcome_objective(outcomes, name)
        rows = measured(trials, name)
        if len(rows) < 2:
            raise BoLoopError(
                f"The surrogate of {name!r} needs at least 2 trials with a value for it, but the "
                f"campaign has {len(rows)}."
            )
        X = space.encode([t.params for t in rows])
        Y = torch.tensor(
            [[objective.sign * float(t.values[name])] for t in rows], dtype=torch.float64
        )
        model = fit(
            space, X, Y, surrogate=surrogate, settings=settings, seed=this_seed,
            warm_start=_warm_start(trials, surrogate, name),
        )  # fmt: skip
        fits[name] = FittedModel(
            model=model, space=space, objective=objective, X=X, Y=Y,
            numbers=tuple(t.number for t in rows), surrogate=surrogate,
            settings=dict(settings), seed=this_seed,
        )  # fmt: skip
    return fits


def reference_point(outcomes: Outcomes, trials: Sequence[Trial]) -> list[float]:
    """The hypervolume's reference point, signed so that larger is better (see the module doc)."""
    done = [
        t
        for t in trials
        if t.state is TrialState.COMPLETED and all(o.name in t.values for o in outcomes.objectives)
    ]
    feasible = [t for t in done if outcomes.is_feasible(t.values)] or done
    signed = [outcomes.signed(t.values) for t in feasible]
    front = torch.tensor([signed[i] for i in non_dominated(signed)], dtype=torch.float64)
    inferred = (
        infer_reference_point(front).tolist() if len(front) else [0.0] * len(outcomes.objectives)
    )
    ref = []
    for i, o in enumerate(outcomes.objectives):
        lo, hi = o.bounds if o.bounds is not None else (None, None)
        worst = lo if o.goal == "maximize" else (None if hi is None else -hi)
        ref.append(float(worst) if worst is not None else float(inferred[i]))
    return ref


def _constraint_callables(
    outcomes: Outcomes, fits: Mapping[str, FittedModel]
) -> list[Callable[[Tensor], Tensor]]:
    """BoTorch constraint callables (negative = feasible) on model samples ``... x m``."""
    names = list(outcomes.names)
    out: list[Callable[[Tensor], Tensor]] = []
    for c in outcomes.constraints:
        i = names.index(c.name)
        sign, scale = fits[c.name].objective.sign, fits[c.name].scale
        threshold = c.value / scale

        def slack(Z: Tensor, i: int = i, sign: float = sign, t: float = threshold,
                  op: str = c.op) -> Tensor:  # fmt: skip
            value = sign * Z[..., i]  # the outcome in model units, its own sign
            return t - value if op == ">=" else value - t

        out.append(slack)
    return out


def constraint_eta(outcomes: Outcomes, fits: Mapping[str, FittedModel]) -> Tensor:
    """One smoothing width per outcome constraint (`ETA_FRACTION` of the constrained outcome's
    observed standard deviation in model units, the units of the slack), in constraint order."""
    etas = []
    for c in outcomes.constraints:
        Y = fits[c.name].model_Y
        spread = float(Y.std()) if len(Y) > 1 else 0.0
        if not math.isfinite(spread) or spread <= 0.0:  # constant: the values' own size
            spread = float(Y.abs().max()) if len(Y) else 0.0
        etas.append(ETA_FRACTION * max(spread, _MIN_SPREAD))
    return torch.tensor(etas, dtype=torch.float64)


def build_outcome_acquisition(
    outcomes: Outcomes,
    fits: Mapping[str, FittedModel],
    X_baseline: Tensor,
    X_pending: Tensor | None,
    seed: int,
    settings: Mapping[str, Any],
    ref_point: Sequence[float] | None,
) -> tuple[AcquisitionFunction, str]:
    """qLogNEHVI over the objectives (two or more), or qLogNEI on the one objective, each with
    the outcome constraints as feasibility weights.

    Args:
        fits: One fitted surrogate per outcome (`fit_outcome_models`).
        X_baseline: ``r x d`` encoded points measured in full.
        X_pending: ``p x d`` encoded points under evaluation (pending, told in part), or None.
        seed: Seeds the quasi-Monte-Carlo samplers.
        settings: The acquisition settings (``mc_samples``).
        ref_point: Signed reference point (original units), for two or more objectives.
    """
    names = list(outcomes.names)
    model = ModelList(*[fits[n].model for n in names])
    shape = torch.Size([settings["mc_samples"]])
    sampler = ListSampler(
        *[SobolQMCNormalSampler(sample_shape=shape, seed=seed + i) for i in range(len(names))]
    )
    constraints = _constraint_callables(outcomes, fits) or None
    eta = constraint_eta(outcomes, fits) if constraints else 1e-3  # the default is unused
    k = len(outcomes.objectives)
    if k >= 2:
        assert ref_point is not None
        ref = torch.tensor(
            [r / fits[o.name].scale for r, o in zip(ref_point, outcomes.objectives, strict=True)],
            dtype=torch.float64,
        )
        acq: AcquisitionFunction = qLogNoisyExpectedHypervolumeImprovement(
            model, ref_point=ref, X_baseline=X_baseline, sampler=sampler,
            objective=IdentityMCMultiOutputObjective(outcomes=list(range(k))),
            constraints=constraints, eta=eta, X_pending=X_pending, prune_baseline=True,
            cache_root=False,
        )  # fmt: skip
        return acq, "qlognehvi"
    acq = qLogNoisyExpectedImprovement(
        model, X_baseline=X_baseline, sampler=sampler,
        objective=GenericMCObjective(_first_output), constraints=constraints, eta=eta,
        X_pending=X_pending, prune_baseline=True, cache_root=False,
    )  # fmt: skip
    return acq, "qlognei_constrained"


def _first_output(Z: Tensor, X: Tensor | None = None) -> Tensor:
    """The single objective's samples (output 0 of the ModelList)."""
    return Z[..., 0]


def p_feasible(outcomes: Outcomes, fits: Mapping[str, FittedModel], X: Tensor) -> Tensor:
    """The probability that every outcome constraint holds at encoded points ``X`` (``n``).

    Outcomes are modelled independently, so it is the product over constrained outcomes of the
    probability that each lies within its thresholds (a ``>=`` and a ``<=`` on one outcome make
    one interval). 1 everywhere without constraints.
    """
    total = torch.ones(len(X), dtype=torch.float64)
    for name in {c.name for c in outcomes.constraints}:
        lo = max((c.value for c in outcomes.constraints if c.name == name and c.op == ">="),
                 default=-math.inf)  # fmt: skip
        hi = min((c.value for c in outcomes.constraints if c.name == name and c.op == "<="),
                 default=math.inf)  # fmt: skip
        mean, sd = fits[name].mean_sd(X)
        sd = sd.clamp_min(1e-12)
        upper = _NORMAL.cdf((hi - mean) / sd) if math.isfinite(hi) else torch.ones_like(mean)
        lower = _NORMAL.cdf((lo - mean) / sd) if math.isfinite(lo) else torch.zeros_like(mean)
        total = total * (upper - lower).clamp_min(0.0)
    return total


def predictions(
    outcomes: Outcomes, fits: Mapping[str, FittedModel], X: Tensor
) -> dict[str, tuple[Tensor, Tensor]]:
    """Outcome -> (mean, sd) at encoded points, original scale; means clipped into bounds."""
    out = {}
    for name in outcomes.names:
        mean, sd = fits[name].mean_sd(X)
        out[name] = (clip(outcome_objective(outcomes, name), mean), sd)
    return out


def clip(objective: Objective, values: Tensor) -> Tensor:
    """``values`` moved into the objective's known bounds (unchanged without bounds)."""
    if objective.bounds is None:
        return values
    lo, hi = objective.bounds
    return values.clamp(min=lo, max=hi)


def propose_outcomes(
    space: Space,
    outcomes: Outcomes,
    trials: Sequence[Trial],
    n: int,
    *,
    seed: int,
    surrogate: str,
    settings: Mapping[str, Any],
    acquisition: Mapping[str, Any],
    taken: set[Hashable],
    region: Region | None = None,
) -> list[Any]:
    """Propose ``n`` points for a campaign with several outcomes (see the module doc).

    Returns:
        `propose.Proposal` records; their provenance holds ``predicted`` (outcome -> mean and
        sd), ``p_feasible`` with outcome constraints, and each surrogate's state.
    """
    from bo_loop.models.propose import Proposal, _replace_duplicates

    fits = fit_outcome_models(space, outcomes, trials, seed, surrogate, settings)
    this_seed = next(iter(fits.values())).seed
    completed = [t for t in trials if t.state is TrialState.COMPLETED]
    X_baseline = space.encode([t.params for t in completed])
    pending = [t.params for t in trials if t.state is TrialState.PENDING]
    X_pending = space.encode(pending) if pending else None
    ref = reference_point(outcomes, trials) if len(outcomes.objectives) >= 2 else None
    n_obs = max(len(f.X) for f in fits.values())

    def make(busy: Tensor | None) -> AcquisitionFunction:
        return build_outcome_acquisition(
            outcomes, fits, X_baseline, busy, this_seed, acquisition, ref
        )[0]

    with torch.random.fork_rng(), torch_threads(n_obs), quiet_jitter():
        torch.manual_seed(this_seed)
        acq, acq_name = build_outcome_acquisition(
            outcomes, fits, X_baseline, X_pending, this_seed, acquisition, ref
        )
        if region is None:
            candidates = optimize(acq, space, n, acquisition)
        else:
            candidates = region.optimize(
                acq, n, acquisition["num_restarts"], acquisition["raw_samples"]
            )
        first = fits[outcomes.names[0]]
        candidates = _replace_duplicates(
            candidates, space, first.model, first.X, first.model_Y, X_pending, taken,
            this_seed, acquisition, region, make_acquisition=make,
        )  # fmt: skip
        predicted = predictions(outcomes, fits, candidates)
        feasible = p_feasible(outcomes, fits, candidates) if outcomes.constraints else None
        with torch.no_grad():
            # One point: ``acq`` itself (it was built with the same pending points); a round's
            # sequential optimisation changes its pending points, so each is scored afresh.
            scorer = acq if n == 1 else make(X_pending)
            alone = scorer(candidates.unsqueeze(1)).reshape(-1)
    states = {name: f.state for name, f in fits.items()}
    meta: dict[str, Any] = {
        "generator": surrogate, "surrogate": surrogate, "acquisition": acq_name,
        "seed": this_seed, "n_observations": n_obs,
        **({"reference_point": ref} if ref is not None else {}),
        **({FITTED_STATES: states} if all(s is not None for s in states.values()) else {}),
    }  # fmt: skip
    out = []
    single = outcomes.objectives[0].name if len(outcomes.objectives) == 1 else None
    for i, params in enumerate(space.decode(candidates)):
        value = float(alone[i])
        each = {
            name: {"mean": float(mean[i]), "sd": float(sd[i])}
            for name, (mean, sd) in predicted.items()
        }
        provenance = {
            **meta,
            "acquisition_value": value if math.isfinite(value) else None,
            "acquisition_value_kind": f"log of {acq_name} of this point alone",
            "predicted": each,
            **({"p_feasible": float(feasible[i])} if feasible is not None else {}),
            # One objective: its prediction where single-objective code looks for it.
            **(
                {"predicted_mean": each[single]["mean"], "predicted_sd": each[single]["sd"]}
                if single is not None
                else {}
            ),
        }
        out.append(Proposal(params=params, provenance=provenance))
    return out
