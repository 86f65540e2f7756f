"""Corrections and housekeeping in the database: correcting, retracting and reopening a trial,
abandoning pending trials in bulk, reading the audit trail, and the integrity check."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bo_loop.audit import TrialEvent
from bo_loop.exceptions import TrialNotFoundError, TrialStateError
from bo_loop.storage.store import _aware, _log, _observation, count_trials, utcnow
from bo_loop.storage.tables import ObservationRow, TrialEventRow, TrialRow
from bo_loop.trial import RETRACTED_REASON, TrialState

#: The reason a retracted trial shows, before the user's own words.
RETRACTED = RETRACTED_REASON


def _locked_trial(session: Session, campaign_id: int, number: int, action: str) -> TrialRow:
    """The trial row, locked until the transaction ends so two corrections cannot interleave."""
    row = session.scalar(
        select(TrialRow)
        .where(TrialRow.campaign_id == campaign_id, TrialRow.number == number)
        .with_for_update()
    )
    if row is None:
        count = count_trials(session, campaign_id)
        known = f"0..{count - 1}" if count else "none yet"
        raise TrialNotFoundError(
            f"Cannot {action} trial {number}: no such trial (trial numbers here: {known})."
        )
    return row


def correct_observation(
    session: Session, campaign_id: int, number: int, *, objective: str, value: float, reason: str
) -> None:
    """Replace the value of a completed trial, or give a failed, retracted or abandoned one a value.

    The old value stays in ``trial_events``; ``observations`` holds the value that counts now.
    """
    row = _locked_trial(session, campaign_id, number, "correct")
    old_state = TrialState(row.state)
    value = float(value) + 0.0
    now = utcnow()
    if old_state is TrialState.COMPLETED:
        current = _observation(session, row.id, objective)
        if current is None:  # cannot happen in a consistent database; refuse rather than guess
            raise TrialStateError(
                f"Cannot correct trial {number}: it is COMPLETED but has no value."
            )
        old_value: float | None = current.value
        current.value = value
    elif old_state is not TrialState.PENDING:
        # FAILED (or retracted) and ABANDONED trials too: a trial marked failed by mistake, or a
        # rig that reported after all, gets its value; the old state stays in the history.
        old_value = None
        session.add(ObservationRow(trial_id=row.id, name=objective, value=value, created_at=now))
        row.state = TrialState.COMPLETED.value
        row.reason = None
    else:
        raise TrialStateError(
            f"Cannot correct a PENDING trial: only a finished (COMPLETED, FAILED or ABANDONED) "
            f"trial can be corrected, and trial {number} is PENDING. Tell it instead: "
            f"campaign.tell({number}, value)."
        )
    _log(session, row, "correct", old_state, TrialState.COMPLETED, old_value, value, reason, now)
    session.flush()


def retract_observation(
    session: Session, campaign_id: int, number: int, *, objective: str, reason: str
) -> None:
    """Withdraw the value of a completed trial: it no longer counts, and the trial shows FAILED.

    FAILED (with the reason ``"retracted: ..."``) is the state of "ran, but gave no usable
    outcome": the model ignores its value and never proposes the point again. The value itself
    stays in ``trial_events``, and :func:`correct_observation` can restore the trial.
    """
    row = _locked_trial(session, campaign_id, number, "retract")
    if row.state != TrialState.COMPLETED.value:
        raise TrialStateError(
            f"Cannot retract a {row.state.upper()} trial: only a COMPLETED trial has a value to "
            f"retract, and trial {number} is {row.state.upper()}."
        )
    current = _observation(session, row.id, objective)
    old_value = None if current is None else current.value
    if current is not None:
        session.delete(current)
    row.state = TrialState.FAILED.value
    row.reason = RETRACTED + reason
    now = utcnow()
    _log(
        session,
        row,
        "retract",
        TrialState.COMPLETED,
        TrialState.FAILED,
        old_value,
        None,
        reason,
        now,
    )
    session.flush()


def reopen_trial(session: Session, campaign_id: int, number: int, *, reason: str) -> None:
    """Return a FAILED (or retracted) or ABANDONED trial to PENDING, to be told or failed anew.

    Its reason and ``finished_at`` are cleared; the state it had stays in ``trial_events``.
    """
    row = _locked_trial(session, campaign_id, number, "reopen")
    old_state = TrialState(row.state)
    if old_state not in (TrialState.FAILED, TrialState.ABANDONED):
        raise TrialStateError(
            f"Cannot reopen a {old_state.name} trial: only a FAILED or ABANDONED trial can be "
            f"reopened, and trial {number} is {old_state.name}."
            + (
                f" To change its value, use campaign.correct({number}, value, reason=...)."
                if old_state is TrialState.COMPLETED
                else ""
            )
        )
    row.state = TrialState.PENDING.value
    row.finished_at = None
    row.reason = None
    _log(session, row, "reopen", old_state, TrialState.PENDING, None, None, reason, utcnow())
    session.flush()


def abandon_pending(
    session: Session,
    campaign_id: int,
    *,
    reason: str,
    created_before: datetime | None = None,
    numbers: Sequence[int] | None = None,
) -> list[int]:
    """Abandon pending trials in one conditional UPDATE; returns the numbers abandoned.

    Only trials still PENDING when the UPDATE runs are touched, so a tell that commits first wins
    and is never overwritten.

    Args:
        reason: Stored on each trial and in its history.
        created_before: Only trials proposed before this moment (UTC).
        numbers: Only these trials.
    """
    if numbers is not None:
        # All or none: a mistyped number is refused before anything is abandoned.
        known = set(
            session.scalars(
                select(TrialRow.number).where(
                    TrialRow.campaign_id == campaign_id, TrialRow.number.in_(list(numbers))
                )
            )
        )
        missing = sorted(set(numbers) - known)
        if missing:
            count = count_trials(session, campaign_id)
            here = f"0..{count - 1}" if count else "none yet"
            what = (
                f"trial {missing[0]}: no such trial"
                if len(missing) == 1
                else (f"trials {', '.join(map(str, missing))}: no such trials")
            )
            raise TrialNotFoundError(f"Cannot abandon {what} (trial numbers here: {here}).")
    now = utcnow()
    query = update(TrialRow).where(
        TrialRow.campaign_id == campaign_id, TrialRow.state == TrialState.PENDING.value
    )
    if created_before is not None:
        query = query.where(TrialRow.created_at < created_before)
    if numbers is not None:
        query = query.where(TrialRow.number.in_(list(numbers)))
    result = session.execute(
        query.values(state=TrialState.ABANDONED.value, finished_at=now, reason=reason)
        .returning(TrialRow.id, TrialRow.number)
        .execution_options(synchronize_session=False)
    )
    done = sorted(result.all(), key=lambda r: r[1])
    for trial_id, _number in done:
        session.add(
            TrialEventRow(
                campaign_id=campaign_id, trial_id=trial_id, action="abandon",
                old_state=TrialState.PENDING.value, new_state=TrialState.ABANDONED.value,
                old_value=None, new_value=None, reason=reason, created_at=now,
            )
        )  # fmt: skip
    session.flush()
    return [int(n) for _, n in done]


def read_events(session: Session, campaign_id: int, number: int | None = None) -> list[TrialEvent]:
    """The audit trail of a campaign (or one trial), oldest first."""
    query = (
        select(TrialEventRow, TrialRow.number)
        .join(TrialRow, TrialRow.id == TrialEventRow.trial_id)
        .where(TrialEventRow.campaign_id == campaign_id)
        .order_by(TrialEventRow.id)
    )
    if number is not None:
        query = query.where(TrialRow.number == number)
    out = []
    for event, trial_number in session.execute(query):
        at = _aware(event.created_at)
        assert at is not None
        out.append(
            TrialEvent(
                number=trial_number, at=at, action=event.action,
                old_state=event.old_state, new_state=event.new_state,
                old_value=event.old_value, new_value=event.new_value, reason=event.reason,
            )
        )  # fmt: skip
    return out


def integrity_problems(session: Session, campaign_id: int, objective: str) -> list[str]:
    """Everything that would show a half-written or lost change; an empty list when sound.

    Checks: trial numbers run 0..n-1 without gap or duplicate; a trial is COMPLETED exactly when
    it has one value; only finished trials have ``finished_at``; each trial's last audit event
    agrees with its state and current value.
    """
    problems: list[str] = []
    trials = session.execute(
        select(TrialRow.id, TrialRow.number, TrialRow.state, TrialRow.finished_at).where(
            TrialRow.campaign_id == campaign_id
        )
    ).all()
    numbers = sorted(t.number for t in trials)
    if numbers != list(range(len(numbers))):
        repeated = sorted(n for n, c in Counter(numbers).items() if c > 1)
        missing = sorted(set(range(len(numbers))) - set(numbers))
        beyond = sorted({n for n in numbers if not 0 <= n < len(numbers)})
        problems.append(
            f"trial numbers are not 0..{len(numbers) - 1}: duplicated {repeated}, "
            f"missing {missing}, beyond {beyond}"
        )
    by_id = {t.id: t for t in trials}
    values: dict[int, list[float]] = {}
    for trial_id, name, value in session.execute(
        select(ObservationRow.trial_id, ObservationRow.name, ObservationRow.value)
        .join(TrialRow, TrialRow.id == ObservationRow.trial_id)
        .where(TrialRow.campaign_id == campaign_id)
    ):
        if name == objective:
            values.setdefault(trial_id, []).append(value)
        else:
            problems.append(
                f"trial {by_id[trial_id].number} has a value for unknown outcome {name!r}"
            )
    last: dict[int, TrialEventRow] = {}
    for row in session.scalars(
        select(TrialEventRow)
        .where(TrialEventRow.campaign_id == campaign_id)
        .order_by(TrialEventRow.id)
    ):
        last[row.trial_id] = row
    for t in trials:
        have = values.get(t.id, [])
        if t.state == TrialState.COMPLETED.value and len(have) != 1:
            problems.append(f"trial {t.number} is COMPLETED with {len(have)} values")
        if t.state != TrialState.COMPLETED.value and have:
            problems.append(f"trial {t.number} is {t.state.upper()} but has a value {have}")
        if (t.state == TrialState.PENDING.value) != (t.finished_at is None):
            problems.append(
                f"trial {t.number} is {t.state.upper()} with finished_at={t.finished_at}"
            )
        event = last.get(t.id)
        if event is None:
            problems.append(f"trial {t.number} has no history")
            continue
        if event.new_state != t.state:
            problems.append(
                f"trial {t.number} is {t.state.upper()} but its last event ({event.action}) "
                f"left it {event.new_state.upper()}"
            )
        if t.state == TrialState.COMPLETED.value and have and event.new_value != have[0]:
            problems.append(
                f"trial {t.number} holds {have[0]!r} but its last event ({event.action}) "
                f"recorded {event.new_value!r}"
            )
    return problems
