"""Writing trials: inserting new ones and recording their results in one transaction.

Reads, campaigns and the audit-event helper live in `bo_loop.storage.store`; this module builds on
them. Every function takes a session and returns frozen records, like `store`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, NoReturn

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from bo_loop.exceptions import TrialNotFoundError, TrialStateError
from bo_loop.storage.store import (
    _PAST,
    _aware,
    _log,
    _names,
    _number,
    _trial_record,
    count_trials,
    read_trial,
    utcnow,
)
from bo_loop.storage.tables import ObservationRow, TrialEventRow, TrialRow
from bo_loop.trial import Trial, TrialState


@dataclass(frozen=True)
class NewTrial:
    """A trial to insert: proposed (pending) or measured already (completed, with its value).

    ``values`` holds the measured outcomes by name (a manual trial of a campaign with several
    outcomes, PENDING when some are still missing); ``value`` is the single objective's.
    """

    params: dict[str, Any]
    source: str
    provenance: dict[str, Any]
    state: TrialState = TrialState.PENDING
    value: float | None = None
    values: Mapping[str, float] | None = None

    def measured(self, objective: str | None) -> dict[str, float]:
        """The outcomes to store, by name, as stored (`_number`)."""
        if self.values is not None:
            return {k: float(v) + 0.0 for k, v in self.values.items()}
        if self.value is None or objective is None:
            return {}
        return {objective: float(self.value) + 0.0}


def insert_trials(
    session: Session,
    campaign_id: int,
    objective: str | None,
    new: Sequence[NewTrial],
    outcomes: Sequence[str] | None = None,
) -> list[Trial]:
    """Append trials numbered after the last one. Call with the campaign row locked.

    A trial with values logs one ``add`` event per outcome (the first carries the state change).
    """
    start = session.scalar(
        select(func.coalesce(func.max(TrialRow.number) + 1, 0)).where(
            TrialRow.campaign_id == campaign_id
        )
    )
    now = utcnow()
    names = _names(objective, outcomes)
    if not new:
        return []
    rows = [
        {
            "campaign_id": campaign_id,
            "number": int(start or 0) + offset,
            "state": item.state.value,
            "params": item.params,
            "source": item.source,
            "provenance": item.provenance,
            "created_at": now,
            "finished_at": now if item.state.is_finished else None,
            "reason": None,
        }
        for offset, item in enumerate(new)
    ]
    # One multi-row INSERT per table (ids returned in row order), not a flush per trial: an
    # import of 10,000 rows spent 90 % of its time in 30,000 single-row ORM flushes.
    ids = session.scalars(
        insert(TrialRow).returning(TrialRow.id, sort_by_parameter_order=True), rows
    ).all()
    observations: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    made: list[Trial] = []
    for item, trial_id, row in zip(new, ids, rows, strict=True):
        values = item.measured(objective)
        assert item.state is not TrialState.COMPLETED or values
        observations += [
            {"trial_id": trial_id, "name": name, "value": v, "created_at": now}
            for name, v in values.items()
        ]
        action = "ask" if item.state is TrialState.PENDING and not values else "add"
        event = {
            "campaign_id": campaign_id, "trial_id": trial_id, "action": action,
            "old_state": None, "new_state": item.state.value, "old_value": None, "reason": None,
            "created_at": now,
        }  # fmt: skip
        if not values:
            events.append({**event, "new_value": None, "outcome": None})
        events += [{**event, "new_value": v, "outcome": name} for name, v in values.items()]
        made.append(_trial_record(SimpleNamespace(**row), values, objective, names))
    if observations:
        session.execute(insert(ObservationRow), observations)
    if events:
        session.execute(insert(TrialEventRow), events)
    return made


def _refuse(
    session: Session, campaign_id: int, number: int, action: str, objective: str | None = None
) -> NoReturn:
    """Explain why a conditional update touched no row: unknown number, or a finished trial."""
    found = session.execute(
        select(TrialRow.id, TrialRow.state, TrialRow.finished_at).where(
            TrialRow.campaign_id == campaign_id, TrialRow.number == number
        )
    ).first()
    if found is None:
        count = count_trials(session, campaign_id)
        known = f"0..{count - 1}" if count else "none yet"
        raise TrialNotFoundError(
            f"Cannot {action} trial {number}: no such trial (trial numbers here: {known})."
        )
    state = found.state
    hint = ""
    stored = ""
    current = None if objective is None else _observation(session, found.id, objective)
    if state == TrialState.COMPLETED.value and current is not None:
        # The loser of two concurrent tells sees what the winner stored, and when.
        at = _aware(found.finished_at)
        when = f" (told at {at:%Y-%m-%d %H:%M:%S} UTC)" if at is not None else ""
        stored = f" with {objective}={current.value!r}{when}"
    if action == "tell" and state == TrialState.COMPLETED.value:
        hint = f" To change its value, use campaign.correct({number}, value, reason=...)."
    elif action == "tell" and state == TrialState.ABANDONED.value:
        # A rig that comes back after its trial expired must not lose its measurement.
        hint = (
            f" If it was run after all, store the result with "
            f"campaign.correct({number}, value, reason=...)."
        )
    raise TrialStateError(
        f"Cannot {action} a {state.upper()} trial: only a PENDING trial can be {_PAST[action]}, "
        f"and trial {number} is {state.upper()}{stored}.{hint}"
    )


def finish_trial(
    session: Session,
    campaign_id: int,
    number: int,
    state: TrialState,
    *,
    objective: str | None,
    value: float | None = None,
    reason: str | None = None,
    action: str,
    outcomes: Sequence[str] | None = None,
) -> Trial:
    """Move a PENDING trial to ``state`` in one conditional UPDATE (and store its value).

    Returns the trial as stored now, read by its number alone (not the whole campaign).
    """
    now = utcnow()
    result = session.execute(
        update(TrialRow)
        .where(
            TrialRow.campaign_id == campaign_id,
            TrialRow.number == number,
            TrialRow.state == TrialState.PENDING.value,
        )
        .values(state=state.value, finished_at=now, reason=reason)
        .returning(TrialRow.id)
    )
    trial_id = result.scalar()
    if trial_id is None:
        _refuse(session, campaign_id, number, action, objective)
    value = _number(value)
    if value is not None:
        session.add(ObservationRow(trial_id=trial_id, name=objective, value=value, created_at=now))
    session.add(
        TrialEventRow(
            campaign_id=campaign_id, trial_id=trial_id, action=action,
            old_state=TrialState.PENDING.value, new_state=state.value, old_value=None,
            new_value=value, reason=reason, created_at=now,
            outcome=None if value is None else objective,
        )
    )  # fmt: skip
    session.flush()
    trial = read_trial(session, campaign_id, objective, number, outcomes)
    assert trial is not None
    return trial


@dataclass(frozen=True)
class Finish:
    """One row of a round: a PENDING trial to move to ``state`` (with its value when COMPLETED)."""

    number: int
    state: TrialState
    value: float | None = None
    reason: str | None = None
    #: Outcome name -> value, for campaigns with several outcomes (some or all of them).
    values: Mapping[str, float] | None = None


_ACTION = {
    TrialState.COMPLETED: "tell",
    TrialState.FAILED: "fail",
    TrialState.ABANDONED: "abandon",
}
#: Trial numbers per ``IN (...)`` lookup: far below SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500


def finish_trials(
    session: Session,
    campaign_id: int,
    objective: str | None,
    round_: Sequence[Finish],
    outcomes: Sequence[str] | None = None,
) -> list[Trial]:
    """Record a round: every trial of ``round_`` leaves PENDING, or none does.

    With several outcomes, a told trial leaves PENDING once every outcome is in: values told
    before are kept, and a value for an outcome told before refuses the round (that is a
    correction).

    Reads and locks only the round's own rows (``SELECT ... FOR UPDATE`` in number order, so two
    rounds sharing trials cannot deadlock), so the cost grows with the round, not the campaign.
    The rows stay locked until the transaction ends: a colleague's tell of one of them waits,
    then finds it finished. If any trial is missing or no longer pending, nothing is written and
    the error names every such trial. Numbers must be distinct (the caller checks).

    Returns:
        The trials as stored now, in number order.
    """
    wanted = sorted(f.number for f in round_)
    rows: dict[int, TrialRow] = {}
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        for row in session.scalars(
            select(TrialRow)
            .where(TrialRow.campaign_id == campaign_id, TrialRow.number.in_(chunk))
            .order_by(TrialRow.number)
            .with_for_update()
        ):
            rows[row.number] = row
    missing = [n for n in wanted if n not in rows]
    finished = [rows[n] for n in wanted if n in rows and rows[n].state != TrialState.PENDING.value]
    names = _names(objective, outcomes)
    told = _stored_values(session, [r.id for r in rows.values()]) if len(names) > 1 else {}
    twice = [
        f"trial {f.number} already has {k}={told[rows[f.number].id][k]!r} (told before; "
        f"change it with campaign.correct({f.number}, {{{k!r}: value}}, reason=...))"
        for f in round_
        if f.values is not None and f.number in rows
        for k in f.values
        if k in told.get(rows[f.number].id, {})
    ]
    if missing or finished or twice:
        raise _round_refusal(session, campaign_id, len(wanted), missing, finished, twice)
    now = utcnow()
    made: list[Trial] = []
    for item in sorted(round_, key=lambda f: f.number):
        row = rows[item.number]
        new: dict[str, float] = {}
        if item.state is TrialState.COMPLETED:
            new = (
                {k: float(v) + 0.0 for k, v in item.values.items()}
                if item.values is not None
                else {objective: _number(item.value)}  # type: ignore[dict-item]
            )
        have = {**told.get(row.id, {}), **new}
        state = item.state
        if state is TrialState.COMPLETED and any(n not in have for n in names):
            state = TrialState.PENDING  # told in part: it waits for the other outcomes
        row.state = state.value
        row.finished_at = None if state is TrialState.PENDING else now
        if item.reason is not None or state is not TrialState.PENDING:
            row.reason = item.reason
        for name, v in new.items():
            session.add(ObservationRow(trial_id=row.id, name=name, value=v, created_at=now))
        action = _ACTION[item.state]
        if not new:
            _log(session, row, action, TrialState.PENDING, state, None, None, item.reason, now)
        for name, v in new.items():
            _log(session, row, action, TrialState.PENDING, state, None, v, item.reason, now,
                 outcome=name)  # fmt: skip
        made.append(_trial_record(row, have, objective, names))
    session.flush()
    return made


def _stored_values(session: Session, trial_ids: Sequence[int]) -> dict[int, dict[str, float]]:
    """Trial id -> {outcome: value} of the values stored for those trials."""
    out: dict[int, dict[str, float]] = {}
    for i in range(0, len(trial_ids), _CHUNK):
        for trial_id, name, value in session.execute(
            select(ObservationRow.trial_id, ObservationRow.name, ObservationRow.value).where(
                ObservationRow.trial_id.in_(trial_ids[i : i + _CHUNK])
            )
        ):
            out.setdefault(trial_id, {})[name] = value
    return out


def _round_refusal(
    session: Session,
    campaign_id: int,
    size: int,
    missing: Sequence[int],
    finished: Sequence[TrialRow],
    twice: Sequence[str] = (),
) -> TrialStateError | TrialNotFoundError:
    """The error that refuses a whole round, naming every trial that cannot take its result."""
    lines = [f"trial {row.number} is {row.state.upper()}" for row in finished] + list(twice)
    if missing:
        count = count_trials(session, campaign_id)
        known = f"0..{count - 1}" if count else "none yet"
        lines += [f"trial {n}: no such trial (trial numbers here: {known})" for n in missing]
    bad = len(missing) + len(finished) + len(twice)
    text = (
        f"Cannot record the round: only a PENDING trial can take a result, and {bad} of the "
        f"round's {size} trial(s) cannot; nothing was recorded:\n"
        + "\n".join(f"  {line}" for line in lines)
    )
    return TrialStateError(text) if finished or twice else TrialNotFoundError(text)


def _observation(session: Session, trial_id: int, objective: str) -> ObservationRow | None:
    return session.scalar(
        select(ObservationRow).where(
            ObservationRow.trial_id == trial_id, ObservationRow.name == objective
        )
    )
