"""Each method of the multiple-outcome benchmark, driven through its own ask/tell API.

Every ``run_<method>(problem, seed)`` returns one record per evaluation, in order:
``{"params", "outcomes", "ask_s", "ask_cpu_s", "tell_s", "tell_cpu_s"}``: the wall and process
CPU seconds (every thread) of that iteration's ask and of its tell; the problem is not timed.

No tool is given the benchmark's hypervolume reference point: Optuna's GPSampler takes none, so
each tool infers its own (Ax its objective thresholds, BayBE and bo_loop theirs from the data).
Outcome constraints go to each tool in its own form: Ax ``"c1 <= 0"``, Optuna
``trial.set_constraint`` (its replacement, since 5.0, of ``GPSampler(constraints_func=...)``,
which reads the same values), bo_loop ``OutcomeConstraint``. BayBE 0.15 has no outcome
constraints (its objectives are single, desirability and Pareto), so on a constrained problem it
is told the objective plus ``PENALTY`` times the summed violation, as its users would do.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import numpy as np

from experiments.outcome_problems import OutcomeProblem, Outcomes
from experiments.peers import quiet
from experiments.problems import Params

Record = dict[str, Any]
Ask = Callable[[], tuple[Any, Params]]
Tell = Callable[[Any, Outcomes], None]

PENALTY = 10.0
"""BayBE's penalty per unit of constraint violation (the objective spans [0, 2] on gramacy)."""


def _clean(problem: OutcomeProblem, raw: Params) -> dict[str, float]:
    """The point as floats in the problem's order; refuses a point outside the box."""
    out = {}
    for p in problem.params:
        value = float(raw[p["name"]])
        tol = 1e-9 * (p["high"] - p["low"])
        if not p["low"] - tol <= value <= p["high"] + tol:
            raise ValueError(f"{p['name']} must lie in [{p['low']}, {p['high']}], got {value!r}")
        out[p["name"]] = min(max(value, p["low"]), p["high"])
    return out


def run_loop(
    problem: OutcomeProblem,
    ask: Ask,
    tell: Tell,
    context: AbstractContextManager[Any] | None = None,
) -> list[Record]:
    """``problem.budget`` sequential iterations of ask, evaluate, tell every outcome at once."""
    records: list[Record] = []
    with context or nullcontext():
        for _ in range(problem.budget):
            wall, cpu = time.perf_counter(), time.process_time()
            handle, raw = ask()
            ask_s, ask_cpu_s = time.perf_counter() - wall, time.process_time() - cpu
            params = _clean(problem, raw)
            outcomes = problem.evaluate(params)
            wall, cpu = time.perf_counter(), time.process_time()
            tell(handle, outcomes)
            records.append({
                "params": params, "outcomes": outcomes, "ask_s": ask_s, "ask_cpu_s": ask_cpu_s,
                "tell_s": time.perf_counter() - wall, "tell_cpu_s": time.process_time() - cpu,
            })  # fmt: skip
    return records


def run_random(problem: OutcomeProblem, seed: int) -> list[Record]:
    """Independent uniform draws over the box."""
    rng = np.random.default_rng([seed, 0])

    def ask() -> tuple[None, Params]:
        return None, {p["name"]: float(rng.uniform(p["low"], p["high"])) for p in problem.params}

    return run_loop(problem, ask, lambda _handle, _outcomes: None)


def run_ax(problem: OutcomeProblem, seed: int) -> list[Record]:
    """Ax `Client(random_seed=seed)`, the generation strategy it picks itself."""
    with quiet():
        from ax import Client, RangeParameterConfig

        client = Client(random_seed=seed)
        client.configure_experiment(
            parameters=[
                RangeParameterConfig(
                    name=p["name"], bounds=(p["low"], p["high"]), parameter_type="float"
                )
                for p in problem.params
            ],
            name=problem.name,
        )
        objective = ", ".join(n if g == "maximize" else f"-{n}" for n, g in problem.objectives)
        client.configure_optimization(
            objective=objective,
            outcome_constraints=[f"{n} <= {bound}" for n, bound in problem.constraints] or None,
        )

    def ask() -> tuple[int, Params]:
        ((index, params),) = client.get_next_trials(max_trials=1).items()
        return index, params

    def tell(index: int, outcomes: Outcomes) -> None:
        client.complete_trial(trial_index=index, raw_data=dict(outcomes))

    return run_loop(problem, ask, tell, quiet())


