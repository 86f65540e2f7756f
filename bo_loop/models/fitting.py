"""The one way a campaign's surrogate is fitted: for ask, recommend, predict, plots and
cross-validation alike, from the same data, seed, settings and warm start.

Everything here is a pure function of the campaign's stored trials, its seed and its settings, so
a campaign reopened in a new process fits exactly the model it would have fitted had it stayed
open, and ``recommend`` sees the model that the next ``ask`` will use.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from botorch.models.model import Model
from linear_operator.utils.warnings import NumericalWarning
from torch import Tensor

from bo_loop.exceptions import BoLoopError
from bo_loop.models import surrogates
from bo_loop.objective import Objective
from bo_loop.space import Space
from bo_loop.trial import Trial, TrialState

#: Below this many observations the model math is small matrices, where one thread beats two
#: (measured: a 4-D GP fit on 30 points took 0.34 s on 1 thread, 1.98 s on 2 with a busy machine).
#: It only changes speed, never results, so it stays a process-wide constant.
SMALL_DATA = 1000

#: Points per posterior call: a q=1 batch over a 2,000-point GP costs n x chunk floats of memory.
CHUNK = 2048

#: Provenance key of the fitted surrogate's state (the GP's raw hyperparameters).
FITTED_STATE = "fitted_state"

#: The largest outcome magnitude the surrogates see. Campaigns with larger outcomes are divided by
#: a power of two (exact, and it leaves EI's argmax alone) before any model math: the variance of
#: outcomes near 1e155 overflows float64, which made every later ask fail.
MAX_MODEL_OUTCOME = 2.0**200
#: The smallest spread (max - min) of outcomes the surrogates see as it is. BoTorch's
#: ``Standardize`` leaves a standard deviation below 1e-8 unscaled and GPyTorch floors a
#: predictive variance at 1e-10 (sd 1e-5), both in the model's units: outcomes spread over 1e-6
#: had every posterior sd at that floor and outcomes in the 1e-9s (a nanomolar concentration in
#: mol/L) were fitted as a constant, so proposals were junk. Campaigns whose outcomes spread less
#: are multiplied by a power of two, exactly, to a spread in [1, 2).
MIN_MODEL_SPREAD = 2.0**-10


def outcome_scale(Y: Tensor) -> float:
    """The power of two to divide outcomes by before model math: 1.0 unless some |y| > 2**200
    (then above 1) or the outcomes spread less than `MIN_MODEL_SPREAD` (then below 1)."""
    peak = float(Y.abs().max()) if Y.numel() else 0.0
    if peak > MAX_MODEL_OUTCOME:
        return 2.0 ** math.ceil(math.log2(peak / MAX_MODEL_OUTCOME))
    spread = float(Y.max() - Y.min()) if Y.numel() else 0.0
    if 0.0 < spread < MIN_MODEL_SPREAD:
        return 2.0 ** math.floor(math.log2(spread))
    return 1.0


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


@contextmanager
def quiet_jitter() -> Iterator[None]:
    """Silence GPyTorch's jitter warnings.

    Near-duplicate observations make the GP's covariance nearly singular; the jitter that GPyTorch
    adds (fitting, pruning qLogNEI's baseline, optimising) is the right response and the warning
    only alarms users.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumericalWarning)
        yield


def step_seed(seed: int, n_trials: int) -> int:
    """The seed of one ask: a function of the campaign seed and how many trials exist."""
    return (seed * 1_000_003 + n_trials * 7_919) % (2**31 - 1)


def completed(trials: Sequence[Trial]) -> list[Trial]:
    """The trials a surrogate trains on: completed, with a value."""
    return [t for t in trials if t.state is TrialState.COMPLETED and t.value is not None]


