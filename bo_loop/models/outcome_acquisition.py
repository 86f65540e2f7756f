"""The acquisition of a campaign with several outcomes, over its per-outcome surrogates.

qLogNEHVI (log noisy expected hypervolume improvement) for two or more objectives, and qLogNEI on
the single objective for one objective with outcome constraints, both with each outcome
constraint as a smooth feasibility weight on the modelled outcome (BoTorch's ``constraints=``
callables). Pending trials, including those told in part, are ``X_pending``.

Reference point of the hypervolume (per objective, larger-is-better sign): the objective's worst
known bound when it has one (``lo`` when maximised, ``hi`` when minimised), else BoTorch's
``infer_reference_point`` on the observed feasible Pareto front (all completed trials when none is
feasible): the front's nadir minus 10 % of its range.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.analytic import (
    LogConstrainedExpectedImprovement,
    LogProbabilityOfFeasibility,
)
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective import logei as botorch_hvi
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.acquisition.multi_objective.objective import (
    GenericMCMultiOutputObjective,
    IdentityMCMultiOutputObjective,
    MCMultiOutputObjective,
)
from botorch.acquisition.objective import GenericMCObjective
from botorch.models.model import Model, ModelList
from botorch.sampling import SobolQMCNormalSampler
from botorch.sampling.list_sampler import ListSampler
from botorch.utils.multi_objective.hypervolume import infer_reference_point
from botorch.utils.objective import compute_feasibility_indicator
from torch import Tensor

from bo_loop.models.acquisition import FirstBySingle
from bo_loop.models.fitting import FittedModel, outcome_scale
from bo_loop.outcomes import Outcomes, non_dominated
from bo_loop.space import Space
from bo_loop.trial import Trial, TrialState

# BoTorch 0.18 JIT-compiles a fused C++ kernel for qLogNEHVI the first time a process builds one
# (ninja + the system's C++ compiler, -march=native, into ~/.cache/torch_extensions): 30-40 s of
# silence on this project's 2-core machine, a binary that breaks on another CPU sharing the home
# directory, proposals that differ with whether a compiler is installed, and, worst, a process
# interrupted while compiling leaves a lock file that makes every later multi-objective ask wait
# forever (torch's FileBaton has no timeout; tests/models/test_hypervolume_kernel.py). bo_loop
# keeps BoTorch's pure-PyTorch path, process-wide: Branin-Currin 0.42 CPU s per ask against
# 0.35 with the kernel (experiments/RESULTS.md, "Multiple outcomes", seventh round).
if hasattr(botorch_hvi, "_load_attempted"):
    botorch_hvi._load_attempted = True

#: Lower bound on the spread that ``eta`` scales with, for an outcome observed constant (sd 0).
_MIN_SPREAD = 1e-9


#: qLogNEHVI works in the objectives' own units (the models' units: `fitting.outcome_scale`
#: already lifts outcomes spread over less than 2**-10): its hypervolumes are products of
#: objective spans. Two objectives in the 1e10s turned every acquisition value into NaN (the ask
#: crashed). An objective whose observed spread or size exceeds HVI_HIGH is measured from the
#: reference point in a power of two near its spread (`hvi_units`); the others keep their own
#: units, so campaigns in ordinary units propose exactly as before.
HVI_HIGH = 2.0**20


def hvi_units(values: Tensor, ref: float) -> tuple[float, float]:
    """``(offset, unit)`` of one objective in qLogNEHVI: it sees ``(y - offset) / unit``.

    Args:
        values: The objective's observed values (model units, signed).
        ref: Its reference point, in the same units.

    Returns:
        ``(0, 1)`` (its own units) unless a value, ``ref`` or the spread of ``values`` is
        larger than `HVI_HIGH` in size; then ``(ref, 2**round(log2(spread)))`` (the size instead
        of a spread of 0).
    """
    spread = float(values.max() - values.min()) if values.numel() else 0.0
    size = max(float(values.abs().max()) if values.numel() else 0.0, abs(ref))
    if size <= HVI_HIGH:  # the spread is at most twice the size
        return 0.0, 1.0
    span = spread if spread > 0.0 else size
    return ref, 2.0 ** round(math.log2(span)) if span > 0.0 else 1.0


def hvi_objective(
    fits: Mapping[str, FittedModel], outcomes: Outcomes, ref: Tensor
) -> tuple[MCMultiOutputObjective, Tensor]:
    """The objectives as qLogNEHVI sees them (`hvi_units`), and the reference point in those
    units; the identity and ``ref`` itself when every objective keeps its own units."""
    k = len(outcomes.objectives)
    units = [
        hvi_units(fits[o.name].model_Y.reshape(-1), float(ref[i]))
        for i, o in enumerate(outcomes.objectives)
    ]
    if all(u == (0.0, 1.0) for u in units):
        return IdentityMCMultiOutputObjective(outcomes=list(range(k))), ref
    offset = torch.tensor([u[0] for u in units], dtype=torch.float64)
    unit = torch.tensor([u[1] for u in units], dtype=torch.float64)

    def rescaled(samples: Tensor, X: Tensor | None = None) -> Tensor:
        return (samples[..., :k] - offset.to(samples)) / unit.to(samples)

    return GenericMCMultiOutputObjective(rescaled), (ref - offset) / unit


#: Joint posterior samples that decide which measured points may lie on the Pareto front
#: (BoTorch's ``prune_inferior_points_multi_objective`` default).
PRUNE_SAMPLES = 2048

#: Pairs compared per chunk of samples in `non_dominated_samples` (bounds its memory: a few
#: boolean arrays of this many elements).
_PAIRS_PER_CHUNK = 4_000_000


def non_dominated_samples(values: Tensor) -> Tensor:
    """Which points are non-dominated in each sample of ``values`` (``s x n x m``, larger is
    better): an ``s x n`` boolean tensor. Equal points do not dominate each other.

    The same answer as BoTorch's ``is_non_dominated(values, deduplicate=False)``, compared one
    objective at a time: BoTorch compares the ``m``-vectors of all pairs at once up to 5 MB and
    loops over points in Python beyond, which at 27 points and 2,048 samples took 0.057 CPU s
    (this: 0.009) of a 0.42 s ask.
    """
    n = values.shape[-2]
    chunk = max(1, _PAIRS_PER_CHUNK // max(1, n * n))
    parts = []
    for part in values.split(chunk):
        all_at_least = torch.ones(part.shape[0], n, n, dtype=torch.bool)
        any_better = torch.zeros(part.shape[0], n, n, dtype=torch.bool)
        for k in range(part.shape[-1]):
            mine, theirs = part[..., k].unsqueeze(-1), part[..., k].unsqueeze(-2)  # [i, j]
            all_at_least &= theirs >= mine
            any_better |= theirs > mine
        parts.append(~(all_at_least & any_better).any(dim=-1))
    return torch.cat(parts)


def _sampler(n_outcomes: int, samples: int, seed: int) -> ListSampler:
    """Quasi-Monte-Carlo samples of each outcome's model, seeded per outcome."""
    shape = torch.Size([samples])
    return ListSampler(
        *[SobolQMCNormalSampler(sample_shape=shape, seed=seed + i) for i in range(n_outcomes)]
    )