def run_optuna_gp(problem: OutcomeProblem, seed: int) -> list[Record]:
    """Optuna `GPSampler(seed=seed)` (10 random startup trials): logEHVI / constrained logEI."""
    with quiet():
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        distributions: dict[str, optuna.distributions.BaseDistribution] = {
            p["name"]: optuna.distributions.FloatDistribution(p["low"], p["high"])
            for p in problem.params
        }
        study = optuna.create_study(
            directions=[g for _, g in problem.objectives],
            sampler=optuna.samplers.GPSampler(seed=seed),
        )

    def ask() -> tuple[Any, Params]:
        trial = study.ask(distributions)
        return trial, trial.params

    def tell(trial: Any, outcomes: Outcomes) -> None:
        for name, bound in problem.constraints:
            trial.set_constraint(name, outcomes[name] - bound)
        study.tell(trial, [outcomes[n] for n, _ in problem.objectives])

    return run_loop(problem, ask, tell, quiet())


def run_baybe(problem: OutcomeProblem, seed: int) -> list[Record]:
    """BayBE default `Campaign`: qLogNEHVI for a `ParetoObjective`, qLogEI for one target.

    On a constrained problem the one target is the penalised objective (see the module
    docstring). Seeded with BayBE's `Settings`, which also turns off its on-disk cache.
    """
    with quiet():
        from baybe import Campaign, Settings
        from baybe.objectives import ParetoObjective
        from baybe.parameters import NumericalContinuousParameter
        from baybe.searchspace import SearchSpace
        from baybe.targets import NumericalTarget

        parameters = [
            NumericalContinuousParameter(p["name"], bounds=(p["low"], p["high"]))
            for p in problem.params
        ]
        targets = [NumericalTarget(n, minimize=g == "minimize") for n, g in problem.objectives]
        objective = ParetoObjective(targets) if len(targets) > 1 else targets[0].to_objective()
        campaign = Campaign(searchspace=SearchSpace.from_product(parameters), objective=objective)

    def ask() -> tuple[Any, Params]:
        rec = campaign.recommend(batch_size=1)
        return rec, rec.iloc[0].to_dict()

    def tell(rec: Any, outcomes: Outcomes) -> None:
        told = {n: outcomes[n] for n, _ in problem.objectives}
        if problem.constraints:
            ((name, goal),) = problem.objectives
            violation = sum(max(0.0, outcomes[c] - bound) for c, bound in problem.constraints)
            told[name] += PENALTY * violation if goal == "minimize" else -PENALTY * violation
        campaign.add_measurements(rec.assign(**told))

    @contextmanager
    def seeded() -> Iterator[None]:
        with quiet(), Settings(random_seed=seed, cache_directory=None):
            yield

    return run_loop(problem, ask, tell, seeded())


