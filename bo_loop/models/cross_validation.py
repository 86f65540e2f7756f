"""Which surrogate to trust on a campaign's own data: k-fold cross-validation.

Each fold's rows are predicted by the surrogate fitted on the other rows. The held-out outcomes
are measurements, so predictions include the fitted observation noise: the mean log predictive
density and the coverage of mean +/- 2 sd then judge the model by what it claims about a new
measurement, which is what a team acts on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from bo_loop.exceptions import BoLoopError
from bo_loop.models import fitting
from bo_loop.models.fitting import FittedModel, TrainingData, step_seed
from bo_loop.models.surrogates import resolve_settings


class HasTrainingData(Protocol):
    """A campaign: anything that can say what its surrogate trains on."""

    def training_data(self) -> TrainingData: ...


Source = HasTrainingData | TrainingData | FittedModel

#: Coverage is of the interval mean +/- BAND sd.
BAND = 2.0


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold predictions of one surrogate, and how good they were.

    Attributes:
        surrogate: The surrogate's name.
        folds: The number of folds (equal to the number of rows for leave-one-out).
        predictions: One row per observation: ``number`` (the trial), ``fold``, ``observed``,
            ``mean`` and ``sd`` (of a new measurement, noise included), original scale.
        rmse: Root mean squared error of the out-of-fold means.
        mlpd: Mean log predictive density of the held-out observations (higher is better).
        coverage: Fraction of held-out observations within mean +/- 2 sd (0.95 is honest).
        seconds: Wall time of all the fits.
    """

    surrogate: str
    folds: int
    predictions: pd.DataFrame
    rmse: float
    mlpd: float
    coverage: float
    seconds: float

    def summary(self) -> dict[str, float | int | str]:
        """The metrics as a flat dict (one row of a comparison table)."""
        return {
            "surrogate": self.surrogate,
            "n": len(self.predictions),
            "folds": self.folds,
            "rmse": self.rmse,
            "mlpd": self.mlpd,
            "coverage_2sd": self.coverage,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class Comparison:
    """Cross-validation of several surrogates on the same rows and folds, side by side.

    Attributes:
        results: Surrogate name -> its ``CrossValidation``, in the order asked for.
    """

    results: dict[str, CrossValidation] = field(default_factory=dict)

    def __getitem__(self, surrogate: str) -> CrossValidation:
        return self.results[surrogate]

    def __iter__(self) -> Iterator[str]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def table(self) -> pd.DataFrame:
        """One row per surrogate: n, folds, rmse, mlpd, coverage_2sd, seconds."""
        rows = [cv.summary() for cv in self.results.values()]
        return pd.DataFrame(rows).set_index("surrogate")

    def __repr__(self) -> str:
        return f"Comparison (k-fold cross-validation)\n{self.table().to_string(float_format=_fmt)}"

    def _repr_html_(self) -> str:
        html: str = self.table().to_html(float_format=_fmt)
        return f"<b>Cross-validation</b> (held-out rows predicted by each surrogate){html}"


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _data(source: Source) -> TrainingData:
    if isinstance(source, TrainingData):
        return source
    if isinstance(source, FittedModel):
        return TrainingData(
            source.space, source.objective, source.X, source.Y, source.numbers,
            source.surrogate, source.settings, source.state,
        )  # fmt: skip
    return source.training_data()


def fold_assignment(n: int, folds: int, seed: int) -> np.ndarray:
    """Fold index of each of ``n`` rows: a seeded shuffle dealt round-robin (sizes differ by <= 1)."""
    order = np.random.default_rng(seed).permutation(n)
    out = np.empty(n, dtype=int)
    out[order] = np.arange(n) % folds
    return out


def cross_validate(
    source: Source,
    surrogate: str | None = None,
    folds: int = 10,
    *,
    settings: Mapping[str, Any] | None = None,
    max_points: int | None = None,
    seed: int = 0,
) -> CrossValidation:
    """k-fold cross-validation of a surrogate on a campaign's completed trials.

    Args:
        source: A campaign, or a fitted model (its training rows are used).
        surrogate: ``"gp"`` or ``"dngo"``; default the campaign's (or the fitted model's) own.
        folds: Number of folds, at most the number of rows (then it is leave-one-out).
        settings: The surrogate's settings; default the campaign's when it is the campaign's
            surrogate, else the surrogate's defaults.
        max_points: Cross-validate on a seeded random subset of this many rows (each fold then
            trains on the subset's other rows): k exact-GP fits on thousands of rows take minutes.
        seed: Seeds the folds, the subset and the fits.

    Returns:
        The out-of-fold predictions and their RMSE, MLPD and +/- 2 sd coverage.

    Raises:
        BoLoopError: fewer than 3 completed trials, or ``folds`` not in [2, n].
    """
    data = _data(source)
    space, objective, X, Y, numbers = data.space, data.objective, data.X, data.Y, list(data.numbers)
    name = surrogate or data.surrogate
    own = name == data.surrogate
    if settings is None and own:
        settings = data.settings
    settings = resolve_settings(name, settings)
    # Every fold starts where the campaign's next fit of this surrogate would start.
    warm_start = data.warm_start if own else None
    if max_points is not None and len(X) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(X), max_points, replace=False))
        X, Y, numbers = X[keep], Y[keep], [numbers[i] for i in keep]
    n = len(X)
    if n < 3:
        raise BoLoopError(f"Cross-validation needs at least 3 completed trials, but got {n}.")
    if isinstance(folds, bool) or not isinstance(folds, int) or not 2 <= folds <= n:
        raise BoLoopError(
            f"folds must be an integer in [2, {n}] (the number of rows), but got {folds!r}."
        )
    assignment = fold_assignment(n, folds, seed)
    mean = np.empty(n)
    sd = np.empty(n)
    start = time.perf_counter()
    for k in range(folds):
        test = torch.as_tensor(assignment == k)
        fold_seed = step_seed(seed, k)
        model = fitting.fit(
            space, X[~test], Y[~test], surrogate=name, settings=settings, seed=fold_seed,
            warm_start=warm_start,
        )  # fmt: skip
        fitted = FittedModel(model, space, objective, X[~test], Y[~test], surrogate=name)
        m, s = fitted.mean_sd(X[test], observation_noise=True)
        mean[test.numpy()] = m.numpy()
        sd[test.numpy()] = s.numpy()
    seconds = time.perf_counter() - start
    observed = (Y.reshape(-1) * objective.sign).numpy()
    return _result(name, folds, numbers, assignment, observed, mean, sd, seconds)


