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
from datetime import timedelta
from typing import Any, Literal

import pandas as pd
from sqlalchemy.orm import Session

from bo_loop.audit import history_frame
from bo_loop.config import CampaignConfig, check_int
from bo_loop.constraints import LinearConstraint, check_fixed, violations
from bo_loop.exceptions import (
    BoLoopError,
    InvalidArgumentError,
    ObjectiveError,
    TrialNotFoundError,
)
from bo_loop.imports import ImportReport, parse_rows
from bo_loop.infer import infer_space
from bo_loop.models import surrogates
from bo_loop.models.constrained import region_for
from bo_loop.models.cross_validation import Comparison, compare
from bo_loop.models.fitting import FittedModel, TrainingData, fit_model
from bo_loop.models.propose import propose
from bo_loop.models.recommend import Recommendation, predict_rows, recommend_point
from bo_loop.objective import Objective
from bo_loop.space import NAME_RULE, Parameter, Space, has_bad_characters
from bo_loop.storage import Database, store
from bo_loop.trial import Trial, TrialState

MAX_ASK = 1000
_MAX_NAME = 255


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_NAME:
        raise InvalidArgumentError(
            f"A campaign name must be a non-empty string of at most {_MAX_NAME} characters, "
            f"but got {name!r}."
        )
    if has_bad_characters(name):
        raise InvalidArgumentError(f"A campaign name {NAME_RULE}, but got {name!r}.")
    return name