def training_data(
    space: Space, objective: Objective, trials: Sequence[Trial]
) -> tuple[Tensor, Tensor]:
    """Encode completed trials: ``n x d`` inputs and ``n x 1`` outcomes signed so larger is better."""
    done = completed(trials)
    X = space.encode([t.params for t in done])
    Y = torch.tensor([[objective.sign * float(t.value)] for t in done], dtype=torch.float64)  # type: ignore[arg-type]
    return X, Y


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


def fit(
    space: Space,
    X: Tensor,
    Y: Tensor,
    *,
    surrogate: str,
    settings: Mapping[str, Any],
    seed: int,
    warm_start: Mapping[str, Any] | None = None,
) -> Model:
    """Fit ``surrogate`` on encoded data, seeded, on the right number of threads.

    The model sees ``Y / outcome_scale(Y)``: the outcomes themselves unless some is beyond 2**200
    or they spread less than 2**-10 (`FittedModel` maps its predictions back).

    Args:
        space: The search space (its bounds and categorical columns).
        X: ``n x d`` encoded inputs.
        Y: ``n x 1`` outcomes, signed so that larger is better.
        surrogate: A name of `surrogates.SURROGATES`.
        settings: Its full settings (`surrogates.resolve_settings`).
        seed: Seeds the fit.
        warm_start: The state of an earlier fit to start from.
    """
    kind = surrogates.get(surrogate)
    with torch.random.fork_rng(), torch_threads(len(X)), quiet_jitter():
        torch.manual_seed(seed)
        return kind.fit(
            X, Y / outcome_scale(Y), bounds=space.bounds(), cat_dims=space.cat_dims, seed=seed,
            settings=settings, warm_start=warm_start,
        )  # fmt: skip


@dataclass(frozen=True)
class TrainingData:
    """What a surrogate of a campaign is fitted on, before any fit.

    Attributes:
        space: The campaign's search space.
        objective: The campaign's objective.
        X: The ``n x d`` encoded inputs of the completed trials.
        Y: The ``n x 1`` outcomes, signed so that larger is better.
        numbers: The trial number of each row.
        surrogate: The campaign's surrogate.
        settings: Its settings.
        warm_start: The state the campaign's next fit of ``surrogate`` starts from.
    """

    space: Space
    objective: Objective
    X: Tensor
    Y: Tensor
    numbers: tuple[int, ...]
    surrogate: str
    settings: Mapping[str, Any]
    warm_start: Mapping[str, Any] | None = None

    @classmethod
    def from_trials(
        cls,
        space: Space,
        objective: Objective,
        trials: Sequence[Trial],
        surrogate: str,
        settings: Mapping[str, Any],
    ) -> TrainingData:
        X, Y = training_data(space, objective, trials)
        return cls(
            space, objective, X, Y, tuple(t.number for t in completed(trials)), surrogate,
            dict(settings), latest_fitted_state(trials, surrogate),
        )  # fmt: skip


