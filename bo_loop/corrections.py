"""The audit-trail half of `Campaign`: corrections, retractions, reopening, history, abandoning
trials in bulk, and the integrity check. Every change keeps the old value, the time and the reason.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy.orm import Session

from bo_loop.audit import history_frame
from bo_loop.config import CampaignConfig, check_int
from bo_loop.exceptions import InvalidArgumentError
from bo_loop.storage import Database, store
from bo_loop.storage import corrections as stored_corrections
from bo_loop.trial import Trial


class Corrections:
    """Methods of `Campaign` that fix the record; they need its database, id and config."""

    _db: Database
    _id: int
    _config: CampaignConfig

    if TYPE_CHECKING:

        def trial(self, number: int) -> Trial: ...

    @staticmethod
    def _check_reason(reason: object) -> str:
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidArgumentError(
                f"A correction needs a reason: a non-empty string, but got reason={reason!r}."
            )
        return reason

    def correct(self, number: int, value: float | Mapping[str, float], reason: str) -> Trial:
        """Replace told values of a trial, keeping the old ones in its history.

        A failed, retracted or abandoned trial can be corrected too: it becomes COMPLETED with
        ``value`` (its old state stays in the history). The next ask trains on the corrected value.
        With several outcomes, ``value`` is ``{outcome: number}`` for the outcomes to replace
        (the others keep their values); a pending trial told in part may have the values it
        holds corrected; a failed or abandoned trial needs every outcome it does not hold.
        A value equal to the one stored changes nothing and adds no history row: correcting a
        trial to the values it holds records nothing.

        Args:
            number: The trial's number.
            value: The right value: a finite number, or ``{outcome: number}``.
            reason: Why the value changed (kept in :meth:`history`).

        Raises:
            TrialStateError: the trial is pending without that value (tell it instead), or
                would be completed without every outcome.
        """
        number = check_int(number, "trial number", 0)
        outcomes = self._config.outcomes
        values = outcomes.parse_values(value)
        why = self._check_reason(reason)
        single = outcomes.objectives[0].name if len(outcomes.objectives) == 1 else None
        self._db.run(
            lambda s: stored_corrections.correct_observation(
                s, self._id, number, objective=single, values=values, reason=why,
                outcomes=outcomes.names,
            )
        )  # fmt: skip
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
            lambda s: stored_corrections.retract_observation(
                s, self._id, number, objective=None, reason=why
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
        self._db.run(lambda s: stored_corrections.reopen_trial(s, self._id, number, reason=why))
        return self.trial(number)

    def history(self, number: int | None = None) -> pd.DataFrame:
        """Every change of every trial (or of one), oldest first.

        Columns: number, at (UTC), action (ask, add, tell, fail, abandon, correct, retract, reopen),
        old_state, new_state, old_value, new_value, reason, outcome (whose value changed: a tell
        of several outcomes is one row per outcome; empty for events without a value).
        """
        if number is not None:
            number = check_int(number, "trial number", 0)
        events = self._db.run(
            lambda s: stored_corrections.read_events(s, self._id, number), write=False
        )
        return history_frame(events, self._config.objectives[0].name)

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
            done = set(
                stored_corrections.abandon_pending(session, self._id, reason=reason, **where)
            )
            outcomes = self._config.outcomes
            single = outcomes.objectives[0].name if len(outcomes.objectives) == 1 else None
            trials = store.read_trials(session, self._id, single, outcomes.names)
            return [t for t in trials if t.number in done]

        return self._db.run(work)

    def verify(self) -> builtins.list[str]:
        """Check the stored campaign for anything half-written; an empty list means sound.

        Trial numbers run 0..n-1 without gap or duplicate, a trial is COMPLETED exactly when it has
        a value, and every trial's history ends in its current state and value.
        """
        return self._db.run(
            lambda s: stored_corrections.integrity_problems(
                s, self._id, self._config.objective.name, self._config.outcomes.names
            ),
            write=False,
        )