def prune_baseline(
    model: Model,
    X: Tensor,
    ref_point: Tensor,
    objective: MCMultiOutputObjective,
    constraints: list[Callable[[Tensor], Tensor]] | None,
    n_outcomes: int,
    seed: int,
) -> Tensor:
    """The measured points (rows of ``X``) that have a chance of being feasible, Pareto-optimal
    and better than ``ref_point`` under `PRUNE_SAMPLES` joint posterior samples.

    The rule of BoTorch's ``prune_inferior_points_multi_objective`` (qLogNEHVI's
    ``prune_baseline``), with seeded samples and a faster dominance test
    (`non_dominated_samples`).
    """
    with torch.no_grad():
        samples = _sampler(n_outcomes, PRUNE_SAMPLES, seed)(model.posterior(X))
        values = objective(samples, X=X)
        if constraints:
            infeasible = ~compute_feasibility_indicator(constraints=constraints, samples=samples)
            values[infeasible] = ref_point  # as BoTorch: an infeasible sample improves nothing
        on_front = non_dominated_samples(values) & (values > ref_point).all(dim=-1)
    return X[on_front.any(dim=0)]


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
    inferred = [0.0] * len(outcomes.objectives)
    if len(front):
        # BoTorch widens a range below 1e-7 to 1e-7: objectives spread that little (in the 1e-8s)
        # are inferred in a power of two of their spread (as the models see them), then put back.
        units = torch.tensor([outcome_scale(front[:, i : i + 1]) for i in range(front.shape[1])])
        inferred = (infer_reference_point(front / units) * units).tolist()
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


