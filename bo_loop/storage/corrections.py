"""Corrections and housekeeping in the database: correcting, retracting and reopening a trial,
abandoning pending trials in bulk, reading the audit trail, and the integrity check."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bo_loop.audit import TrialEvent
from bo_loop.exceptions import TrialNotFoundError, TrialStateError
from bo_loop.storage.store import _aware, _log, count_trials, utcnow
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
    session: Session,
    campaign_id: int,
    number: int,
    *,
    objective: str | None,
    value: float | None = None,
    reason: str,
    values: Mapping[str, float] | None = None,
    outcomes: Sequence[str] | None = None,
) -> None:
    """Replace told values of a trial, or give a failed, retracted or abandoned one its values.

    The old values stay in ``trial_events``; ``observations`` holds the values that count now.

    Args:
        objective: The single objective (``value`` is its value), or None.
        values: Outcome name -> the right value (campaigns with several outcomes).
        outcomes: Every outcome of the campaign; default ``(objective,)``.

    A COMPLETED trial may have any of its values replaced. A PENDING trial told in part may have
    the values it holds replaced (the others it still waits for are told, not corrected). A
    FAILED or ABANDONED trial becomes COMPLETED when the values it holds and ``values`` together
    cover every outcome. A value equal to the one stored is left as it is, with no history row;
    when every value is so and the state stays, nothing is written.
    """
    names = tuple(outcomes) if outcomes is not None else (objective,)
    if values is None:
        assert objective is not None and value is not None
        values = {objective: value}
    new = {k: float(v) + 0.0 for k, v in values.items()}
    row = _locked_trial(session, campaign_id, number, "correct")
    old_state = TrialState(row.state)
    current = {
        o.name: o
        for o in session.scalars(select(ObservationRow).where(ObservationRow.trial_id == row.id))
    }
    now = utcnow()
    absent = [k for k in names if k not in current and k not in new]
    if old_state is TrialState.COMPLETED:
        if absent:  # cannot happen in a consistent database; refuse rather than guess
            raise TrialStateError(
                f"Cannot correct trial {number}: it is COMPLETED but has no value for {absent!r}."
            )
        new_state = TrialState.COMPLETED
    elif old_state is TrialState.PENDING:
        untold = [k for k in new if k not in current]
        if untold:
            raise TrialStateError(
                f"Cannot correct a PENDING trial: only a finished (COMPLETED, FAILED or ABANDONED) "
                f"trial, or a value already told, can be corrected, and trial {number} is PENDING"
                + (f" without {untold!r}" if current else "")
                + f". Tell it instead: campaign.tell({number}, "
                + ("value)." if len(names) == 1 else "{...}).")
            )
        new_state = TrialState.PENDING
    else:
        # FAILED (or retracted) and ABANDONED trials too: a trial marked failed by mistake, or a
        # rig that reported after all, gets its values; the old state stays in the history.
        if absent:
            raise TrialStateError(
                f"Cannot correct trial {number} ({old_state.name}) to COMPLETED without every "
                f"outcome: {absent!r} missing. Give them in the same correct()."
            )
        new_state = TrialState.COMPLETED
        row.state = TrialState.COMPLETED.value
        row.reason = None
    # A "correction" to the value already stored changes nothing, and a history row saying it
    # did would mislead whoever audits the trial later: record only the values that differ.
    changed = {k: v for k, v in new.items() if k not in current or current[k].value != v}
    if not changed and new_state is old_state:
        return
    # A failed trial completed with only values it already held still changes state, and the
    # history must show that: then every given value is logged.
    for name, v in (changed or new).items():
        stored = current.get(name)
        old_value = None if stored is None else stored.value
        if stored is not None:
            stored.value = v
        else:
            session.add(ObservationRow(trial_id=row.id, name=name, value=v, created_at=now))
        _log(session, row, "correct", old_state, new_state, old_value, v, reason, now,
             outcome=name)  # fmt: skip
    session.flush()


def retract_observation(
    session: Session,
    campaign_id: int,
    number: int,
    *,
    objective: str | None,
    reason: str,
    outcomes: Sequence[str] | None = None,
) -> None:
    """Withdraw the values of a completed trial: they no longer count, and the trial shows FAILED.

    FAILED (with the reason ``"retracted: ..."``) is the state of "ran, but gave no usable
    outcome": the model ignores its values and never proposes the point again. The values
    themselves stay in ``trial_events`` (one event per outcome), and :func:`correct_observation`
    can restore the trial.
    """
    row = _locked_trial(session, campaign_id, number, "retract")
    if row.state != TrialState.COMPLETED.value:
        raise TrialStateError(
            f"Cannot retract a {row.state.upper()} trial: only a COMPLETED trial has a value to "
            f"retract, and trial {number} is {row.state.upper()}."
        )
    stored = list(
        session.scalars(
            select(ObservationRow)
            .where(ObservationRow.trial_id == row.id)
            .order_by(ObservationRow.id)
        )
    )
    for observation in stored:
        session.delete(observation)
    row.state = TrialState.FAILED.value
    row.reason = RETRACTED + reason
    now = utcnow()
    if not stored:
        _log(session, row, "retract", TrialState.COMPLETED, TrialState.FAILED, None, None,
             reason, now)  # fmt: skip
    for observation in stored:
        _log(session, row, "retract", TrialState.COMPLETED, TrialState.FAILED,
             observation.value, None, reason, now, outcome=observation.name)  # fmt: skip
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
                outcome=event.outcome,
            )
        )  # fmt: skip
    return out


def integrity_problems(
    session: Session, campaign_id: int, objective: str, outcomes: Sequence[str] | None = None
) -> list[str]:
    """Everything that would show a half-written or lost change; an empty list when sound.

    Checks: trial numbers run 0..n-1 without gap or duplicate; a trial is COMPLETED exactly when
    it has a value for every outcome (with one outcome, only a COMPLETED trial has a value; with
    several, a trial told in part holds some); only finished trials have ``finished_at``; each
    trial's last audit event agrees with its state, and the last event of each outcome with
    its current value.

    Args:
        objective: The first objective (events stored before revision 0003 name no outcome:
            theirs).
        outcomes: Every outcome of the campaign; default ``(objective,)``.
    """
    names = tuple(outcomes) if outcomes is not None else (objective,)
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
    values: dict[int, dict[str, float]] = {}
    for trial_id, name, value in session.execute(
        select(ObservationRow.trial_id, ObservationRow.name, ObservationRow.value)
        .join(TrialRow, TrialRow.id == ObservationRow.trial_id)
        .where(TrialRow.campaign_id == campaign_id)
    ):
        if name in names:
            values.setdefault(trial_id, {})[name] = value
        else:
            problems.append(
                f"trial {by_id[trial_id].number} has a value for unknown outcome {name!r}"
            )
    last: dict[int, TrialEventRow] = {}
    last_value: dict[tuple[int, str], TrialEventRow] = {}
    for row in session.scalars(
        select(TrialEventRow)
        .where(TrialEventRow.campaign_id == campaign_id)
        .order_by(TrialEventRow.id)
    ):
        last[row.trial_id] = row
        if row.old_value is not None or row.new_value is not None or row.outcome is not None:
            last_value[(row.trial_id, row.outcome or objective)] = row
    for t in trials:
        have = values.get(t.id, {})
        completed = t.state == TrialState.COMPLETED.value
        if completed and len(have) != len(names):
            absent = [n for n in names if n not in have]
            problems.append(
                f"trial {t.number} is COMPLETED with {len(have)} values"
                + (f" (missing {absent})" if len(names) > 1 else "")
            )
        if t.state == TrialState.PENDING.value and len(names) > 1 and len(have) == len(names):
            problems.append(f"trial {t.number} is PENDING but holds every outcome")
        if not completed and have and len(names) == 1:
            problems.append(
                f"trial {t.number} is {t.state.upper()} but has a value {list(have.values())}"
            )
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
        for name, value in have.items():
            told = last_value.get((t.id, name))
            if told is None or told.new_value != value:
                problems.append(
                    f"trial {t.number} holds {name}={value!r} but its last event of {name!r} "
                    f"({'none' if told is None else told.action}) recorded "
                    f"{None if told is None else told.new_value!r}"
                )
    return problems
