"""The model half of `Campaign`: switching the surrogate, predictions, the recommendation, the
fitted model and cross-validation. Each call reads the config and the trials afresh, in one
transaction, and fits through `bo_loop.models.fitting`: the model the next ask will use.
"""

from __future__ import annotations

import builtins
import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from sqlalchemy.orm import Session

from bo_loop.config import CampaignConfig
from bo_loop.exceptions import InvalidArgumentError
from bo_loop.models import surrogates
from bo_loop.models.constrained import region_for
from bo_loop.models.cross_validation import Comparison, compare
from bo_loop.models.fitting import FittedModel, TrainingData, fit_model
from bo_loop.models.recommend import Recommendation, predict_rows, recommend_point
from bo_loop.storage import Database, store
from bo_loop.trial import Trial


class ModelViews:
    """Methods of `Campaign` that fit its surrogate; they need its name, database and config."""

    name: str
    _db: Database
    _config: CampaignConfig

    if TYPE_CHECKING:

        def _apply_config(self, raw: Mapping[str, Any]) -> CampaignConfig: ...

    def set_surrogate(self, name: str, settings: Mapping[str, Any] | None = None) -> None:
        """Switch the surrogate (``"gp"`` or ``"dngo"``) for future asks; the data stay as they are."""
        self._config.with_surrogate(name, settings)  # checked before the transaction

        def work(session: Session) -> None:
            record = store.get_campaign(session, self.name, lock=True)
            config = self._apply_config(record.config).with_surrogate(name, settings).to_json()
            store.update_config(session, record.id, config)
            self._apply_config(config)

        self._db.run(work)

    def predict(self, rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """The surrogate's predicted mean and sd of the outcome at given parameter rows."""
        return predict_rows(self.fitted_model(), rows)

    def recommend(
        self, risk_aversion: float = 0.0, *, within: Literal["data", "space"] = "data"
    ) -> Recommendation:
        """The settings the surrogate rates best, with predicted mean, sd and a 95% interval.

        Args:
            risk_aversion: 0 ranks by the predicted mean (lowest first, for a minimised
                objective); ``k > 0`` by the pessimistic bound ``mean -/+ k * sd`` instead.
            within: ``"data"`` (default) picks among the measured settings, ranked by the model
                rather than by the raw (noisy) outcomes: a setting the team has verified.
                ``"space"`` optimises over the whole space, which may land where the model
                extrapolates (on the 2,000-row historical example it predicted 105-111 where the
                truth is 100).
                Both respect the parameter constraints: a measured setting that breaks one is
                never recommended.
        """
        if (
            isinstance(risk_aversion, bool)
            or not isinstance(risk_aversion, numbers.Real)
            or not 0 <= risk_aversion < float("inf")
        ):
            raise InvalidArgumentError(
                f"risk_aversion must be a finite number >= 0, but got {risk_aversion!r}."
            )
        if within not in ("data", "space"):  # checked before the (possibly long) fit
            raise InvalidArgumentError(f"within must be 'data' or 'space', but got {within!r}.")
        fitted = self.fitted_model()
        config = self._config
        return recommend_point(
            fitted, float(risk_aversion), within=within, acquisition=config.acquisition,
            region=region_for(config.space, config.parameter_constraints, None),
        )  # fmt: skip

    def fitted_model(
        self, surrogate: str | None = None, settings: Mapping[str, Any] | None = None
    ) -> FittedModel:
        """The surrogate fitted on the completed trials, to predict and plot without refitting.

        Args:
            surrogate: Default the campaign's own; ``"gp"`` or ``"dngo"`` to look at another.
            settings: That surrogate's settings; default the campaign's (for its own surrogate)
                or the surrogate's defaults.
        """
        config, trials = self._read()
        name = surrogate or config.surrogate
        if settings is None and name == config.surrogate:
            settings = config.surrogate_settings
        resolved = surrogates.resolve_settings(name, settings)
        return fit_model(config.space, config.objective, trials, config.seed, name, resolved)

    def training_data(self) -> TrainingData:
        """What the campaign's surrogate trains on now (encoded completed trials, warm start)."""
        config, trials = self._read()
        return TrainingData.from_trials(
            config.space, config.objective, trials, config.surrogate, config.surrogate_settings
        )

    def _read(self) -> tuple[CampaignConfig, builtins.list[Trial]]:
        """The stored config and every trial, read in one transaction."""

        def work(session: Session) -> tuple[CampaignConfig, builtins.list[Trial]]:
            record = store.get_campaign(session, self.name)
            config = self._apply_config(record.config)
            return config, store.read_trials(session, record.id, config.objective.name)

        return self._db.run(work, write=False)

    def cross_validate(
        self,
        surrogates: Sequence[str] = ("gp", "dngo"),
        folds: int = 10,
        *,
        max_points: int | None = None,
        seed: int = 0,
    ) -> Comparison:
        """Which surrogate to trust here: k-fold cross-validation on the completed trials.

        Returns a side-by-side comparison (RMSE, mean log predictive density, +/- 2 sd coverage
        of held-out measurements); ``plotting.plot_cross_validation`` draws it. See
        ``bo_loop.models.cross_validation.compare``.
        """
        return compare(self, surrogates, folds, max_points=max_points, seed=seed)