def constraint_eta(outcomes: Outcomes, fits: Mapping[str, FittedModel], fraction: float) -> Tensor:
    """One smoothing width per outcome constraint, in constraint order: ``fraction`` (the
    acquisition setting ``constraint_eta``) of the constrained outcome's observed standard
    deviation in model units, the units of the slack."""
    etas = []
    for c in outcomes.constraints:
        Y = fits[c.name].model_Y
        spread = float(Y.std()) if len(Y) > 1 else 0.0
        if not math.isfinite(spread) or spread <= 0.0:  # constant: the values' own size
            spread = float(Y.abs().max()) if len(Y) else 0.0
        etas.append(fraction * max(spread, _MIN_SPREAD))
    return torch.tensor(etas, dtype=torch.float64)


def _best_feasible_trial(outcomes: Outcomes, trials: Sequence[Trial]) -> Trial | None:
    """The completed trial with the single objective's best value among those that meet every
    outcome constraint (the first of equals); None when no completed trial does."""
    objective = outcomes.objectives[0]
    feasible = [
        t
        for t in trials
        if t.state is TrialState.COMPLETED
        and objective.name in t.values
        and outcomes.is_feasible(t.values)
    ]
    if not feasible:
        return None
    return max(feasible, key=lambda t: objective.sign * float(t.values[objective.name]))


def best_feasible(outcomes: Outcomes, trials: Sequence[Trial]) -> float | None:
    """The single objective's best value (original units) over the completed trials that meet
    every outcome constraint; None when no completed trial does."""
    trial = _best_feasible_trial(outcomes, trials)
    return None if trial is None else float(trial.values[outcomes.objectives[0].name])


def best_feasible_point(outcomes: Outcomes, trials: Sequence[Trial], space: Space) -> Tensor | None:
    """The encoded parameters of that trial (`best_feasible`), or None."""
    trial = _best_feasible_trial(outcomes, trials)
    return None if trial is None else space.encode([trial.params])[0]


def feasible_intervals(
    outcomes: Outcomes, fits: Mapping[str, FittedModel]
) -> dict[int, tuple[float | None, float | None]]:
    """Each constrained outcome's feasible interval in its model's units (signed so larger is
    better, divided by the fit's scale), by output index of the ModelList; a ``>=`` and a ``<=``
    on one outcome make one interval."""
    names = list(outcomes.names)
    out: dict[int, tuple[float | None, float | None]] = {}
    for c in outcomes.constraints:
        i = names.index(c.name)
        sign, t = fits[c.name].objective.sign, c.value / fits[c.name].scale
        # The model predicts z = sign * value / scale: value >= t is z >= t when sign is +1 and
        # z <= -t when it is -1 (and the reverse for <=).
        bound = sign * t
        lo, hi = out.get(i, (None, None))
        if (c.op == ">=") == (sign > 0):
            lo = bound if lo is None else max(lo, bound)
        else:
            hi = bound if hi is None else min(hi, bound)
        out[i] = (lo, hi)
    return out


def constrained_single(
    outcomes: Outcomes, fits: Mapping[str, FittedModel], best: float | None
) -> tuple[AcquisitionFunction, str] | None:
    """Analytic log constrained EI (Gardner et al. 2014; BoTorch's
    ``LogConstrainedExpectedImprovement``) over the best feasible observation ``best``
    (original units): log EI of the objective plus the log probability that each constrained
    outcome lies in its interval, exact under the independent Gaussian posteriors; the log
    probability of feasibility alone while no completed trial is feasible.

    Returns None when a constraint is on the objective itself: the analytic form multiplies
    independent probabilities, and an outcome is not independent of itself (qLogNEI's joint
    samples handle it).
    """
    objective = outcomes.objectives[0].name
    if any(c.name == objective for c in outcomes.constraints):
        return None
    model = ModelList(*[fits[n].model for n in outcomes.names])
    intervals = feasible_intervals(outcomes, fits)
    if best is None:
        return LogProbabilityOfFeasibility(model, constraints=intervals), "log_p_feasible"
    fit = fits[objective]
    best_f = fit.objective.sign * best / fit.scale
    acq = LogConstrainedExpectedImprovement(
        model, best_f=best_f, objective_index=0, constraints=intervals
    )
    return acq, "logcei"


