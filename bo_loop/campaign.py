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
from typing import Any, Literal

import pandas as pd
from sqlalchemy.orm import Session

from bo_loop.campaign_model import ModelViews
from bo_loop.config import CampaignConfig, build_config, check_campaign_name, check_int
from bo_loop.constraints import LinearConstraint, check_fixed, violations
from bo_loop.corrections import Corrections
from bo_loop.exceptions import (
    InvalidArgumentError,
    TrialNotFoundError,
)
from bo_loop.imports import ImportReport, parse_rows
from bo_loop.infer import infer_space
from bo_loop.models.constrained import region_for
from bo_loop.models.propose import propose
from bo_loop.objective import Objective
from bo_loop.space import Parameter, Space
from bo_loop.storage import Database, store
from bo_loop.tell_checks import parse_round
from bo_loop.trial import Trial, TrialState

MAX_ASK = 1000


class Campaign(ModelViews, Corrections):
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
    def objective(self) -> Objective:
        return self._config.objective

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
        objective: Objective | str = "objective",
        *,
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
            objective: A ``bl.Objective``, or just the outcome's name (then maximised).
            storage: A SQLAlchemy URL or a SQLite file path; default ``$BO_LOOP_STORAGE`` or
                ``sqlite:///campaigns.db``.
            surrogate: ``"gp"`` or ``"dngo"``.
            surrogate_settings: Options of that surrogate (stored with the campaign; see
                ``bo_loop.models.surrogates``). Checked here: a bad value is refused at create.
            seed: Makes every proposal reproducible.
            initial_design_size: Sobol points before the surrogate takes over; default
                ``max(5, 2 * number of parameters)``.
            acquisition_settings: The acquisition optimiser's effort: ``num_restarts`` (10),
                ``raw_samples`` (512), ``mc_samples`` (256).
            parameter_constraints: ``bl.LinearConstraint`` objects over real and integer
                parameters (not log-scale ones), in the parameters' own units: every proposal
                satisfies them. Checked here, with a linear program: they must leave some point.

        Raises:
            CampaignExistsError: the name is taken (the message says how to load it).
            BoLoopError: a subclass naming the rule and value, for any bad argument.
        """
        name = check_campaign_name(name)
        config = build_config(
            parameters, objective, surrogate=surrogate, surrogate_settings=surrogate_settings,
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
            trials = store.read_trials(session, record.id, c.objective.name)
            proposals = propose(
                c.space, c.objective, trials, n, seed=c.seed, surrogate=c.surrogate,
                settings=c.surrogate_settings, acquisition=c.acquisition,
                design_size=c.initial_design_size,
                region=region_for(c.space, c.parameter_constraints, held),
            )  # fmt: skip
            extra = {"fixed": held} if held else {}
            new = [
                store.NewTrial(p.params, "bo_loop", {**p.provenance, **extra}) for p in proposals
            ]
            return store.insert_trials(session, record.id, self.objective.name, new)

        return self._db.run(work)

    def tell(
        self, number: int, value: float | Mapping[str, float], *, note: str | None = None
    ) -> Trial:
        """Record the measured outcome of a pending trial.

        Args:
            number: The trial's number.
            value: A finite number, or ``{objective_name: number}``.
            note: An optional remark (e.g. "sample cloudy"), kept as the trial's ``reason``
                (see :meth:`to_dataframe` and :meth:`history`), as a failed trial keeps its own.
        """
        number = check_int(number, "trial number", 0)
        v = self.objective.parse_value(value)
        return self._finish(number, TrialState.COMPLETED, value=v, reason=note, action="tell")

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
        return self._db.run(
            lambda s: store.finish_trial(
                s, self._id, number, state, objective=self.objective.name, value=value,
                reason=reason, action=action,
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
                value a finite number or ``{objective_name: number}``.
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
        round_ = parse_round(self.objective, values, failed, abandoned, notes or {})
        if not round_:
            return []
        return self._db.run(lambda s: store.finish_trials(s, self._id, self.objective.name, round_))

    def add_observation(
        self, params: Mapping[str, Any], value: float | Mapping[str, float]
    ) -> Trial:
        """Store a point measured without being asked (the operator's own choice).

        A point that breaks a parameter constraint is stored all the same (it was measured) and
        flagged: its provenance lists the constraints under ``violates``.
        """
        clean = self.space.validate(params)
        v = self.objective.parse_value(value)
        provenance = _flagged({"generator": "manual"}, clean, self.parameter_constraints)
        item = store.NewTrial(clean, "manual", provenance, TrialState.COMPLETED, v)
        return self._db.run(lambda s: self._insert_locked(s, [item]))[0]

    def add_observations(
        self,
        data: pd.DataFrame | Sequence[Mapping[str, Any]] | str | os.PathLike[str],
        *,
        on_error: Literal["raise", "skip"] = "raise",
    ) -> ImportReport:
        """Store measured rows (parameter columns + the objective's column) from a DataFrame or CSV.

        Every row is validated. With ``on_error="raise"`` (default) nothing is stored if any row
        is bad, and the ImportRowsError lists each bad row and the rule it broke; with
        ``on_error="skip"`` the valid rows are stored and the rejects returned. Rows that break
        a parameter constraint are stored and flagged, as by :meth:`add_observation`.
        """
        valid, rejected = parse_rows(data, self.space, self.objective, on_error=on_error)
        items = _imported(valid, self.parameter_constraints)
        added = self._db.run(lambda s: self._insert_locked(s, items)) if items else []
        return ImportReport(added=added, rejected=rejected)

    def _insert_locked(
        self, session: Session, items: Sequence[store.NewTrial]
    ) -> builtins.list[Trial]:
        record = store.get_campaign(session, self.name, lock=True)
        return store.insert_trials(session, record.id, self.objective.name, items)

    # -- reading ---------------------------------------------------------------------------

    def trials(self, state: TrialState | str | None = None) -> builtins.list[Trial]:
        """Every trial, in number order; only those in ``state`` when given."""
        all_trials = self._db.run(
            lambda s: store.read_trials(s, self._id, self.objective.name), write=False
        )
        if state is None:
            return all_trials
        wanted = TrialState(state) if isinstance(state, str) else state
        return [t for t in all_trials if t.state is wanted]

    def trial(self, number: int) -> Trial:
        """One trial by number (read alone: the cost does not grow with the campaign)."""
        found = None
        if isinstance(number, numbers.Integral) and not isinstance(number, bool):
            found = self._db.run(
                lambda s: store.read_trial(s, self._id, self.objective.name, int(number)),
                write=False,
            )
        if found is None:
            raise TrialNotFoundError(f"No trial numbered {number!r} in campaign {self.name!r}.")
        return found

    def best(self) -> Trial | None:
        """The completed trial with the best observed outcome, or None before any is told."""
        done = self.trials(TrialState.COMPLETED)
        if not done:
            return None
        sign = self.objective.sign
        return max(done, key=lambda t: (sign * float(t.value), -t.number))  # type: ignore[arg-type]

    def to_dataframe(self) -> pd.DataFrame:
        """One row per trial: number, state, parameters, outcome, source, generator, timing.

        ``state`` is the trial's state, or ``"retracted"`` for a FAILED trial whose value was
        retracted (``Trial.label``). A campaign with parameter constraints has a ``violates``
        column too: the constraints a trial's settings break ("" for none), as
        :meth:`add_observation` flagged them.
        """
        columns = ["number", "state", *self.space.names, self.objective.name, "source", "generator",
                   "reason", "created_at", "finished_at"]  # fmt: skip
        constrained = bool(self.parameter_constraints)
        rows = [
            {
                "number": t.number,
                "state": t.label,
                **t.params,
                self.objective.name: t.value,
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
        return (
            f"Campaign({self.name!r}, {len(self.space)} parameters, {self.objective.goal} "
            f"{self.objective.name!r}, surrogate={self.surrogate!r}, storage={self.storage!r})"
        )

    # -- notebooks -------------------------------------------------------------------------

    @classmethod
    def from_dataframe(
        cls,
        name: str,
        data: pd.DataFrame,
        objective: Objective | str,
        *,
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
            data: Parameter columns and the objective's column.
            objective: A ``bl.Objective``, or the outcome column's name (then maximised).
            storage: As for :meth:`create`.
            parameters: The columns to use as parameters; default all but the outcome.
            overrides: Parameter definitions to use instead of inferred ones, by column.
            log: Number columns to search on a log scale.
            on_error: ``"skip"`` stores the valid rows only.
            **create_options: Passed to :meth:`create` (``surrogate``, ``seed``, ...).
        """
        objective = Objective(objective) if isinstance(objective, str) else objective
        space = infer_space(
            data, objective.name, parameters=parameters, overrides=overrides, log=log
        )
        rows = data[[*space.names, objective.name]]
        name = check_campaign_name(name)
        built = build_config(space, objective, **create_options)
        config = built.to_json()
        valid, _ = parse_rows(rows, space, objective, on_error=on_error)
        items = _imported(valid, built.parameter_constraints)

        def work(session: Session) -> store.CampaignRecord:
            record = store.create_campaign(session, name, config)
            if items:
                store.insert_trials(session, record.id, objective.name, items)
            return record

        db = Database(storage)
        return cls(db, db.run(work))

    def _repr_html_(self) -> str:
        from bo_loop.display import campaign_html

        return campaign_html(self)


def _imported(
    valid: Sequence[tuple[dict[str, Any], float]],
    constraints: Sequence[LinearConstraint] = (),
) -> list[store.NewTrial]:
    """Validated imported rows as completed trials of source "manual" (flagged as `_flagged`)."""
    return [
        store.NewTrial(
            params,
            "manual",
            _flagged({"generator": "manual", "import": True}, params, constraints),
            TrialState.COMPLETED,
            v,
        )
        for params, v in valid
    ]


def _flagged(
    provenance: dict[str, Any], params: Mapping[str, Any], constraints: Sequence[LinearConstraint]
) -> dict[str, Any]:
    """``provenance`` with ``violates``: the constraints a measured point breaks, if any."""
    broken = violations(params, constraints)
    return {**provenance, "violates": broken} if broken else provenance
