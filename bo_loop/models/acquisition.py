"""Expected improvement and its maximisation over a mixed space.

The effort of the optimisation is a campaign setting (``acquisition`` in its config), checked at
create by `RULES`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
from botorch.acquisition import AcquisitionFunction, LogExpectedImprovement
from botorch.acquisition.cached_cholesky import supports_cache_root
from botorch.acquisition.logei import qLogExpectedImprovement, qLogNoisyExpectedImprovement
from botorch.exceptions.warnings import BadInitialCandidatesWarning, OptimizationWarning
from botorch.models.model import Model
from botorch.optim import optimize_acqf
from botorch.optim.initializers import gen_batch_initial_conditions
from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating
from botorch.sampling import SobolQMCNormalSampler
from torch import Tensor

from bo_loop.models import settings as _settings
from bo_loop.models.round_categories import CategoryPlan, round_total
from bo_loop.models.settings import Rules, integer, one_of, real
from bo_loop.space import Space

#: Acquisition optimisation effort. Chosen with experiments/compare.py; 20 restarts and 2,048 raw
#: samples did not change the Hartmann6 outcomes (experiments/results/compare/notes.md).
#: ``mc_samples`` are the quasi-Monte-Carlo samples of the batch acquisition (batches and pending
#: points). ``batch`` is how a batch, or an ask with trials pending, scores its points (one
#: objective without outcome constraints; see `build_acquisition`): "logei_qlognei" (the default)
#: was chosen with `experiments.compare --batch-size 4/8` on Branin and Hartmann6, 10 seeds
#: (experiments/results/batch/notes.md). Median final regret at q = 4: Branin 0.012 against
#: 0.038 with "qlognei" (Optuna's GPSampler 0.018), Hartmann6 4.8e-4 against 1.4e-3 (Optuna 3.4e-3);
#: at q = 8 Branin 0.023 both (Optuna 0.049), Hartmann6 6.3e-3 against 3.3e-3 (Optuna 0.015).
#: "qlogei" won Branin (0.008 at q = 4) but lost Hartmann6 at q = 8 (0.018).
#: ``constraint_eta`` is the width of the smooth feasibility weight of each outcome constraint,
#: as a fraction of the constrained outcome's observed standard deviation
#: (`outcome_acquisition.constraint_eta`). BoTorch's ``eta`` (1e-3 in qLogNEI) is meant for a
#: standardised outcome; scaled by the spread, the weight is the same whatever unit a lab reports
#: the outcome in. 1e-5 (since 2026-12-03; campaigns stored before keep 1e-3, `LEGACY`): on
#: Gramacy's constrained problem, 10 seeds, median feasible regret 5.9e-5 against 1.9e-4, better on
#: 8 seeds (experiments/results/multi_objective/section.md). The optimum lies on a constraint's
#: boundary, and a weight blurred over 1e-3 of the spread kept the proposals that far from it.
#: ``design_rounds`` is when an ask of several points is still initial design (`in_design`):
#: "within" (since 2026-12-03), while the completed trials plus the ask fit within the design
#: size; "fill" (campaigns stored before keep it), while fewer trials than the size are
#: completed, so the last design round overshoots it (Hartmann6's 12 points became two rounds of
#: 8). 10 seeds, rounds of 8 on Hartmann6, median final regret 3.5e-4 against 6.4e-3 (BayBE
#: 3.2e-3; experiments/results/batch/notes.md). A single ask is design under both while fewer
#: trials than the size are completed.
#: ``constrained_first`` is how a point asked while nothing is pending (a single ask, a round's
#: first point) is scored with one objective and outcome constraints
#: (`outcome_acquisition.constrained_single`): "logcei" (since 2026-12-03), analytic log
#: constrained EI, EI over the best feasible observation times the probability of feasibility
#: (Optuna GPSampler's rule), searched from the best feasible point (`optimize`'s
#: ``incumbent``); "qlognei" (campaigns stored before keep it), constrained qLogNEI as every
#: later point (and every point under parameter constraints). Gramacy, 20 seeds: median
#: feasible regret 3.0e-5 against 7.8e-5 (Optuna 2.1e-5; Ax 4.4e-4 over 10), at 0.26-0.37 CPU s
#: per ask against 1.28 (Ax 2.24; Optuna 0.32). Without the search from the incumbent "logcei"
#: lost (2.0e-4, 10 seeds): a peak at a constraint's bound as narrow as the constraint's
#: posterior sd (~1e-3) escaped the Sobol samples, and the exact probability rates far,
#: barely-feasible corners well above qLogNEI's 256 samples, which see no feasible draw there
#: (experiments/results/multi_objective/section.md).
#: ``round_categories`` is how the points of a round (an ask of several, or one asked while
#: trials are pending) are spread over a categorical parameter's choices, with one objective and
#: no outcome or parameter constraints or held values (`round_categories`): "matched" (since
#: 2026-12-03), each choice gets the share of the round that the model gives it of holding the
#: best point, the first point staying a single ask's; "greedy" (campaigns stored before keep
#: it), wherever sequential greedy qLogNEI puts them, which on "mixed" was the best
#: observation's solvent for about half of each round. Rounds on "mixed", 30 seeds, median final
#: regret at q = 4 0.048 against 0.123 (Optuna GPSampler 0.095); at q = 8 0.129 against 0.142
#: (Optuna 0.123), with 7 seeds left on a wrong solvent (above 0.25) against 13
#: (experiments/results/batch/notes.md, fifth pass); with the GP's categorical lengthscale prior
#: of 2026-12-04 (`gp.RULES`, ``category_lengthscale_rate``) 0.051 and 0.082 (seventh pass).
RULES: Rules = {
    "num_restarts": (10, integer(1, 1000)),
    "raw_samples": (512, integer(1, 1_000_000)),
    "mc_samples": (256, integer(1, 100_000)),
    "batch": ("logei_qlognei", one_of("logei_qlognei", "qlognei", "qlogei")),
    "constraint_eta": (1e-5, real(0.0, 1.0, low_open=True)),
    "design_rounds": ("within", one_of("within", "fill")),
    "constrained_first": ("logcei", one_of("logcei", "qlognei")),
    "round_categories": ("matched", one_of("matched", "greedy")),
}
DEFAULT_SETTINGS: dict[str, Any] = _settings.defaults(RULES)

#: Settings added after campaigns began storing theirs in full, with the value those campaigns
#: ran with: a stored campaign without the key proposes as it did.
LEGACY: dict[str, Any] = {
    "batch": "qlognei",
    "constraint_eta": 1e-3,
    "design_rounds": "fill",
    "constrained_first": "qlognei",
    "round_categories": "greedy",
}

#: The defaults of campaigns with two or more objectives, where optimising qLogNEHVI is most of
#: an ask: 64 MC samples, a quarter of the raw samples and half the restarts of `RULES`. Measured
#: over 10 seeds each (experiments/RESULTS.md "Multiple outcomes"), median log10 hypervolume
#: difference: Branin-Currin 0.518 with 128 raw samples against 0.52 with 256 (and 0.599 with
#: 128 MC samples, 0.614 with `RULES`' defaults, before the baseline pruning changed); DTLZ2 with
#: six inputs -0.613 against -0.619, so the raw samples are not what the higher dimension needs.
#: CPU s per ask 0.43 against 0.49 (Branin-Currin, same load). Three restarts lost (0.678 against
#: 0.603). One objective, with or without outcome constraints, keeps `RULES`' defaults: 64/256/5
#: doubled Gramacy's feasible regret (median 4.7e-4 against 1.9e-4, 10 seeds).
MULTI_OBJECTIVE_DEFAULTS: dict[str, Any] = {
    "mc_samples": 64,
    "raw_samples": 128,
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


def stored_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The full settings of a stored campaign: like `resolve_settings`, except that a setting
    added after the campaign stored its settings takes the value the campaign ran with
    (`LEGACY`), not today's default.

    Raises:
        SettingsError: as `resolve_settings`.
    """
    if settings is None or isinstance(settings, Mapping):
        settings = {**LEGACY, **(settings or {})}
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
    """LogEI for one point with nothing pending; for batches and pending points, by ``batch``:

    - ``"logei_qlognei"``: a batch's first point by LogEI, exactly as a single ask (so
      ``ask(q)[0]`` is ``ask(1)``'s point), each later one, and any point asked while trials are
      pending, by qLogNEI with those points pending (`FirstBySingle`). qLogNEI's incumbent is
      the best of posterior samples at the observed points; on noise-free Branin the GP's
      posterior sd there (2.5 at the best of 24 points, seed 4) lifts it 1.3 above the best
      observation on average, ten times the regret left (0.1), so its first point of a round
      explored (0.89 from the incumbent in the unit square) where LogEI refines (0.03), and no
      point of the round refined.
    - ``"qlogei"``: the same first point, then qLogEI over the best observation jointly with the
      pending points (Optuna GPSampler's rule). On Hartmann6 its later points leave the
      incumbent (0.2-0.8 away in late rounds, against 0.01-0.05 under qLogNEI).
    - ``"qlognei"``: qLogNEI for every point, the pending points joining its baseline (BoTorch's
      incremental qLogNEI); campaigns stored before ``batch`` existed keep it (`LEGACY`).

    LogEI's incumbent is the best observation. The best posterior mean at an observed point (the
    usual remedy under noise) was measured and lost on the noisy "mixed" problem: final regret
    0.021 and 0.141 against 0.0055 and 0.0057 on seeds 0 and 1 (variants bo_loop_gp_v1 and
    bo_loop_gp_v0 in experiments/results/compare/archive/), so the default stays.
    """
    if q == 1 and X_pending is None:
        return _logei(model, Y), "logei"
    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([settings["mc_samples"]]), seed=seed)
    if settings["batch"] == "qlogei":
        joint: AcquisitionFunction = qLogExpectedImprovement(model, best_f=Y.max(), sampler=sampler)
        return FirstBySingle(model, _logei(model, Y), joint, X_pending), "qlogei"
    if settings["batch"] == "logei_qlognei":
        # Pruning the baseline draws from torch's generator: forked, so that the first point's
        # optimisation draws what a single ask's does.
        with torch.random.fork_rng():
            joint = qLogNoisyExpectedImprovement(
                model, X_baseline=X, sampler=sampler, prune_baseline=True,
                cache_root=supports_cache_root(model),
            )  # fmt: skip
        return FirstBySingle(model, _logei(model, Y), joint, X_pending), "logei_qlognei"
    acq = qLogNoisyExpectedImprovement(
        model, X_baseline=X, sampler=sampler, X_pending=X_pending, prune_baseline=True,
        # Caching the baseline's Cholesky works for GPs only (DNGO is not a GPyTorch model).
        cache_root=supports_cache_root(model),
    )  # fmt: skip
    return acq, "qlognei"


