"""The tools bo_loop is compared with, each driven through its own ask/tell API.

Every ``run_<method>(problem, seed, q=1)`` returns one record per evaluation, in order (see
`experiments.rounds.run_rounds`): ``q = 1`` asks one point at a time, ``q > 1`` asks rounds of
``q`` points through the tool's own batch API before telling any of their results. The
observation noise comes from `noise_rng(seed)`, so every method sees the same noise sequence for
the same seed.

Peers are imported inside their adapter, so this module imports without them; install them with
``pip install -c constraints.txt -e .[bench]``. Their logging and warnings are silenced while
they run. How each peer sees integer, categorical and log-scale parameters is listed in
``experiments/PEERS.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from experiments.problems import Params, Problem
from experiments.rounds import Record, noise_rng, quiet, run_loop, run_rounds

__all__ = ["PEERS", "Record", "noise_rng", "quiet", "run_loop", "run_rounds"]

# The objective's name inside tools that need one.
_OUTCOME = "y"


# --- random search -------------------------------------------------------------------------------


def run_random(problem: Problem, seed: int, q: int = 1) -> list[Record]:
    """Independent uniform draws: log-uniform for log-scale reals, uniform over integers/choices."""
    rng = np.random.default_rng([seed, 0])

    def ask() -> tuple[None, Params]:
        params: dict[str, Any] = {}
        for p in problem.params:
            if p["type"] == "categorical":
                params[p["name"]] = p["choices"][int(rng.integers(len(p["choices"])))]
            elif p["type"] == "integer":
                params[p["name"]] = int(rng.integers(p["low"], p["high"] + 1))
            elif p["log"]:
                params[p["name"]] = math.exp(rng.uniform(math.log(p["low"]), math.log(p["high"])))
            else:
                params[p["name"]] = float(rng.uniform(p["low"], p["high"]))
        return None, params

    return run_rounds(
        problem, seed, lambda k: [ask() for _ in range(k)], lambda _handle, _value: None, q
    )


# --- Optuna --------------------------------------------------------------------------------------


def _run_optuna(problem: Problem, seed: int, sampler_name: str, q: int) -> list[Record]:
    with quiet():
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        distributions: dict[str, optuna.distributions.BaseDistribution] = {}
        for p in problem.params:
            if p["type"] == "categorical":
                distributions[p["name"]] = optuna.distributions.CategoricalDistribution(
                    p["choices"]
                )
            elif p["type"] == "integer":
                distributions[p["name"]] = optuna.distributions.IntDistribution(p["low"], p["high"])
            else:
                distributions[p["name"]] = optuna.distributions.FloatDistribution(
                    p["low"], p["high"], log=p["log"]
                )
        sampler: optuna.samplers.BaseSampler
        if sampler_name == "tpe":
            # Within a round the first asks are RUNNING trials; the constant liar keeps the
            # next ones away from them (off for q = 1, the sequential benchmark's setting).
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=q > 1)
        else:
            # GPSampler conditions on RUNNING trials by itself (Optuna >= 4.5).
            sampler = optuna.samplers.GPSampler(seed=seed)
        study = optuna.create_study(direction=problem.goal, sampler=sampler)

    def ask() -> tuple[Any, Params]:
        trial = study.ask(distributions)
        return trial, trial.params

    def tell(trial: Any, value: float) -> None:
        study.tell(trial, value)

    return run_rounds(problem, seed, lambda k: [ask() for _ in range(k)], tell, q, quiet())


def run_optuna_tpe(problem: Problem, seed: int, q: int = 1) -> list[Record]:
    """Optuna's default `TPESampler(seed=seed)` (10 random startup trials), via study.ask/tell.

    Rounds of ``q > 1`` are ``q`` asks in a row with ``constant_liar=True``.
    """
    return _run_optuna(problem, seed, "tpe", q)


def run_optuna_gp(problem: Problem, seed: int, q: int = 1) -> list[Record]:
    """Optuna's `GPSampler(seed=seed)` (10 random startup trials), via study.ask/tell.

    Rounds of ``q > 1`` are ``q`` asks in a row; the sampler accounts for the running trials.
    """
    return _run_optuna(problem, seed, "gp", q)


# --- scikit-optimize -----------------------------------------------------------------------------


def run_skopt(problem: Problem, seed: int, q: int = 1) -> list[Record]:
    """scikit-optimize `Optimizer(base_estimator="GP", random_state=seed)`, its other defaults.

    skopt only minimises, so a maximisation problem is told the negated observation.
    """
    with quiet():
        from skopt import Optimizer
        from skopt.space import Categorical, Dimension, Integer, Real

        dimensions: list[Dimension] = []
        for p in problem.params:
            if p["type"] == "categorical":
                dimensions.append(Categorical(p["choices"], name=p["name"]))
            elif p["type"] == "integer":
                dimensions.append(Integer(p["low"], p["high"], name=p["name"]))
            else:
                prior = "log-uniform" if p["log"] else "uniform"
                dimensions.append(Real(p["low"], p["high"], prior=prior, name=p["name"]))
        optimizer = Optimizer(dimensions, base_estimator="GP", random_state=seed)
    names = [p["name"] for p in problem.params]
    sign = 1.0 if problem.goal == "minimize" else -1.0

    def ask_batch(k: int) -> list[tuple[list[Any], Params]]:
        # n_points=None is skopt's sequential ask; a batch uses its constant liar (cl_min).
        xs = [optimizer.ask()] if k == 1 else optimizer.ask(n_points=k)
        return [(x, dict(zip(names, x, strict=True))) for x in xs]

    def tell(x: list[Any], value: float) -> None:
        optimizer.tell(x, sign * value)

    return run_rounds(problem, seed, ask_batch, tell, q, quiet())


# --- Ax ------------------------------------------------------------------------------------------


def run_ax(problem: Problem, seed: int, q: int = 1) -> list[Record]:
    """Ax `Client(random_seed=seed)` with the default generation strategy it picks itself.

    A round is `get_next_trials(max_trials=k)`, called again (with the first trials pending)
    should the generation strategy return fewer than ``k`` (its parallelism limits).
    """
    with quiet():
        from ax import ChoiceParameterConfig, Client, RangeParameterConfig

        parameters: list[RangeParameterConfig | ChoiceParameterConfig] = []
        for p in problem.params:
            if p["type"] == "categorical":
                parameters.append(
                    ChoiceParameterConfig(
                        name=p["name"], values=p["choices"], parameter_type="str", is_ordered=False
                    )
                )
            elif p["type"] == "integer":
                parameters.append(
                    RangeParameterConfig(
                        name=p["name"], bounds=(p["low"], p["high"]), parameter_type="int"
                    )
                )
            else:
                parameters.append(
                    RangeParameterConfig(
                        name=p["name"],
                        bounds=(float(p["low"]), float(p["high"])),
                        parameter_type="float",
                        scaling="log" if p["log"] else "linear",
                    )
                )
        client = Client(random_seed=seed)
        client.configure_experiment(parameters=parameters, name=problem.name)
        client.configure_optimization(
            objective=_OUTCOME if problem.goal == "maximize" else f"-{_OUTCOME}"
        )

    def ask_batch(k: int) -> list[tuple[int, Params]]:
        out: list[tuple[int, Params]] = []
        for _ in range(k):  # each call returns at least one trial
            out += client.get_next_trials(max_trials=k - len(out)).items()
            if len(out) >= k:
                break
        return out

    def tell(index: int, value: float) -> None:
        client.complete_trial(trial_index=index, raw_data={_OUTCOME: value})

    return run_rounds(problem, seed, ask_batch, tell, q, quiet())


# --- BayBE ---------------------------------------------------------------------------------------


def run_baybe(
    problem: Problem, seed: int, q: int = 1, *, hybrid_sampling: float | None = None
) -> list[Record]:
    """BayBE default `Campaign` (random first point, then its BoTorch recommender).

    Integers are discrete numerical parameters listing every value; categoricals are one-hot.
    BayBE has no log scale for continuous parameters, so a log-scale real is searched as its
    base-10 logarithm, as a BayBE user would set it up. Seeded with BayBE's `Settings`, which
    also turns off its on-disk cache so that no run reuses another's work.

    Args:
        problem: What to optimise.
        seed: BayBE's global random seed for the run, and the noise sequence.
        q: Points per round, one `recommend(batch_size=q)` each.
        hybrid_sampling: None keeps the default, which on a space with both discrete and
            continuous parameters optimises the acquisition over the continuous part once per
            discrete combination (160 for "yield", 80 for "mixed"; about a minute per ask on
            2 cores). A fraction in (0, 1] makes the recommender sample that share of the
            combinations at random instead (BayBE's ``hybrid_sampler="Random"``).
    """
    with quiet():
        import pandas as pd
        from baybe import Campaign, Settings
        from baybe.parameters import (
            CategoricalParameter,
            NumericalContinuousParameter,
            NumericalDiscreteParameter,
        )
        from baybe.parameters.base import Parameter
        from baybe.recommenders import BotorchRecommender, TwoPhaseMetaRecommender
        from baybe.searchspace import SearchSpace
        from baybe.targets import NumericalTarget

        parameters: list[Parameter] = []
        for p in problem.params:
            if p["type"] == "categorical":
                parameters.append(CategoricalParameter(p["name"], values=tuple(p["choices"])))
            elif p["type"] == "integer":
                values = tuple(float(v) for v in range(p["low"], p["high"] + 1))
                parameters.append(NumericalDiscreteParameter(p["name"], values=values))
            elif p["log"]:
                bounds = (math.log10(p["low"]), math.log10(p["high"]))
                parameters.append(NumericalContinuousParameter(p["name"], bounds=bounds))
            else:
                bounds = (float(p["low"]), float(p["high"]))
                parameters.append(NumericalContinuousParameter(p["name"], bounds=bounds))
        target = NumericalTarget(_OUTCOME, minimize=problem.goal == "minimize")
        # Only the non-default variant passes a recommender, so the default stays BayBE's own.
        options: dict[str, Any] = {}
        if hybrid_sampling is not None:
            options["recommender"] = TwoPhaseMetaRecommender(
                recommender=BotorchRecommender(
                    hybrid_sampler="Random", sampling_percentage=hybrid_sampling
                )
            )
        campaign = Campaign(
            searchspace=SearchSpace.from_product(parameters),
            objective=target.to_objective(),
            **options,
        )
    log_names = [p["name"] for p in problem.params if p["type"] == "real" and p["log"]]

    def ask_batch(k: int) -> list[tuple[pd.DataFrame, Params]]:
        rec = campaign.recommend(batch_size=k)
        out = []
        for i in range(len(rec)):
            row = rec.iloc[[i]]
            params = row.iloc[0].to_dict()
            for name in log_names:
                params[name] = 10.0 ** float(params[name])
            out.append((row, params))
        return out

    def tell(rec: pd.DataFrame, value: float) -> None:
        campaign.add_measurements(rec.assign(**{_OUTCOME: value}))

    @contextmanager
    def seeded() -> Iterator[None]:
        with quiet(), Settings(random_seed=seed, cache_directory=None):
            yield

    return run_rounds(problem, seed, ask_batch, tell, q, seeded())


PEERS: dict[str, Callable[[Problem, int, int], list[Record]]] = {
    "ax": run_ax,
    "optuna_tpe": run_optuna_tpe,
    "optuna_gp": run_optuna_gp,
    "skopt": run_skopt,
    "baybe": run_baybe,
    "random": run_random,
}
"""Every peer adapter, by the method name used in result files."""