def run_bo_loop(
    problem: OutcomeProblem,
    seed: int,
    acquisition_settings: dict[str, Any] | None = None,
    surrogate_settings: dict[str, Any] | None = None,
    centre_first: bool = False,
    design_size: int | None = None,
    random_design: int = 0,
) -> list[Record]:
    """bo_loop's defaults: `objectives=` and `outcome_constraints=`, in-memory SQLite.
    ``centre_first``: the first point is the box's centre (added with ``add_observation``, so
    bo_loop's design follows it), as Ax 1.x's generation strategy starts. ``design_size``: the
    campaign's ``initial_design_size`` (default: bo_loop's rule). ``random_design``: that many
    first points drawn uniformly at random (seeded) instead of bo_loop's Sobol design, added
    with ``add_observation``; a diagnostic of the design."""
    import bo_loop as bl

    objectives = [bl.Objective(n, g) for n, g in problem.objectives]
    several = len(objectives) > 1
    campaign = bl.Campaign.create(
        # In-memory SQLite is one database per process: variants run in one process need
        # their own names.
        f"{problem.name}-{seed}-{uuid.uuid4().hex[:8]}",
        [bl.Real(p["name"], p["low"], p["high"]) for p in problem.params],
        objective=None if several else objectives[0],
        objectives=objectives if several else None,
        outcome_constraints=[bl.OutcomeConstraint(n, "<=", b) for n, b in problem.constraints],
        storage="sqlite://",
        seed=seed,
        acquisition_settings=acquisition_settings,
        surrogate_settings=surrogate_settings,
        initial_design_size=design_size,
    )

    centre = {p["name"]: (p["low"] + p["high"]) / 2.0 for p in problem.params}
    rng = random.Random(seed)
    added: list[Params] = []

    def ask() -> tuple[int | None, Params]:
        if centre_first and not campaign.trials():
            added.append(centre)  # measured first, then added as the operator's own point
            return None, centre
        if len(campaign.trials()) < random_design:
            added.append({p["name"]: rng.uniform(p["low"], p["high"]) for p in problem.params})
            return None, added[-1]
        (trial,) = campaign.ask(1)
        return trial.number, trial.params

    def tell(number: int | None, outcomes: Outcomes) -> None:
        if number is None:
            campaign.add_observation(added[-1], dict(outcomes))
        else:
            campaign.tell(number, dict(outcomes))

    return run_loop(problem, ask, tell, quiet())


@contextmanager
def _noise_prior(loc: float) -> Iterator[None]:
    """BoTorch's SingleTaskGP noise prior ``LogNormal(-4, 1)`` (floor 1e-4) replaced by
    ``LogNormal(loc, 1)`` (floor 1e-6) while the block runs, for a diagnostic variant."""
    import botorch.models.gp_regression as gp_regression
    import torch
    from gpytorch.constraints import GreaterThan
    from gpytorch.likelihoods import GaussianLikelihood
    from gpytorch.priors import LogNormalPrior

    before = gp_regression.get_gaussian_likelihood_with_lognormal_prior

    def likelihood(batch_shape: torch.Size | None = None, **_: Any) -> GaussianLikelihood:
        return GaussianLikelihood(
            noise_prior=LogNormalPrior(loc=loc, scale=1.0),
            batch_shape=batch_shape or torch.Size(),
            noise_constraint=GreaterThan(1e-6, transform=None, initial_value=1e-4),
        )

    gp_regression.get_gaussian_likelihood_with_lognormal_prior = likelihood
    try:
        yield
    finally:
        gp_regression.get_gaussian_likelihood_with_lognormal_prior = before


def run_bo_loop_noise_prior_m12(problem: OutcomeProblem, seed: int) -> list[Record]:
    """Diagnostic, not a bo_loop setting: bo_loop with the GP noise prior LogNormal(-12, 1)."""
    with _noise_prior(-12.0):
        return run_bo_loop(problem, seed)


def _eta(fraction: float) -> dict[str, float]:
    """The acquisition setting of a constraint smoothing width of ``fraction`` x each
    constrained outcome's standard deviation, for a diagnostic variant."""
    return {"constraint_eta": fraction}


def run_bo_loop_eta_1e3(problem: OutcomeProblem, seed: int) -> list[Record]:
    """Diagnostic: bo_loop with constraint smoothing eta = 1e-3 x the outcome's sd (the
    default before 2026-12-03)."""
    return run_bo_loop(problem, seed, _eta(1e-3))


