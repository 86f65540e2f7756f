"""Telling a trial's outcomes in parts: each value is stored once, the trial completes when every
outcome is in. A value already told is never overwritten here (that is a correction)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from bo_loop.exceptions import TrialStateError
from bo_loop.storage.store import _log, read_trial, utcnow
from bo_loop.storage.tables import ObservationRow, TrialRow
from bo_loop.storage.trial_writes import _refuse, _stored_values
from bo_loop.trial import Trial, TrialState


def tell_values(
    session: Session,
    campaign_id: int,
    number: int,
    values: Mapping[str, float],
    *,
    objective: str | None,
    outcomes: Sequence[str],
    note: str | None = None,
) -> Trial:
    """Store some or all outcomes of a PENDING trial; it becomes COMPLETED with the last one.

    The trial row is locked until the transaction ends, so two partial tells of one trial
    (yield from the rig, purity from the lab) serialise and neither is lost.

    Args:
        values: Outcome name -> value, already checked (`Outcomes.parse_values`).
        objective: The outcome shown as ``Trial.value`` (the single objective), or None.
        outcomes: Every outcome of the campaign.
        note: Kept as the trial's ``reason`` and in each event.

    Raises:
        TrialNotFoundError: no such trial.
        TrialStateError: the trial is not PENDING, or already holds a value for one of
            ``values`` (the message names it and says how to correct it). Nothing is written.
    """
    row = session.scalar(
        select(TrialRow)
        .where(TrialRow.campaign_id == campaign_id, TrialRow.number == number)
        .with_for_update()
    )
    if row is None or row.state != TrialState.PENDING.value:
        _refuse(session, campaign_id, number, "tell", objective)
    have = _stored_values(session, [row.id]).get(row.id, {})
    twice = {k: have[k] for k in values if k in have}
    if twice:
        told = ", ".join(f"{k}={v!r}" for k, v in twice.items())
        raise TrialStateError(
            f"Cannot tell trial {number} {sorted(twice)!r} again: a told value is never "
            f"overwritten, and it already holds {told}. To change it, use "
            f"campaign.correct({number}, {{...}}, reason=...)."
        )
    now = utcnow()
    complete = all(n in have or n in values for n in outcomes)
    state = TrialState.COMPLETED if complete else TrialState.PENDING
    row.state = state.value
    if complete:
        row.finished_at = now
    if note is not None or complete:
        row.reason = note
    for name, value in values.items():
        v = float(value) + 0.0
        session.add(ObservationRow(trial_id=row.id, name=name, value=v, created_at=now))
        _log(session, row, "tell", TrialState.PENDING, state, None, v, note, now, outcome=name)
    session.flush()
    trial = read_trial(session, campaign_id, objective, number, outcomes)
    assert trial is not None
    return trial