def _result(
    name: str,
    folds: int,
    numbers: Sequence[int],
    assignment: np.ndarray,
    observed: np.ndarray,
    mean: np.ndarray,
    sd: np.ndarray,
    seconds: float,
) -> CrossValidation:
    sd = np.maximum(sd, 1e-12)
    err = observed - mean
    log_density = -0.5 * (err / sd) ** 2 - np.log(sd) - 0.5 * math.log(2 * math.pi)
    predictions = pd.DataFrame(
        {"number": numbers, "fold": assignment, "observed": observed, "mean": mean, "sd": sd}
    )
    return CrossValidation(
        surrogate=name, folds=folds, predictions=predictions,
        rmse=float(np.sqrt(np.mean(err**2))), mlpd=float(np.mean(log_density)),
        coverage=float(np.mean(np.abs(err) <= BAND * sd)), seconds=seconds,
    )  # fmt: skip


def compare(
    source: Source,
    surrogates: Sequence[str] = ("gp", "dngo"),
    folds: int = 10,
    *,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    max_points: int | None = None,
    seed: int = 0,
) -> Comparison:
    """Cross-validate several surrogates on the same rows and folds.

    Args:
        source: A campaign, or a fitted model.
        surrogates: The surrogates to compare.
        folds: Number of folds (capped at the number of rows).
        settings: Per-surrogate settings; a surrogate not named gets the campaign's settings if
            it is the campaign's surrogate, else its defaults.
        max_points: See ``cross_validate``.
        seed: The same folds for every surrogate.
    """
    # Read the campaign once: every surrogate is scored on the same rows.
    data = _data(source)
    n = len(data.X)
    if max_points is not None:
        n = min(n, max_points)
    folds = min(folds, n) if isinstance(folds, int) and not isinstance(folds, bool) else folds
    results = {
        name: cross_validate(
            data,
            name,
            folds,
            settings=(settings or {}).get(name),
            max_points=max_points,
            seed=seed,
        )
        for name in surrogates
    }
    return Comparison(results)
