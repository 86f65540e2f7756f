"""Campaign: ask, tell, fail, load, best, recommend. Orchestration only.

A Campaign object holds no state but its name and database: every call reads what it needs from
storage, so any number of processes can work on one campaign and a reopened campaign behaves
exactly as one that stayed open.
"""

from __future__ import annotations

import builtins
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from bo_loop.campaign_data import DataEntry, value_name
from bo_loop.campaign_model import ModelViews
from bo_loop.campaign_outcomes import OutcomeViews
from bo_loop.config import CampaignConfig, build_config, check_campaign_name, check_int
from bo_loop.constraints import LinearConstraint, check_fixed
from bo_loop.corrections import Corrections
from bo_loop.exceptions import (
    InvalidArgumentError,
    TrialNotFoundError,
)
from bo_loop.models.constrained import region_for
from bo_loop.models.propose import propose
from bo_loop.objective import Objective
from bo_loop.outcomes import OutcomeConstraint
from bo_loop.space import Parameter, Space
from bo_loop.storage import Database, store, trial_writes
from bo_loop.storage.outcomes import tell_values
from bo_loop.tell_checks import parse_round
from bo_loop.trial import Trial, TrialState

MAX_ASK = 1000


class Campaign(ModelViews, Corrections, DataEntry, OutcomeViews):
    """A Bayesian-optimisation campaign stored in a database.

    Create one with :meth:`create`, open it anywhere with :meth:`load`.
    """

    def __init__(self, db: Database, record: store.CampaignRecord):
        self._db = db
        self._id = record.id
        self.name = record.name
        self._apply_config(record.config)

    def _apply_config(self, raw: Mapping[str, Any]) -> CampaignConfig:
        """Adopt the stored config (read anew by every call that uses it)."""
        self._config = CampaignConfig.from_json(raw, self.name)
        return self._config

    @property
    def config(self) -> CampaignConfig:
        """The campaign's settings as last read from the database."""
        return self._config

    @property
    def space(self) -> Space:
        return self._config.space

    @property
    def seed(self) -> int:
        return self._config.seed

    @property
    def parameter_constraints(self) -> tuple[LinearConstraint, ...]:
        """The linear constraints every proposal satisfies."""
        return self._config.parameter_constraints

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        name: str,
        parameters: Sequence[Parameter] | Space,
        objective: Objective | str | None = None,
        *,
        objectives: Sequence[Objective] | None = None,
        outcome_constraints: Sequence[OutcomeConstraint] = (),
        storage: str | os.PathLike[str] | None = None,
        surrogate: str = "gp",
        surrogate_settings: Mapping[str, Any] | None = None,
        seed: int = 0,
        initial_design_size: int | None = None,
        acquisition_settings: Mapping[str, Any] | None = None,
        parameter_constraints: Sequence[LinearConstraint] = (),
    ) -> Campaign:
        """Create and store a new campaign.

        Args:
            name: Unique within the storage.
            parameters: ``bl.Real``, ``bl.Integer`` and ``bl.Categorical`` parameters.
            objective: A ``bl.Objective``, or just the outcome's name (then maximised);
                default ``"objective"``.
            objectives: Several objectives instead, e.g. ``[bl.Objective("yield", "maximize",
                bounds=(0, 100)), bl.Objective("cost", "minimize")]`` (not with ``objective``).
                Proposals then improve the Pareto front (qLogNEHVI); see :meth:`pareto_front`.
            outcome_constraints: ``bl.OutcomeConstraint`` objects such as
                ``OutcomeConstraint("purity", ">=", 95.0)``: on an objective or on an outcome
                measured only for the constraint. Proposals favour points likely to meet them;
                ``best`` and ``pareto_front`` count only trials that meet them.
            storage: A SQLAlchemy URL or a SQLite file path; default ``$BO_LOOP_STORAGE`` or
                ``sqlite:///campaigns.db``.
            surrogate: ``"gp"`` or ``"dngo"``.
            surrogate_settings: Options of that surrogate (stored with the campaign; see
                ``bo_loop.models.surrogates``). Checked here: a bad value is refused at create.
            seed: Makes every proposal reproducible.
            initial_design_size: Sobol points before the surrogate takes over; default
                ``max(5, 2 * number of parameters)``.
            acquisition_settings: The acquisition optimiser's effort: ``num_restarts`` (10),
                ``raw_samples`` (512), ``mc_samples`` (256); with two or more objectives 5, 128
                and 64 (``acquisition.MULTI_OBJECTIVE_DEFAULTS``). ``batch``: how a batch is
                scored (``"logei_qlognei"``: its first point as a single ask, the rest by qLogNEI
                with the earlier points pending; see ``acquisition.build_acquisition``).
            parameter_constraints: ``bl.LinearConstraint`` objects over real and integer
                parameters (not log-scale ones), in the parameters' own units: every proposal
                satisfies them. Checked here, with a linear program: they must leave some point.

        Raises:
            CampaignExistsError: the name is taken (the message says how to load it).
            BoLoopError: a subclass naming the rule and value, for any bad argument.
        """
        name = check_campaign_name(name)
        config = build_config(
            parameters, objective, objectives=objectives, outcome_constraints=outcome_constraints,
            surrogate=surrogate, surrogate_settings=surrogate_settings,
            seed=seed, initial_design_size=initial_design_size,
            acquisition_settings=acquisition_settings,
            parameter_constraints=parameter_constraints,
        ).to_json()  # fmt: skip
        db = Database(storage)
        record = db.run(lambda s: store.create_campaign(s, name, config))
        return cls(db, record)

    @classmethod
    def load(cls, name: str, *, storage: str | os.PathLike[str] | None = None) -> Campaign:
        """Open a stored campaign.

        Raises:
            CampaignNotFoundError: no such campaign (the message lists those that exist).
            StorageError: a SQLite file that does not exist (nothing is created).
        """
        db = Database(storage, create=False)
        record = db.run(lambda s: store.get_campaign(s, name), write=False)
        return cls(db, record)

    @staticmethod
    def delete(name: str, *, storage: str | os.PathLike[str] | None = None) -> int:
        """Delete a stored campaign and every trial of it; returns the number of trials deleted.

        Raises:
            CampaignNotFoundError: no such campaign.
        """
        return Database(storage, create=False).run(lambda s: store.delete_campaign(s, name))

    @staticmethod
    def list(storage: str | os.PathLike[str] | None = None) -> builtins.list[str]:
        """Names of the campaigns in a storage (a SQLite file that does not exist: StorageError)."""
        return Database(storage, create=False).run(store.list_campaigns, write=False)

    # -- the loop --------------------------------------------------------------------------

    @property
    def storage(self) -> str:
        """The campaign's storage URL, password hidden."""
        return self._db.display_url

    @property
    def surrogate(self) -> str:
        return self._config.surrogate

    @property
    def surrogate_settings(self) -> dict[str, Any]:
        return dict(self._config.surrogate_settings)

    def ask(self, n: int = 1, *, fixed: Mapping[str, Any] | None = None) -> builtins.list[Trial]:
        """Propose ``n`` experiments and store them as pending trials at once.

        Trials still pending count as under evaluation, so new proposals keep away from them.

        Args:
            n: How many experiments.
            fixed: Values held for this ask only, e.g. ``{"temperature": 80.0}``: every proposal
                has them (kept in its provenance as ``fixed``).

        Raises:
            SpaceError: ``fixed`` names an unknown parameter, holds a value out of its bounds,
                or leaves no point satisfying the parameter constraints.
        """
        n = check_int(n, "n", 1, MAX_ASK)
        held = check_fixed(self.space, self.parameter_constraints, fixed)

        def work(session: Session) -> builtins.list[Trial]:
            record = store.get_campaign(session, self.name, lock=True)
            c = self._apply_config(record.config)
            names = c.outcomes.names
            trials = store.read_trials(session, record.id, value_name(c.outcomes), names)
            proposals = propose(
                c.space, c.objective, trials, n, seed=c.seed, surrogate=c.surrogate,
                settings=c.surrogate_settings, acquisition=c.acquisition,
                design_size=c.initial_design_size,
                region=region_for(c.space, c.parameter_constraints, held),
                outcomes=None if c.outcomes.is_single else c.outcomes,
            )  # fmt: skip
            extra = {"fixed": held} if held else {}
            new = [
                trial_writes.NewTrial(p.params, "bo_loop", {**p.provenance, **extra})
                for p in proposals
            ]
            return trial_writes.insert_trials(
                session, record.id, value_name(c.outcomes), new, names
            )

        return self._db.run(work)

    def tell(
        self, number: int, value: float | Mapping[str, float], *, note: str | None = None
    ) -> Trial:
        """Record the measured outcome(s) of a pending trial.

        With several outcomes they may come in parts: ``tell(n, {"yield": 77.0})`` today,
        ``tell(n, {"cost": 2.9, "purity": 94.0})`` tomorrow. The trial stays PENDING (its
        ``missing`` lists what it waits for) until every outcome is in, then it is COMPLETED.
        A value already told is never overwritten: telling it again is refused (use
        :meth:`correct`).

        Args:
            number: The trial's number.
            value: A finite number (a campaign with one outcome), or ``{outcome: number}`` for
                some or all outcomes.
            note: An optional remark (e.g. "sample cloudy"), kept as the trial's ``reason``
                (see :meth:`to_dataframe` and :meth:`history`), as a failed trial keeps its own.

        Raises:
            ObservationError: an unknown outcome, a value that is not finite or lies outside
                its objective's bounds (nothing is stored).
            TrialStateError: the trial is not pending, or already holds one of the outcomes.
        """
        number = check_int(number, "trial number", 0)
        outcomes = self._config.outcomes
        if outcomes.is_single:
            v = outcomes.objectives[0].parse_value(value)
            return self._finish(number, TrialState.COMPLETED, value=v, reason=note, action="tell")
        values = outcomes.parse_values(value)
        if note is not None and not isinstance(note, str):
            raise InvalidArgumentError(f"reason must be a string, but got {note!r}.")
        return self._db.run(
            lambda s: tell_values(
                s, self._id, number, values, objective=value_name(outcomes),
                outcomes=outcomes.names, note=note,
            )
        )  # fmt: skip

    def fail(self, number: int, reason: str | None = None) -> Trial:
        """Mark a pending trial as failed (the experiment ran but gave no usable outcome)."""
        return self._finish(
            check_int(number, "trial number", 0), TrialState.FAILED, reason=reason, action="fail"
        )

    def abandon(self, number: int, reason: str | None = None) -> Trial:
        """Mark a pending trial as abandoned (it will not be run); its point may be proposed again."""
        return self._finish(
            check_int(number, "trial number", 0),
            TrialState.ABANDONED,
            reason=reason,
            action="abandon",
        )

    def _finish(
        self, number: int, state: TrialState, *, value: float | None = None,
        reason: str | None = None, action: str,
    ) -> Trial:  # fmt: skip
        if reason is not None and not isinstance(reason, str):
            raise InvalidArgumentError(f"reason must be a string, but got {reason!r}.")
        outcomes = self._config.outcomes
        return self._db.run(
            lambda s: trial_writes.finish_trial(
                s, self._id, number, state, objective=value_name(outcomes), value=value,
                reason=reason, action=action, outcomes=outcomes.names,
            )
        )  # fmt: skip

    def tell_many(
        self,
        values: Mapping[int, float | Mapping[str, float]]
        | Iterable[tuple[int, float | Mapping[str, float]]] = (),
        *,
        failed: Mapping[int, str | None] | Iterable[int] = (),
        abandoned: Mapping[int, str | None] | Iterable[int] = (),
        notes: Mapping[int, str] | None = None,
    ) -> builtins.list[Trial]:
        """Record a whole round in one transaction: every result is stored, or none is.

        Every entry is checked before anything is written (trial numbers, finite values,
        reasons, no trial twice); then one transaction moves every trial from PENDING to its
        new state. If any trial is unknown or no longer pending (a colleague told it meanwhile),
        the whole round is refused, the error names every such trial, and nothing is written.
        The cost grows with the round, not with the campaign.

        Args:
            values: The measured outcomes: ``{number: value}`` or ``(number, value)`` pairs, each
                value a finite number or ``{outcome: number}`` (with several outcomes, some or
                all of them: a trial completes once every outcome is in, as with :meth:`tell`).
            failed: Trials that ran without a usable outcome: ``{number: reason or None}``, or
                just their numbers.
            abandoned: Trials that will not be run, as ``failed``.
            notes: Remarks on trials of ``values`` (``{number: note}``), kept as their
                ``reason`` as `tell`'s ``note`` is.

        Returns:
            The trials recorded, as stored now, in number order.

        Raises:
            InvalidArgumentError, ObservationError: an entry breaks a rule (every bad entry is
                listed); nothing was written.
            TrialStateError, TrialNotFoundError: a trial is not pending or does not exist (every
                such trial is listed); nothing was written.
        """
        outcomes = self._config.outcomes
        round_ = parse_round(outcomes, values, failed, abandoned, notes or {})
        if not round_:
            return []
        return self._db.run(
            lambda s: trial_writes.finish_trials(
                s, self._id, value_name(outcomes), round_, outcomes.names
            )
        )

    # -- reading ---------------------------------------------------------------------------

    def trials(self, state: TrialState | str | None = None) -> builtins.list[Trial]:
        """Every trial, in number order; only those in ``state`` when given."""
        outcomes = self._config.outcomes
        all_trials = self._db.run(
            lambda s: store.read_trials(s, self._id, value_name(outcomes), outcomes.names),
            write=False,
        )
        if state is None:
            return all_trials
        wanted = TrialState(state) if isinstance(state, str) else state
        return [t for t in all_trials if t.state is wanted]

    def trial(self, number: int) -> Trial:
        """One trial by number (read alone: the cost does not grow with the campaign)."""
        found = None
        if isinstance(number, numbers.Integral) and not isinstance(number, bool):
            outcomes = self._config.outcomes
            found = self._db.run(
                lambda s: store.read_trial(
                    s, self._id, value_name(outcomes), int(number), outcomes.names
                ),
                write=False,
            )
        if found is None:
            raise TrialNotFoundError(f"No trial numbered {number!r} in campaign {self.name!r}.")
        return found

    def to_dataframe(self) -> pd.DataFrame:
        """One row per trial: number, state, parameters, one column per outcome, source,
        generator, timing (an outcome not told yet is empty).

        ``state`` is the trial's state, or ``"retracted"`` for a FAILED trial whose value was
        retracted (``Trial.label``). A campaign with parameter constraints has a ``violates``
        column too: the constraints a trial's settings break ("" for none), as
        :meth:`add_observation` flagged them.
        """
        names = list(self.outcomes)
        columns = ["number", "state", *self.space.names, *names, "source", "generator",
                   "reason", "created_at", "finished_at"]  # fmt: skip
        constrained = bool(self.parameter_constraints)
        rows = [
            {
                "number": t.number,
                "state": t.label,
                **t.params,
                **{name: t.values.get(name) for name in names},
                "source": t.source,
                "generator": t.provenance.get("generator"),
                "reason": t.reason,
                "created_at": t.created_at,
                "finished_at": t.finished_at,
                **(
                    {"violates": "; ".join(t.provenance.get("violates", []))} if constrained else {}
                ),
            }
            for t in self.trials()
        ]
        return pd.DataFrame(rows, columns=[*columns, *(["violates"] if constrained else [])])

    def __repr__(self) -> str:
        goals = ", ".join(f"{o.goal} {o.name!r}" for o in self.objectives)
        constraints = "".join(f", {c}" for c in self.outcome_constraints)
        return (
            f"Campaign({self.name!r}, {len(self.space)} parameters, {goals}{constraints}, "
            f"surrogate={self.surrogate!r}, storage={self.storage!r})"
        )

    def _repr_html_(self) -> str:
        from bo_loop.display import campaign_html

        return campaign_html(self)