@dataclass(frozen=True)
class FittedModel:
    """A surrogate fitted on a campaign's completed trials, with what is needed to use it.

    Attributes:
        model: The fitted BoTorch model; its posterior is on the signed scale (larger is better).
        space: The campaign's search space.
        objective: The campaign's objective.
        X: The ``n x d`` encoded training inputs.
        Y: The ``n x 1`` training outcomes, signed so that larger is better.
        numbers: The trial number of each training row.
        surrogate: The surrogate's name (``"gp"`` or ``"dngo"``).
        settings: The surrogate's settings it was fitted with.
        seed: The seed of the fit (the seed the next ask uses).
    """

    model: Model
    space: Space
    objective: Objective
    X: Tensor
    Y: Tensor
    numbers: tuple[int, ...] = ()
    surrogate: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0

    def mean_sd(self, X: Tensor, *, observation_noise: bool = False) -> tuple[Tensor, Tensor]:
        """Mean and sd of the outcome (original scale and sign) at encoded points.

        Args:
            X: An ``n x d`` tensor in the space's encoding.
            observation_noise: Include the fitted noise: the spread of a new measurement rather
                than of the true outcome.

        Returns:
            Two ``n`` tensors.
        """
        means, sds = [], []
        with torch.no_grad(), torch_threads(len(self.X)):
            for part in X.split(CHUNK):
                posterior = self.model.posterior(
                    part.unsqueeze(1), observation_noise=observation_noise
                )
                # Every surrogate here returns a Gaussian posterior (mean and variance exist).
                scale = self.scale
                means.append(posterior.mean.reshape(-1) * self.objective.sign * scale)  # type: ignore[attr-defined]
                sds.append(posterior.variance.clamp_min(0).sqrt().reshape(-1) * scale)  # type: ignore[attr-defined]
        if not means:
            empty = torch.empty(0, dtype=torch.float64)
            return empty, empty
        return torch.cat(means), torch.cat(sds)

    @property
    def baseline(self) -> Tensor:
        """The ``m x d`` observed inputs the model is conditioned on: ``X``, or the subset a GP
        on a large history uses (`surrogates.gp_subset`), which qLogNEI then weighs."""
        conditioned: Tensor | None = getattr(self.model, "conditioned_X", None)
        return self.X if conditioned is None else conditioned

    @property
    def scale(self) -> float:
        """What the model's outcomes are ``Y`` divided by (`outcome_scale`): 1.0 unless some
        outcome is beyond 2**200, whose square would overflow the model math, or the outcomes
        spread less than 2**-10, below the model math's floors."""
        return outcome_scale(self.Y)

    @property
    def model_Y(self) -> Tensor:
        """The ``n x 1`` outcomes in the model's units (``Y / scale``)."""
        return self.Y / self.scale

    @property
    def observed(self) -> Tensor:
        """The ``n`` training outcomes on the original scale and sign."""
        return self.Y.reshape(-1) * self.objective.sign

    def to_onnx(self, path: str | os.PathLike[str]) -> Any:
        """Write the predictive mean and sd as an ONNX graph on the parameters' raw scale
        (`bo_loop.models.export.to_onnx`); needs the ``aml`` extra."""
        from bo_loop.models.export import to_onnx

        return to_onnx(self, path)

    def to_pyomo(self, *, sd: bool = False, block: Any = None) -> Any:
        """The surrogate as a Pyomo block to optimise over with one's own constraints
        (`bo_loop.models.export.to_pyomo`); needs the ``aml`` extra."""
        from bo_loop.models.export import to_pyomo

        return to_pyomo(self, sd=sd, block=block)

    @property
    def state(self) -> dict[str, Any] | None:
        """Plain-JSON state a later fit starts from (stored in the provenance of an ask)."""
        return surrogates.get(self.surrogate).state(self.model)


def fit_model(
    space: Space,
    objective: Objective,
    trials: Sequence[Trial],
    seed: int,
    surrogate: str,
    settings: Mapping[str, Any],
) -> FittedModel:
    """Fit the surrogate on a campaign's completed trials exactly as its next ask will.

    The seed is the next ask's (`step_seed` of the campaign seed and the number of trials) and
    the fit starts from the state stored by the latest ask that fitted the same surrogate.

    Raises:
        BoLoopError: fewer than 2 completed trials.
    """
    data = TrainingData.from_trials(space, objective, trials, surrogate, settings)
    if len(data.X) < 2:
        raise BoLoopError(
            f"The surrogate needs at least 2 completed trials, but the campaign has {len(data.X)}."
        )
    this_seed = step_seed(seed, len(trials))
    model = fit(
        space, data.X, data.Y, surrogate=surrogate, settings=data.settings, seed=this_seed,
        warm_start=data.warm_start,
    )  # fmt: skip
    return FittedModel(
        model=model, space=space, objective=objective, X=data.X, Y=data.Y, numbers=data.numbers,
        surrogate=surrogate, settings=data.settings, seed=this_seed,
    )  # fmt: skip
