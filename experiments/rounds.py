"""The evaluation loop every method runs through: rounds of ``q`` asks, evaluations and tells.

``q = 1`` is the sequential benchmark of issue 4 (one ask, one evaluation, one tell); ``q > 1``
is the batch benchmark of issue 14, where a method proposes a whole round before seeing any of
its results, as a lab does with 4-8 experiments a day. The total number of evaluations is the
problem's budget either way, so the last round is shorter when ``q`` does not divide it.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import numpy as np

from experiments.problems import Params, Problem

Record = dict[str, Any]
Ask = Callable[[], tuple[Any, Params]]
AskBatch = Callable[[int], Sequence[tuple[Any, Params]]]
Tell = Callable[[Any, float], None]


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


def clean_params(problem: Problem, params: Params) -> dict[str, Any]:
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


def round_sizes(budget: int, q: int) -> list[int]:
    """How many points each round asks for: ``q`` each, the last one what is left of ``budget``.

    >>> round_sizes(30, 4)
    [4, 4, 4, 4, 4, 4, 4, 2]
    """
    if q < 1:
        raise ValueError(f"the batch size must be >= 1, but got q={q}")
    return [min(q, budget - start) for start in range(0, budget, q)]


def run_rounds(
    problem: Problem,
    seed: int,
    ask_batch: AskBatch,
    tell: Tell,
    q: int,
    context: AbstractContextManager[Any] | None = None,
) -> list[Record]:
    """Run ``problem.budget`` evaluations in rounds of ``q``: ask all, evaluate all, tell all.

    Args:
        problem: What to optimise.
        seed: Picks the noise sequence (see `noise_rng`); points are evaluated in the order asked.
        ask_batch: Given ``k``, returns ``k`` (handle, parameters) pairs, the handle being what
            the tool needs back at tell time.
        tell: Receives a handle and the observed value (on the problem's own scale and sign).
        q: Points per round.
        context: Entered around the whole loop, e.g. a tool's global seed setting.

    Returns:
        One record per evaluation: ``params``, ``observed``, ``true``, ``round`` (0-based) and
        ``seconds``: the round's ask time split evenly over its points, plus the point's own tell.
    """
    rng = noise_rng(seed)
    records: list[Record] = []
    with context or nullcontext():
        for number, k in enumerate(round_sizes(problem.budget, q)):
            start = time.perf_counter()
            asked = list(ask_batch(k))
            ask_seconds = time.perf_counter() - start
            if len(asked) != k:
                raise RuntimeError(f"asked for {k} points, got {len(asked)}")
            evaluated = []
            for handle, raw in asked:
                params = clean_params(problem, raw)
                evaluated.append((handle, params, problem.evaluate(params, rng)))
            for handle, params, observed in evaluated:
                told = time.perf_counter()
                tell(handle, observed)
                records.append(
                    {
                        "params": params,
                        "observed": observed,
                        "true": problem.true_value(params),
                        "round": number,
                        "seconds": ask_seconds / k + (time.perf_counter() - told),
                    }
                )
    return records


def run_loop(
    problem: Problem,
    seed: int,
    ask: Ask,
    tell: Tell,
    context: AbstractContextManager[Any] | None = None,
) -> list[Record]:
    """Run ``problem.budget`` sequential ask/evaluate/tell iterations (`run_rounds` with q = 1)."""
    return run_rounds(problem, seed, lambda _k: [ask()], tell, 1, context)
