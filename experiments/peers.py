"""The tools bo_loop is compared with, each driven through its own ask/tell API.

Every ``run_<method>(problem, seed)`` returns one record per evaluation, in order:
``{"params": dict, "observed": float, "true": float, "seconds": float}``, where ``seconds``
is the time the tool spent in that iteration's ask plus its tell (the objective is not timed).
The observation noise comes from `noise_rng(seed)`, so every method sees the same noise
sequence for the same seed.

Peers are imported inside their adapter, so this module imports without them; install them with
``pip install -c constraints.txt -e .[bench]``. Their logging and warnings are silenced while
they run. How each peer sees integer, categorical and log-scale parameters is listed in
``experiments/PEERS.md``.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import numpy as np

from experiments.problems import Params, Problem

Record = dict[str, Any]
Ask = Callable[[], tuple[Any, Params]]
Tell = Callable[[Any, float], None]

# The objective's name inside tools that need one.
_OUTCOME = "y"


def noise_rng(seed: int) -> np.random.Generator:
    """The generator of observation noise for runs with ``seed``, shared by every method."""
    return np.random.default_rng([seed, 1])


@contextmanager
def quiet() -> Iterator[None]:
    """Silence log records below ERROR and all warnings while a peer runs."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _clean(problem: Problem, params: Params) -> dict[str, Any]:
    """Plain Python values in the problem's parameter order; refuses a point off the space."""
    out: dict[str, Any] = {}
    for p in problem.params:
        name, value = p["name"], params[p["name"]]
        if p["type"] == "categorical":
            value = str(value)
            if value not in p["choices"]:
                raise ValueError(f"{name} must be one of {p['choices']}, got {value!r}")
        else:
            if p["type"] == "integer":
                if float(value) != round(float(value)):
                    raise ValueError(f"{name} must be an integer, got {value!r}")
                value = round(float(value))
            else:
                value = float(value)
            # Log-scale round trips may land a hair outside the bounds.
            tol = 1e-9 * (p["high"] - p["low"])
            if not p["low"] - tol <= value <= p["high"] + tol:
                raise ValueError(f"{name} must lie in [{p['low']}, {p['high']}], got {value!r}")
            value = min(max(value, p["low"]), p["high"])
        out[name] = value
    return out


def run_loop(
    problem: Problem,
    seed: int,
    ask: Ask,
    tell: Tell,
    context: AbstractContextManager[Any] | None = None,
) -> list[Record]:
    """Run ``problem.budget`` sequential ask/evaluate/tell iterations.

    Args:
        problem: What to optimise.
        seed: Picks the noise sequence (see `noise_rng`).
        ask: Returns a handle the tool needs back at tell time, and the proposed parameters.
        tell: Receives that handle and the observed value (on the problem's own scale and sign).
        context: Entered around the whole loop, e.g. a tool's global seed setting.

    Returns:
        One record per evaluation (see the module docstring).
    """
    rng = noise_rng(seed)
    records: list[Record] = []
    with context or nullcontext():
        for _ in range(problem.budget):
            start = time.perf_counter()
            handle, raw = ask()
            asked = time.perf_counter()
            params = _clean(problem, raw)
            observed = problem.evaluate(params, rng)
            told = time.perf_counter()
            tell(handle, observed)
            seconds = (asked - start) + (time.perf_counter() - told)
            records.append(
                {
                    "params": params,
                    "observed": observed,
                    "true": problem.true_value(params),
                    "seconds": seconds,
                }
            )
    return records


# --- random search -------------------------------------------------------------------------------


def run_random(problem: Problem, seed: int) -> list[Record]:
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

    return run_loop(problem, seed, ask, lambda _handle, _value: None)


# --- Optuna --------------------------------------------------------------------------------------


def _run_optuna(problem: Problem, seed: int, sampler_name: str) -> list[Record]:
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
            sampler = optuna.samplers.TPESampler(seed=seed)
        else:
            sampler = optuna.samplers.GPSampler(seed=seed)
        study = optuna.create_study(direction=problem.goal, sampler=sampler)

    def ask() -> tuple[Any, Params]:
        trial = study.ask(distributions)
        return trial, trial.params

    def tell(trial: Any, value: float) -> None:
        study.tell(trial, value)

    return run_loop(problem, seed, ask, tell, quiet())


def run_optuna_tpe(problem: Problem, seed: int) -> list[Record]:
    """Optuna's default `TPESampler(seed=seed)` (10 random startup trials), via study.ask/tell."""
    return _run_optuna(problem, seed, "tpe")


def run_optuna_gp(problem: Problem, seed: int) -> list[Record]:
    """Optuna's `GPSampler(seed=seed)` (10 random startup trials), via study.ask/tell."""
    return _run_optuna(problem, seed, "gp")


# --- scikit-optimize -----------------------------------------------------------------------------


def run_skopt(problem: Problem, seed: int) -> list[Record]:
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

    def ask() -> tuple[list[Any], Params]:
        x = optimizer.ask()
        return x, dict(zip(names, x, strict=True))

    def tell(x: list[Any], value: float) -> None:
        optimizer.tell(x, sign * value)

    return run_loop(problem, seed, ask, tell, quiet())


# --- Ax ------------------------------------------------------------------------------------------


def run_ax(problem: Problem, seed: int) -> list[Record]:
    """Ax `Client(random_seed=seed)` with the default generation strategy it picks itself."""
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

    def ask() -> tuple[int, Params]:
        ((index, params),) = client.get_next_trials(max_trials=1).items()
        return index, params

    def tell(index: int, value: float) -> None:
        client.complete_trial(trial_index=index, raw_data={_OUTCOME: value})

    return run_loop(problem, seed, ask, tell, quiet())


# --- BayBE ---------------------------------------------------------------------------------------


def run_baybe(problem: Problem, seed: int, *, hybrid_sampling: float | None = None) -> list[Record]:
    """BayBE default `Campaign` (random first point, then its BoTorch recommender).

    Integers are discrete numerical parameters listing every value; categoricals are one-hot.
    BayBE has no log scale for continuous parameters, so a log-scale real is searched as its
    base-10 logarithm, as a BayBE user would set it up. Seeded with BayBE's `Settings`, which
    also turns off its on-disk cache so that no run reuses another's work.

    Args:
        problem: What to optimise.
        seed: BayBE's global random seed for the run, and the noise sequence.
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

    def ask() -> tuple[pd.DataFrame, Params]:
        rec = campaign.recommend(batch_size=1)
        params = rec.iloc[0].to_dict()
        for name in log_names:
            params[name] = 10.0 ** float(params[name])
        return rec, params

    def tell(rec: pd.DataFrame, value: float) -> None:
        campaign.add_measurements(rec.assign(**{_OUTCOME: value}))

    @contextmanager
    def seeded() -> Iterator[None]:
        with quiet(), Settings(random_seed=seed, cache_directory=None):
            yield

    return run_loop(problem, seed, ask, tell, seeded())


PEERS: dict[str, Callable[[Problem, int], list[Record]]] = {
    "ax": run_ax,
    "optuna_tpe": run_optuna_tpe,
    "optuna_gp": run_optuna_gp,
    "skopt": run_skopt,
    "baybe": run_baybe,
    "random": run_random,
}
"""Every peer adapter, by the method name used in result files."""
