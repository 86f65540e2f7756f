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
from bo_loop.exceptions import BoLoopError, InvalidArgumentError
from bo_loop.models import surrogates
from bo_loop.models.constrained import region_for
from bo_loop.models.cross_validation import Comparison, compare
from bo_loop.models.fitting import FittedModel, TrainingData, fit_model
from bo_loop.models.multi_objective import fit_outcome_models
from bo_loop.models.recommend import predict_rows, recommend_point
from bo_loop.models.recommend_outcomes import predict_outcomes, recommend_outcomes
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
        """The surrogate's predicted mean and sd of the outcome at given parameter rows.

        A campaign with one outcome: columns ``mean`` and ``sd``. With several outcomes
        (objectives or outcome constraints): ``<outcome>_mean`` and ``<outcome>_sd`` for every
        outcome (`campaign.outcomes` order), then ``p_feasible`` with outcome constraints (the
        probability that every constraint holds). Means lie within an objective's bounds.

        Every parameter needs a column; other columns are ignored, so the rows of
        ``to_dataframe()`` (with their outcome, state and provenance columns) can be passed as
        they are.
        """
        if not self._config.outcomes.is_single:
            return predict_outcomes(self._config.outcomes, self.fitted_models(), rows)
        return predict_rows(self.fitted_model(), rows)

    def recommend(
        self, risk_aversion: float = 0.0, *, within: Literal["data", "space"] = "data"
    ) -> Any:
        """The settings the surrogate rates best, with predicted mean, sd and a 95% interval.

        With several objectives: a DataFrame, the model's estimated Pareto set, one row per
        setting: the parameters, then per outcome ``<outcome>_mean``, ``<outcome>_sd``,
        ``<outcome>_lower``, ``<outcome>_upper``, then ``p_feasible`` with outcome constraints
        (see `bo_loop.models.recommend_outcomes`). With one objective a `Recommendation`; its
        ``p_feasible`` is set with outcome constraints, and only settings likely (>= 0.5) to
        meet them compete.

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
        if not self._config.outcomes.is_single:
            config = self._config
            return recommend_outcomes(
                config.outcomes, self.fitted_models(), float(risk_aversion), within=within,
                region=region_for(config.space, config.parameter_constraints, None),
            )  # fmt: skip
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
        _one_outcome(self.name, config, "fitted_model()")
        name = surrogate or config.surrogate
        if settings is None and name == config.surrogate:
            settings = config.surrogate_settings
        resolved = surrogates.resolve_settings(name, settings)
        return fit_model(config.space, config.objective, trials, config.seed, name, resolved)

    def fitted_models(
        self, surrogate: str | None = None, settings: Mapping[str, Any] | None = None
    ) -> dict[str, FittedModel]:
        """One fitted surrogate per outcome (`campaign.outcomes` order), as the next ask fits
        them: each on the trials with a value for its outcome (completed, or told in part).

        A constraint-only outcome's model predicts the outcome itself (``objective`` maximised).
        For a campaign with one outcome: ``{name: fitted_model()}``.
        """
        config, trials = self._read()
        if config.outcomes.is_single:
            return {config.objective.name: self.fitted_model(surrogate, settings)}
        name = surrogate or config.surrogate
        if settings is None and name == config.surrogate:
            settings = config.surrogate_settings
        resolved = surrogates.resolve_settings(name, settings)
        return fit_outcome_models(
            config.space, config.outcomes, trials, config.seed, name, resolved
        )

    def training_data(self) -> TrainingData:
        """What the campaign's surrogate trains on now (encoded completed trials, warm start).

        Raises:
            BoLoopError: the campaign has several outcomes (see :meth:`fitted_models`).
        """
        config, trials = self._read()
        _one_outcome(self.name, config, "training_data()")
        return TrainingData.from_trials(
            config.space, config.objective, trials, config.surrogate, config.surrogate_settings
        )

    def _read(self) -> tuple[CampaignConfig, builtins.list[Trial]]:
        """The stored config and every trial, read in one transaction."""

        def work(session: Session) -> tuple[CampaignConfig, builtins.list[Trial]]:
            record = store.get_campaign(session, self.name)
            config = self._apply_config(record.config)
            outcomes = config.outcomes
            single = outcomes.objectives[0].name if len(outcomes.objectives) == 1 else None
            return config, store.read_trials(session, record.id, single, outcomes.names)

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
        _one_outcome(self.name, self._config, "cross_validate()")
        return compare(self, surrogates, folds, max_points=max_points, seed=seed)


def _one_outcome(name: str, config: CampaignConfig, what: str) -> None:
    """Refuse a one-surrogate view of a campaign with several outcomes (one surrogate each)."""
    if not config.outcomes.is_single:
        raise BoLoopError(
            f"{what} works on a campaign with one outcome, but {name!r} has "
            f"{list(config.outcomes.names)!r}, one surrogate each: use campaign.fitted_models()."
        )