def _logei(model: Model, Y: Tensor) -> AcquisitionFunction:
    """LogEI over the best observation ``Y.max()`` (model units)."""
    return LogExpectedImprovement(model, best_f=Y.max())


class FirstBySingle(AcquisitionFunction):
    """An analytic acquisition ``single`` (LogEI, or constrained LogEI) for one point while
    nothing is pending; ``joint`` (qLogNEI or qLogEI) once points are pending
    (``set_X_pending``, which BoTorch's sequential optimisation calls between the points of a
    batch) or for several points at once. A round's first point is then a single ask's.

    Args:
        model: The fitted model.
        single: A ``q = 1`` acquisition on the same model.
        joint: A q-batch MC acquisition that takes pending points.
        X_pending: An ``m x d`` tensor of points under evaluation, or None.
    """

    def __init__(
        self,
        model: Model,
        single: AcquisitionFunction,
        joint: AcquisitionFunction,
        X_pending: Tensor | None,
    ) -> None:
        super().__init__(model)
        self.single = single
        self.joint = joint
        self.set_X_pending(X_pending)

    def set_X_pending(self, X_pending: Tensor | None = None) -> None:
        super().set_X_pending(X_pending)
        self.joint.set_X_pending(X_pending)

    def forward(self, X: Tensor) -> Tensor:
        """Log EI of each ``q x d`` set of the ``b x q x d`` ``X``, jointly with the pending
        points: a ``b`` tensor (``single`` for one point with nothing pending)."""
        if self.X_pending is None and X.shape[-2] == 1:
            return self.single(X)
        return self.joint(X)