def run_bo_loop_eta_1e5(problem: OutcomeProblem, seed: int) -> list[Record]:
    """Diagnostic: bo_loop with constraint smoothing eta = 1e-5 x the outcome's sd (run while
    the GP's noise prior was "lognormal"; the default since 2026-12-03)."""
    return run_bo_loop(problem, seed, _eta(1e-5))


def run_bo_loop_noise_prior_m12_eta_1e5(problem: OutcomeProblem, seed: int) -> list[Record]:
    """Diagnostic: the noise prior LogNormal(-12, 1) and eta = 1e-5 x the outcome's sd."""
    with _noise_prior(-12.0):
        return run_bo_loop(problem, seed, _eta(1e-5))


#: Cheaper acquisition optimisation (BoTorch's qLogNEHVI sample count; half the raw samples and
#: restarts), measured as a candidate default for two or more objectives.
CHEAP_ACQUISITION = {"mc_samples": 128, "raw_samples": 256, "num_restarts": 5}


def run_bo_loop_acq_128_256_5(problem: OutcomeProblem, seed: int) -> list[Record]:
    """bo_loop with `CHEAP_ACQUISITION`."""
    return run_bo_loop(problem, seed, CHEAP_ACQUISITION)


def run_bo_loop_acq_256_512_10(problem: OutcomeProblem, seed: int) -> list[Record]:
    """bo_loop with the single-objective acquisition defaults (the defaults of every campaign
    before two or more objectives got `MULTI_OBJECTIVE_DEFAULTS`)."""
    return run_bo_loop(problem, seed, {"mc_samples": 256, "raw_samples": 512, "num_restarts": 10})


def run_bo_loop_acq_64_256_5(problem: OutcomeProblem, seed: int) -> list[Record]:
    """bo_loop with 64 MC samples (half of `CHEAP_ACQUISITION`'s), for the cost of an ask."""
    return run_bo_loop(problem, seed, {"mc_samples": 64, "raw_samples": 256, "num_restarts": 5})


def run_bo_loop_acq_64_128_5(problem: OutcomeProblem, seed: int) -> list[Record]:
    """bo_loop with 64 MC samples and 128 raw samples, for the cost of an ask."""
    return run_bo_loop(problem, seed, {"mc_samples": 64, "raw_samples": 128, "num_restarts": 5})


def run_bo_loop_acq_64_256_3(problem: OutcomeProblem, seed: int) -> list[Record]:
    """bo_loop with 64 MC samples, 256 raw samples and 3 restarts, for the cost of an ask."""
    return run_bo_loop(problem, seed, {"mc_samples": 64, "raw_samples": 256, "num_restarts": 3})


def run_bo_loop_rbf_dim_scaled(problem: OutcomeProblem, seed: int) -> list[Record]:
    """bo_loop with the GP kernel "rbf_dim_scaled" (BoTorch 0.18's default, Ax's)."""
    return run_bo_loop(problem, seed, surrogate_settings={"kernel": "rbf_dim_scaled"})


def run_bo_loop_noise_auto(problem: OutcomeProblem, seed: int) -> list[Record]:
    """bo_loop with the GP setting ``noise_prior="auto"`` (a noise-free refit when the noise
    sits at BoTorch's floor)."""
    return run_bo_loop(problem, seed, surrogate_settings={"noise_prior": "auto"})


def run_bo_loop_auto_eta_1e5(problem: OutcomeProblem, seed: int) -> list[Record]:
    """Diagnostic: eta = 1e-5 x the outcome's sd with the noise prior "auto" (the default since
    `bo_loop_eta_1e5` ran under "lognormal"); both the defaults since 2026-12-03."""
    return run_bo_loop(problem, seed, _eta(1e-5))


def run_bo_loop_flat_eta_1e5(problem: OutcomeProblem, seed: int) -> list[Record]:
    """Diagnostic: every GP with Optuna's noise prior Gamma(1.1, 30) above 1e-6 from the first
    fit ("gamma_flat"), and eta = 1e-5 x the outcome's sd."""
    flat = {"noise_prior": "gamma_flat", "noise_floor": 1e-6}
    return run_bo_loop(problem, seed, _eta(1e-5), surrogate_settings=flat)


