"""The data-entry half of `Campaign`: points measured without being asked, single or in bulk,
and campaigns created from a table of measured rows."""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from sqlalchemy.orm import Session

from bo_loop.config import CampaignConfig, build_config, build_outcomes, check_campaign_name
from bo_loop.constraints import LinearConstraint, violations
from bo_loop.imports import ImportReport, parse_rows
from bo_loop.infer import infer_space
from bo_loop.objective import Objective
from bo_loop.outcomes import OutcomeConstraint, Outcomes
from bo_loop.space import Parameter, Space
from bo_loop.storage import Database, store, trial_writes
from bo_loop.trial import Trial, TrialState

if TYPE_CHECKING:
    from bo_loop.campaign import Campaign


class DataEntry:
    """Methods of `Campaign` that store measured points; they need its name, database, config."""

    name: str
    _db: Database
    _config: CampaignConfig

    if TYPE_CHECKING:

        @property
        def space(self) -> Space: ...

    def add_observation(
        self, params: Mapping[str, Any], value: float | Mapping[str, float]
    ) -> Trial:
        """Store a point measured without being asked (the operator's own choice).

        Args:
            params: The settings.
            value: A number, or ``{outcome: number}``. With several outcomes, outcomes left out
                are awaited: the trial stays PENDING for them until told.

        A point that breaks a parameter constraint is stored all the same (it was measured) and
        flagged: its provenance lists the constraints under ``violates``.
        """
        clean = self.space.validate(params)
        outcomes = self._config.outcomes
        values = outcomes.parse_values(value)
        provenance = _flagged({"generator": "manual"}, clean, self._config.parameter_constraints)
        item = _measured(clean, provenance, values, outcomes)
        return self._db.run(lambda s: self._insert_locked(s, [item]))[0]

    def add_observations(
        self,
        data: pd.DataFrame | Sequence[Mapping[str, Any]] | str | os.PathLike[str],
        *,
        on_error: Literal["raise", "skip"] = "raise",
    ) -> ImportReport:
        """Store measured rows (parameter columns + one column per outcome) from a DataFrame or CSV.

        Every row is validated. With ``on_error="raise"`` (default) nothing is stored if any row
        is bad, and the ImportRowsError lists each bad row and the rule it broke; with
        ``on_error="skip"`` the valid rows are stored and the rejects returned. Rows that break
        a parameter constraint are stored and flagged, as by :meth:`add_observation`. With
        several outcomes a blank cell is allowed (the trial stays PENDING for that outcome), a
        row of blanks is not.
        """
        valid, rejected = parse_rows(data, self.space, self._config.outcomes, on_error=on_error)
        items = _imported(valid, self._config.outcomes, self._config.parameter_constraints)
        added = self._db.run(lambda s: self._insert_locked(s, items)) if items else []
        return ImportReport(added=added, rejected=rejected)

    def _insert_locked(
        self, session: Session, items: Sequence[trial_writes.NewTrial]
    ) -> builtins.list[Trial]:
        record = store.get_campaign(session, self.name, lock=True)
        outcomes = self._config.outcomes
        return trial_writes.insert_trials(
            session, record.id, value_name(outcomes), items, outcomes.names
        )

    @classmethod
    def from_dataframe(
        cls,
        name: str,
        data: pd.DataFrame,
        objective: Objective | str | None = None,
        *,
        objectives: Sequence[Objective] | None = None,
        outcome_constraints: Sequence[OutcomeConstraint] = (),
        storage: str | os.PathLike[str] | None = None,
        parameters: Sequence[str] | None = None,
        overrides: Mapping[str, Parameter] | None = None,
        log: Sequence[str] = (),
        on_error: Literal["raise", "skip"] = "raise",
        **create_options: Any,
    ) -> Campaign:
        """Create a campaign whose space is inferred from measured rows, and store the rows.

        The space comes from ``bo_loop.infer.infer_space`` (bounds from each column's min and
        max; integer, real and categorical columns told apart). Rows are validated before the
        campaign is created: with ``on_error="raise"`` a bad row leaves no campaign behind.

        Args:
            name: Unique within the storage.
            data: Parameter columns and one column per outcome.
            objective: A ``bl.Objective``, or the outcome column's name (then maximised).
            objectives: Several objectives instead (as for :meth:`Campaign.create`).
            outcome_constraints: As for :meth:`Campaign.create`.
            storage: As for :meth:`Campaign.create`.
            parameters: The columns to use as parameters; default all but the outcomes.
            overrides: Parameter definitions to use instead of inferred ones, by column.
            log: Number columns to search on a log scale.
            on_error: ``"skip"`` stores the valid rows only.
            **create_options: Passed to :meth:`Campaign.create` (``surrogate``, ``seed``, ...).
        """
        if objective is None and objectives is None:
            objective = "objective"  # the old default name: refused below unless a column
        outcomes = build_outcomes(objective, objectives, outcome_constraints)
        first = outcomes.objectives[0].name
        if parameters is None and not outcomes.is_single:
            parameters = [c for c in data.columns if c not in outcomes.names]
        space = infer_space(data, first, parameters=parameters, overrides=overrides, log=log)
        present = [c for c in [*space.names, *outcomes.names] if c in data.columns]
        rows = data[present]
        name = check_campaign_name(name)
        built = build_config(
            space, objectives=outcomes.objectives, outcome_constraints=outcomes.constraints,
            **create_options,
        )  # fmt: skip
        config = built.to_json()
        valid, _ = parse_rows(rows, space, outcomes, on_error=on_error)
        items = _imported(valid, outcomes, built.parameter_constraints)

        def work(session: Session) -> store.CampaignRecord:
            record = store.create_campaign(session, name, config)
            if items:
                trial_writes.insert_trials(
                    session, record.id, value_name(outcomes), items, outcomes.names
                )
            return record

        db = Database(storage)
        return cls(db, db.run(work))  # type: ignore[call-arg, return-value]


def value_name(outcomes: Outcomes) -> str | None:
    """The outcome shown as ``Trial.value``: the objective when there is exactly one."""
    return outcomes.objectives[0].name if len(outcomes.objectives) == 1 else None


def _measured(
    params: dict[str, Any], provenance: dict[str, Any], values: dict[str, float], outcomes: Outcomes
) -> trial_writes.NewTrial:
    """A manual trial: COMPLETED with every outcome, else PENDING for the missing ones."""
    complete = all(n in values for n in outcomes.names)
    state = TrialState.COMPLETED if complete else TrialState.PENDING
    if outcomes.is_single:
        return trial_writes.NewTrial(params, "manual", provenance, state, values[outcomes.names[0]])
    return trial_writes.NewTrial(params, "manual", provenance, state, values=values)


def _imported(
    valid: Sequence[tuple[dict[str, Any], dict[str, float]]],
    outcomes: Outcomes,
    constraints: Sequence[LinearConstraint] = (),
) -> list[trial_writes.NewTrial]:
    """Validated imported rows as trials of source "manual" (flagged as `_flagged`)."""
    return [
        _measured(
            params,
            _flagged({"generator": "manual", "import": True}, params, constraints),
            values,
            outcomes,
        )
        for params, values in valid
    ]


def _flagged(
    provenance: dict[str, Any], params: Mapping[str, Any], constraints: Sequence[LinearConstraint]
) -> dict[str, Any]:
    """``provenance`` with ``violates``: the constraints a measured point breaks, if any."""
    broken = violations(params, constraints)
    return {**provenance, "violates": broken} if broken else provenance