def build_outcome_acquisition(
    outcomes: Outcomes,
    fits: Mapping[str, FittedModel],
    X_baseline: Tensor,
    X_pending: Tensor | None,
    seed: int,
    settings: Mapping[str, Any],
    ref_point: Sequence[float] | None,
    best: float | None = None,
) -> tuple[AcquisitionFunction, str]:
    """qLogNEHVI over the objectives (two or more), or qLogNEI on the one objective, each with
    the outcome constraints as feasibility weights. With one objective, outcome constraints and
    the acquisition setting ``constrained_first="logcei"``, a point asked while nothing is
    pending (a single ask, a round's first point) is scored by `constrained_single` instead
    (unless a constraint is on the objective itself).

    Args:
        fits: One fitted surrogate per outcome (`fit_outcome_models`).
        X_baseline: ``r x d`` encoded points measured in full.
        X_pending: ``p x d`` encoded points under evaluation (pending, told in part), or None.
        seed: Seeds the quasi-Monte-Carlo samplers.
        settings: The acquisition settings (``mc_samples``, ``constraint_eta``,
            ``constrained_first``).
        ref_point: Signed reference point (original units), for two or more objectives.
        best: The best feasible observation of the one objective (`best_feasible`).
    """
    names = list(outcomes.names)
    model = ModelList(*[fits[n].model for n in names])
    sampler = _sampler(len(names), settings["mc_samples"], seed)
    constraints = _constraint_callables(outcomes, fits) or None
    # BoTorch's default eta is unused without constraints.
    eta = constraint_eta(outcomes, fits, settings["constraint_eta"]) if constraints else 1e-3
    k = len(outcomes.objectives)
    if k >= 2:
        assert ref_point is not None
        ref = torch.tensor(
            [r / fits[o.name].scale for r, o in zip(ref_point, outcomes.objectives, strict=True)],
            dtype=torch.float64,
        )
        objective, ref = hvi_objective(fits, outcomes, ref)
        X_front = prune_baseline(model, X_baseline, ref, objective, constraints, len(names), seed)
        acq: AcquisitionFunction = qLogNoisyExpectedHypervolumeImprovement(
            model, ref_point=ref, X_baseline=X_front, sampler=sampler, objective=objective,
            constraints=constraints, eta=eta, X_pending=X_pending, prune_baseline=False,
            cache_root=False,
        )  # fmt: skip
        return acq, "qlognehvi"
    acq = qLogNoisyExpectedImprovement(
        model, X_baseline=X_baseline, sampler=sampler,
        objective=GenericMCObjective(_first_output), constraints=constraints, eta=eta,
        X_pending=X_pending, prune_baseline=True, cache_root=False,
    )  # fmt: skip
    single = (
        constrained_single(outcomes, fits, best)
        if constraints and settings["constrained_first"] == "logcei"
        else None
    )
    if single is not None:
        return FirstByConstrainedEI(model, single[0], acq, X_pending), f"{single[1]}_qlognei"
    return acq, "qlognei_constrained"


class FirstByConstrainedEI(FirstBySingle):
    """`FirstBySingle` with constrained qLogNEI as ``joint``, exposing qLogNEI's baseline,
    objective and constraints: what BoTorch's ``sample_around_best`` reads to find the best
    feasible measured points (`acquisition.optimize` with an ``incumbent``)."""

    @property
    def X_baseline(self) -> Tensor:
        baseline = self.joint.X_baseline
        assert isinstance(baseline, Tensor)
        return baseline

    @property
    def objective(self) -> Any:
        return self.joint.objective

    @property
    def constraints(self) -> Any:
        return self.joint.constraints


def _first_output(Z: Tensor, X: Tensor | None = None) -> Tensor:
    """The single objective's samples (output 0 of the ModelList)."""
    return Z[..., 0]