class Campaign:
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
        name = _check_name(name)
        config = _build_config(
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
        round_ = self._parse_round(values, failed, abandoned, notes or {})
        if not round_:
            return []
        return self._db.run(lambda s: store.finish_trials(s, self._id, self.objective.name, round_))

    def _parse_round(
        self, values: object, failed: object, abandoned: object, notes: Mapping[int, str]
    ) -> builtins.list[store.Finish]:
        """Check every entry of a round; raise one error listing every bad entry."""
        items: builtins.list[store.Finish] = []
        problems: builtins.list[tuple[str, BoLoopError]] = []
        seen: dict[int, str] = {}

        def entries(arg: object, label: str, pairs: bool) -> builtins.list[tuple[object, object]]:
            if isinstance(arg, Mapping):
                return builtins.list(arg.items())
            if isinstance(arg, str | bytes) or not isinstance(arg, Iterable):
                kind = "a dict {number: value}" if pairs else "a dict {number: reason}"
                raise InvalidArgumentError(
                    f"{label} must be {kind} or a list of "
                    f"{'(number, value) pairs' if pairs else 'trial numbers'}, but got {arg!r}."
                )
            out: builtins.list[tuple[object, object]] = []
            for entry in arg:
                if not pairs:
                    out.append((entry, None))
                elif isinstance(entry, tuple) and len(entry) == 2:
                    out.append(entry)
                else:
                    raise InvalidArgumentError(
                        f"{label} must hold (number, value) pairs, but got the entry {entry!r}."
                    )
            return out

        for label, arg, state in (
            ("values", values, TrialState.COMPLETED),
            ("failed", failed, TrialState.FAILED),
            ("abandoned", abandoned, TrialState.ABANDONED),
        ):
            for raw_number, payload in entries(arg, label, state is TrialState.COMPLETED):
                try:
                    number = check_int(raw_number, "trial number", 0)
                except BoLoopError as e:
                    problems.append((f"{label} entry {raw_number!r}", e))
                    continue
                where = f"trial {number} ({label})"
                if number in seen:
                    problems.append((where, InvalidArgumentError(
                        f"A round gives each trial one result, but trial {number} appears "
                        f"twice (in {seen[number]} and in {label})."
                    )))  # fmt: skip
                    continue
                seen[number] = label
                try:
                    if state is TrialState.COMPLETED:
                        v = self.objective.parse_value(payload)
                        note = notes.get(number)
                        if note is not None and not isinstance(note, str):
                            raise InvalidArgumentError(
                                f"A note must be a string, but got {note!r}."
                            )
                        items.append(store.Finish(number, state, value=v, reason=note))
                    elif payload is not None and not isinstance(payload, str):
                        raise InvalidArgumentError(f"reason must be a string, but got {payload!r}.")
                    else:
                        items.append(store.Finish(number, state, reason=payload))
                except BoLoopError as e:
                    problems.append((where, e))
        if len(problems) == 1:
            raise problems[0][1]
        if problems:
            kinds = {type(e) for _, e in problems}
            kind = kinds.pop() if len(kinds) == 1 else InvalidArgumentError
            lines = "".join(f"\n  {where}: {e}" for where, e in problems)
            raise kind(
                f"{len(problems)} entries of the round broke the rules; nothing was recorded:"
                + lines
            )
        return items

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

    # -- the model -------------------------------------------------------------------------

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
        return recommend_point(
            fitted, float(risk_aversion), within=within, acquisition=self._config.acquisition
        )

    def __repr__(self) -> str:
        return (
            f"Campaign({self.name!r}, {len(self.space)} parameters, {self.objective.goal} "
            f"{self.objective.name!r}, surrogate={self.surrogate!r}, storage={self.storage!r})"
        )

    # -- corrections and housekeeping ------------------------------------------------------

    @staticmethod
    def _check_reason(reason: object) -> str:
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidArgumentError(
                f"A correction needs a reason: a non-empty string, but got reason={reason!r}."
            )
        return reason

    def correct(self, number: int, value: float | Mapping[str, float], reason: str) -> Trial:
        """Replace the told value of a completed trial, keeping the old one in its history.

        A failed, retracted or abandoned trial can be corrected too: it becomes COMPLETED with
        ``value`` (its old state stays in the history). The next ask trains on the corrected value.

        Args:
            number: The trial's number.
            value: The right value: a finite number, or ``{objective_name: number}``.
            reason: Why the value changed (kept in :meth:`history`).

        Raises:
            TrialStateError: the trial is pending (tell it instead).
        """
        number = check_int(number, "trial number", 0)
        v = self.objective.parse_value(value)
        why = self._check_reason(reason)
        self._db.run(
            lambda s: store.correct_observation(
                s, self._id, number, objective=self.objective.name, value=v, reason=why
            )
        )
        return self.trial(number)

    def retract(self, number: int, reason: str) -> Trial:
        """Withdraw the told value of a completed trial: it no longer counts for anything.

        The trial then has state FAILED with reason ``"retracted: <reason>"`` (the experiment ran
        but its outcome is not usable), so the model ignores it and its point is not proposed
        again; ``to_dataframe`` and ``bo-loop status`` label it ``retracted`` (``Trial.label``).
        The value stays in :meth:`history`; :meth:`correct` brings the trial back.
        """
        number = check_int(number, "trial number", 0)
        why = self._check_reason(reason)
        self._db.run(
            lambda s: store.retract_observation(
                s, self._id, number, objective=self.objective.name, reason=why
            )
        )
        return self.trial(number)

    def reopen(self, number: int, reason: str) -> Trial:
        """Return a failed (or retracted) or abandoned trial to PENDING, to be told again.

        For a trial marked failed or abandoned by mistake: its reason is cleared, the state it had
        stays in :meth:`history`. (To give it a value at once, :meth:`correct` it instead.)

        Raises:
            TrialStateError: the trial is pending or completed.
        """
        number = check_int(number, "trial number", 0)
        why = self._check_reason(reason)
        self._db.run(lambda s: store.reopen_trial(s, self._id, number, reason=why))
        return self.trial(number)

    def history(self, number: int | None = None) -> pd.DataFrame:
        """Every change of every trial (or of one), oldest first.

        Columns: number, at (UTC), action (ask, add, tell, fail, abandon, correct, retract, reopen),
        old_state, new_state, old_value, new_value, reason.
        """
        if number is not None:
            number = check_int(number, "trial number", 0)
        events = self._db.run(lambda s: store.read_events(s, self._id, number), write=False)
        return history_frame(events)

    def abandon_stale(
        self, older_than: timedelta, reason: str | None = None
    ) -> builtins.list[Trial]:
        """Abandon every trial still pending after ``older_than``: a silent rig stops blocking.

        Abandoned points may be proposed again. A result that arrives later is not lost: store
        it with :meth:`correct` (or :meth:`reopen` the trial). Ages are measured against the
        trials' ``created_at``, written by the clock of the machine that asked.

        Returns:
            The trials abandoned, in number order.
        """
        if not isinstance(older_than, timedelta) or older_than <= timedelta(0):
            raise InvalidArgumentError(
                f"older_than must be a positive datetime.timedelta, but got {older_than!r}."
            )
        why = reason if reason is not None else f"no result within {older_than}"
        self._check_reason(why)
        cutoff = store.utcnow() - older_than
        return self._abandon_many(why, created_before=cutoff)

    def abandon_pending(
        self, reason: str, numbers: Sequence[int] | None = None
    ) -> builtins.list[Trial]:
        """Abandon every pending trial (or those of ``numbers`` still pending) in one transaction.

        Returns:
            The trials abandoned, in number order; trials no longer pending are left as they are.
        """
        why = self._check_reason(reason)
        wanted = None
        if numbers is not None:
            if isinstance(numbers, str | bytes) or not isinstance(numbers, Sequence):
                raise InvalidArgumentError(
                    f"numbers must be a list of trial numbers, but got {numbers!r}."
                )
            wanted = [check_int(n, "trial number", 0) for n in numbers]
        return self._abandon_many(why, numbers=wanted)

    def _abandon_many(self, reason: str, **where: Any) -> builtins.list[Trial]:
        def work(session: Session) -> builtins.list[Trial]:
            done = set(store.abandon_pending(session, self._id, reason=reason, **where))
            trials = store.read_trials(session, self._id, self.objective.name)
            return [t for t in trials if t.number in done]

        return self._db.run(work)

    def verify(self) -> builtins.list[str]:
        """Check the stored campaign for anything half-written; an empty list means sound.

        Trial numbers run 0..n-1 without gap or duplicate, a trial is COMPLETED exactly when it has
        a value, and every trial's history ends in its current state and value.
        """
        return self._db.run(
            lambda s: store.integrity_problems(s, self._id, self.objective.name), write=False
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
        name = _check_name(name)
        built = _build_config(space, objective, **create_options)
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

    def _repr_html_(self) -> str:
        from bo_loop.display import campaign_html

        return campaign_html(self)


def _build_config(
    parameters: Sequence[Parameter] | Space,
    objective: Objective | str,
    **options: Any,
) -> CampaignConfig:
    """The checked config of a new campaign (see `Campaign.create` for the options)."""
    space = parameters if isinstance(parameters, Space) else Space(parameters)
    if isinstance(objective, str):
        objective = Objective(objective)
    if not isinstance(objective, Objective):
        raise ObjectiveError(f"objective must be a bl.Objective or a name, but got {objective!r}.")
    return CampaignConfig.build(space, objective, **options)


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
