"""Campaigns and reading trials (and the audit-event helper every write uses). Writing trials:
`bo_loop.storage.trial_writes`. Every function takes a session and returns frozen records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bo_loop.exceptions import (
    CampaignExistsError,
    CampaignNotFoundError,
)
from bo_loop.storage.tables import CampaignRow, ObservationRow, TrialEventRow, TrialRow
from bo_loop.trial import Trial, TrialState


def utcnow() -> datetime:
    return datetime.now(UTC)


def _number(value: float | None) -> float | None:
    """The value as stored: a float, with -0.0 as 0.0 (SQLite cannot keep the sign of a zero,
    so both backends store 0.0 and a value reads back the same everywhere)."""
    return None if value is None else float(value) + 0.0


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything bo_loop stores is UTC.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class CampaignRecord:
    id: int
    name: str
    config: dict[str, Any]
    created_at: datetime


def _campaign_record(row: CampaignRow) -> CampaignRecord:
    created = _aware(row.created_at)
    assert created is not None
    return CampaignRecord(id=row.id, name=row.name, config=dict(row.config), created_at=created)


def create_campaign(session: Session, name: str, config: dict[str, Any]) -> CampaignRecord:
    existing = session.scalar(select(CampaignRow).where(CampaignRow.name == name))
    if existing is not None:
        raise CampaignExistsError(
            f"A campaign named {name!r} already exists; open it with "
            f"bl.Campaign.load({name!r}, storage=...)."
        )
    row = CampaignRow(name=name, config=config, created_at=utcnow())
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise CampaignExistsError(
            f"A campaign named {name!r} already exists; open it with "
            f"bl.Campaign.load({name!r}, storage=...)."
        ) from None
    return _campaign_record(row)


def list_campaigns(session: Session) -> list[str]:
    return list(session.scalars(select(CampaignRow.name).order_by(CampaignRow.name)))


def get_campaign(session: Session, name: str, *, lock: bool = False) -> CampaignRecord:
    """Read a campaign by name; ``lock=True`` holds its row until the transaction ends.

    The lock serialises asks: it is ``FOR NO KEY UPDATE`` on PostgreSQL, so tells (which only
    reference the row) are not blocked by it; SQLite writers already hold the database lock.
    """
    query = select(CampaignRow).where(CampaignRow.name == name)
    if lock:
        query = query.with_for_update(key_share=True)
    row = session.scalar(query)
    if row is None:
        names = list_campaigns(session)
        known = ", ".join(repr(n) for n in names) if names else "none"
        raise CampaignNotFoundError(
            f"No campaign named {name!r}; the campaigns stored here are: {known}."
        )
    return _campaign_record(row)


def update_config(session: Session, campaign_id: int, config: dict[str, Any]) -> None:
    session.execute(update(CampaignRow).where(CampaignRow.id == campaign_id).values(config=config))


#: The trial columns a record is built from, selected as plain columns: building ORM objects (with
#: their identity map and change tracking) for rows that are only read was half of the 0.8 s CPU
#: that opening a 10,000-trial campaign's DataFrame took (experiments/results/large_history.md).
_TRIAL_COLUMNS = (
    TrialRow.id, TrialRow.number, TrialRow.state, TrialRow.params, TrialRow.source,
    TrialRow.provenance, TrialRow.created_at, TrialRow.finished_at, TrialRow.reason,
)  # fmt: skip

#: Each state by its stored name (looked up 10,000 times to open a large campaign).
_STATES = {s.value: s for s in TrialState}


def _names(objective: str | None, outcomes: Sequence[str] | None) -> tuple[str, ...]:
    """The campaign's outcome names: ``outcomes``, or the single objective's name."""
    if outcomes is not None:
        return tuple(outcomes)
    return () if objective is None else (objective,)


def _with_values(
    session: Session, where: Sequence[Any], objective: str | None, outcomes: Sequence[str] | None
) -> list[Trial]:
    """Trials matching ``where`` in number order, joined with their outcome values.

    One query of plain columns: every observation of a trial comes as its own row, consecutive
    per trial.
    """
    names = _names(objective, outcomes)
    query = (
        select(*_TRIAL_COLUMNS, ObservationRow.name, ObservationRow.value)
        .outerjoin(ObservationRow, ObservationRow.trial_id == TrialRow.id)
        .where(*where)
        .order_by(TrialRow.number)
    )
    rows: dict[int, tuple[Any, dict[str, float]]] = {}
    for row in session.execute(query):
        _, values = rows.setdefault(row[0], (row, {}))
        name, value = row[-2], row[-1]
        if name is not None and (name in names or not names):
            values[name] = value
    made = []
    for row, values in rows.values():
        _, number, state_name, params, source, provenance, created, finished, reason = row[:9]
        state = _STATES[state_name]
        made.append(
            Trial(
                number=number,
                state=state,
                params=dict(params),
                value=None if objective is None else values.get(objective),
                source=source,
                provenance=dict(provenance),
                created_at=_aware(created),
                finished_at=_aware(finished),
                reason=reason,
                values=values,
                missing=tuple(n for n in names if n not in values)
                if state is TrialState.PENDING
                else (),
            )
        )
    return made


def read_trials(
    session: Session,
    campaign_id: int,
    objective: str | None,
    outcomes: Sequence[str] | None = None,
) -> list[Trial]:
    """All trials of a campaign, in number order, with their measured outcomes.

    Args:
        objective: The outcome whose value is ``Trial.value`` (the single objective), or None.
        outcomes: Every outcome name of the campaign; default just ``objective``.
    """
    return _with_values(session, [TrialRow.campaign_id == campaign_id], objective, outcomes)


def read_trial(
    session: Session,
    campaign_id: int,
    objective: str | None,
    number: int,
    outcomes: Sequence[str] | None = None,
) -> Trial | None:
    """One trial by number (one indexed lookup, whatever the campaign's size), or None."""
    where = [TrialRow.campaign_id == campaign_id, TrialRow.number == number]
    found = _with_values(session, where, objective, outcomes)
    return found[0] if found else None


def _trial_record(
    row: TrialRow | SimpleNamespace,
    values: Mapping[str, float],
    objective: str | None = None,
    outcomes: Sequence[str] = (),
) -> Trial:
    state = TrialState(row.state)
    return Trial(
        number=row.number,
        state=state,
        params=dict(row.params),
        value=None if objective is None else values.get(objective),
        source=row.source,
        provenance=dict(row.provenance),
        created_at=_aware(row.created_at),
        finished_at=_aware(row.finished_at),
        reason=row.reason,
        values=dict(values),
        missing=tuple(n for n in outcomes if n not in values)
        if state is TrialState.PENDING
        else (),
    )


def count_trials(session: Session, campaign_id: int) -> int:
    return session.scalar(select(func.count()).where(TrialRow.campaign_id == campaign_id)) or 0


_PAST = {"tell": "told", "fail": "failed", "abandon": "abandoned"}


def _log(
    session: Session,
    trial: TrialRow,
    action: str,
    old_state: TrialState | None,
    new_state: TrialState,
    old_value: float | None,
    new_value: float | None,
    reason: str | None,
    now: datetime,
    *,
    outcome: str | None = None,
) -> None:
    """Append one audit event; always in the transaction that made the change it records.

    ``outcome`` names the outcome whose value changed (None for events without a value).
    """
    session.add(
        TrialEventRow(
            campaign_id=trial.campaign_id,
            trial_id=trial.id,
            action=action,
            old_state=None if old_state is None else old_state.value,
            new_state=new_state.value,
            old_value=old_value,
            new_value=new_value,
            reason=reason,
            created_at=now,
            outcome=outcome,
        )
    )


def delete_campaign(session: Session, name: str) -> int:
    """Delete a campaign with all its trials and observations; returns how many trials went."""
    record = get_campaign(session, name, lock=True)
    trial_ids = select(TrialRow.id).where(TrialRow.campaign_id == record.id)
    session.execute(delete(TrialEventRow).where(TrialEventRow.campaign_id == record.id))
    session.execute(delete(ObservationRow).where(ObservationRow.trial_id.in_(trial_ids)))
    removed = session.execute(  # type: ignore[attr-defined]
        delete(TrialRow).where(TrialRow.campaign_id == record.id)
    ).rowcount
    session.execute(delete(CampaignRow).where(CampaignRow.id == record.id))
    return int(removed or 0)