def run_bo_loop_qlognei(problem: OutcomeProblem, seed: int) -> list[Record]:
    """bo_loop with ``constrained_first="qlognei"``: constrained qLogNEI for every point, the
    rule before 2026-12-03 (what stored campaigns keep)."""
    return run_bo_loop(problem, seed, {"constrained_first": "qlognei"})


def run_bo_loop_flat_logcei(problem: OutcomeProblem, seed: int) -> list[Record]:
    """Diagnostic: the default analytic constrained LogEI with every GP on Optuna's noise prior
    Gamma(1.1, 30) above 1e-6 from the first fit (Optuna GPSampler's model and acquisition)."""
    flat = {"noise_prior": "gamma_flat", "noise_floor": 1e-6}
    return run_bo_loop(problem, seed, {"constrained_first": "logcei"}, surrogate_settings=flat)


def run_bo_loop_design10(problem: OutcomeProblem, seed: int) -> list[Record]:
    """Diagnostic: bo_loop with 10 design points (Optuna GPSampler's startup trials)."""
    return run_bo_loop(problem, seed, design_size=10)


def run_bo_loop_design6(problem: OutcomeProblem, seed: int) -> list[Record]:
    """Diagnostic: bo_loop with 6 design points, max(5, d) on DTLZ2 (its rule gives 2 d = 12)."""
    return run_bo_loop(problem, seed, design_size=6)


def run_bo_loop_random_design(problem: OutcomeProblem, seed: int) -> list[Record]:
    """Diagnostic: bo_loop after 12 uniformly random points (its own design size on DTLZ2)."""
    return run_bo_loop(problem, seed, random_design=12)


def run_bo_loop_centre_first(problem: OutcomeProblem, seed: int) -> list[Record]:
    """Diagnostic: bo_loop whose first point is the box's centre (Ax's first point)."""
    return run_bo_loop(problem, seed, centre_first=True)


METHODS: dict[str, Callable[[OutcomeProblem, int], list[Record]]] = {
    "bo_loop": run_bo_loop,
    "ax": run_ax,
    "optuna_gp": run_optuna_gp,
    "baybe": run_baybe,
    "random": run_random,
    "bo_loop_noise_prior_m12": run_bo_loop_noise_prior_m12,
    "bo_loop_acq_128_256_5": run_bo_loop_acq_128_256_5,
    "bo_loop_acq_256_512_10": run_bo_loop_acq_256_512_10,
    "bo_loop_acq_64_256_5": run_bo_loop_acq_64_256_5,
    "bo_loop_acq_64_128_5": run_bo_loop_acq_64_128_5,
    "bo_loop_acq_64_256_3": run_bo_loop_acq_64_256_3,
    "bo_loop_eta_1e3": run_bo_loop_eta_1e3,
    "bo_loop_eta_1e5": run_bo_loop_eta_1e5,
    "bo_loop_noise_prior_m12_eta_1e5": run_bo_loop_noise_prior_m12_eta_1e5,
    "bo_loop_rbf_dim_scaled": run_bo_loop_rbf_dim_scaled,
    "bo_loop_centre_first": run_bo_loop_centre_first,
    "bo_loop_random_design": run_bo_loop_random_design,
    "bo_loop_design6": run_bo_loop_design6,
    "bo_loop_noise_auto": run_bo_loop_noise_auto,
    "bo_loop_auto_eta_1e5": run_bo_loop_auto_eta_1e5,
    "bo_loop_flat_eta_1e5": run_bo_loop_flat_eta_1e5,
    "bo_loop_qlognei": run_bo_loop_qlognei,
    "bo_loop_design10": run_bo_loop_design10,
    "bo_loop_flat_logcei": run_bo_loop_flat_logcei,
}
"""Every method, by the name used in result files."""