def optimize(
    acq: AcquisitionFunction,
    space: Space,
    q: int,
    settings: Mapping[str, Any] = DEFAULT_SETTINGS,
    *,
    incumbent: Tensor | None = None,
    categories: CategoryPlan | None = None,
) -> Tensor:
    """Maximise ``acq`` over the space; integer and categorical columns stay on their grids.

    ``categories`` (a space with categorical parameters): every point but a first one asked
    while nothing is pending takes the choice its `CategoryPlan` gives it, and the acquisition
    places it within that choice (`round_categories`).

    ``incumbent`` (an encoded point, the best measurement): on a space of real parameters only,
    the raw samples that choose the restarts also hold as many perturbations of the best
    measured points (BoTorch's ``sample_around_best``: the best 5 % by posterior mean, feasible
    ones first when ``acq`` has outcome constraints), and the first point's last restart starts
    at ``incumbent`` itself (as Optuna's GPSampler does), so that a peak next to the incumbent
    as narrow as the model's sd there is searched even when no Sobol sample falls on it.
    """
    bounds = space.bounds()
    restarts, raw = settings["num_restarts"], settings["raw_samples"]
    # Integers wider than Space's MAX_GRID are not in discrete_dims: searched as continuous and
    # rounded below, so their grid is never listed value by value.
    discrete_dims, cat_dims = space.discrete_dims, space.cat_dims
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizationWarning)
        warnings.simplefilter("ignore", BadInitialCandidatesWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        options = {"batch_limit": restarts, "init_batch_limit": raw, "maxiter": 200}
        if cat_dims and categories is not None:
            X = _by_category_plan(
                acq, bounds, discrete_dims, cat_dims, q, restarts, raw, categories
            )
        elif not discrete_dims and not cat_dims and incumbent is not None:
            X = _from_incumbent(acq, bounds, q, restarts, raw, options, incumbent)
        elif not discrete_dims and not cat_dims:
            X, _ = optimize_acqf(
                acq, bounds=bounds, q=q, num_restarts=restarts, raw_samples=raw,
                sequential=q > 1, options=options,
                # A failed L-BFGS run on an ill-conditioned posterior is not worth a second round.
                retry_on_optimization_warning=False,
            )  # fmt: skip
        else:
            X, _ = optimize_acqf_mixed_alternating(
                acq, bounds=bounds, discrete_dims=discrete_dims or None,
                cat_dims=cat_dims or None, q=q, num_restarts=restarts, raw_samples=raw,
            )  # fmt: skip
    return space.round_to_grid(X.detach().reshape(q, space.dim))


def one_at_a_time(acq: AcquisitionFunction, q: int, pick: Callable[[int], Tensor]) -> Tensor:
    """``q`` points chosen one at a time, each pending for the next, as BoTorch's sequential mode
    does: ``pick(i)`` returns the ``i``-th point (``1 x d``) while the points picked before it
    are added to ``acq``'s pending points; the pending points it had are restored at the end.
    Returns the ``q x d`` points."""
    base = getattr(acq, "X_pending", None)
    picked: list[Tensor] = []
    for i in range(q):
        if picked:
            done = torch.cat(picked)
            acq.set_X_pending(done if base is None else torch.cat([base, done]))
        picked.append(pick(i))
    if q > 1:
        acq.set_X_pending(base)
    return torch.cat(picked)


def _by_category_plan(
    acq: AcquisitionFunction,
    bounds: Tensor,
    discrete_dims: dict[int, list[float]],
    cat_dims: dict[int, list[float]],
    q: int,
    restarts: int,
    raw: int,
    plan: CategoryPlan,
) -> Tensor:
    """`optimize` on a space with categorical columns under a `CategoryPlan`: sequential greedy
    (`one_at_a_time`); each point's categorical columns are fixed to the plan's choice, except a
    first point asked while nothing is pending, which is a single ask's point."""
    base = acq.X_pending
    total = round_total(base, q)

    def pick(i: int) -> Tensor:
        fixed = {} if i == 0 and base is None else plan.fixed_features(acq.X_pending, total)
        if len(fixed) == bounds.shape[-1]:  # only categorical columns: the plan is the point
            return torch.tensor([[fixed[d] for d in range(len(fixed))]]).to(bounds)
        X, _ = optimize_acqf_mixed_alternating(
            acq, bounds=bounds, discrete_dims=discrete_dims or None, cat_dims=cat_dims, q=1,
            num_restarts=restarts, raw_samples=raw, fixed_features=fixed or None,
        )  # fmt: skip
        return X.reshape(1, -1)

    return one_at_a_time(acq, q, pick)


def _from_incumbent(
    acq: AcquisitionFunction,
    bounds: Tensor,
    q: int,
    restarts: int,
    raw: int,
    options: dict[str, Any],
    incumbent: Tensor,
) -> Tensor:
    """`optimize` with an ``incumbent``: sequential greedy optimisation (`one_at_a_time`), each
    point from raw samples that include perturbations of the best points; the first point's last
    restart starts at ``incumbent``."""

    def pick(i: int) -> Tensor:
        starts = gen_batch_initial_conditions(
            acq, bounds, q=1, num_restarts=restarts, raw_samples=raw,
            options={**options, "sample_around_best": True},
        )  # fmt: skip
        if i == 0:
            starts[-1] = incumbent.reshape(1, -1).to(starts)
        X, _ = optimize_acqf(
            acq, bounds=bounds, q=1, num_restarts=restarts, batch_initial_conditions=starts,
            options=options, retry_on_optimization_warning=False,
        )  # fmt: skip
        return X.reshape(1, -1)

    return one_at_a_time(acq, q, pick)
