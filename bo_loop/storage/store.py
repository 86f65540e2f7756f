"""Campaign and trial persistence. Every function takes a session and returns frozen records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bo_loop.exceptions import (
    CampaignExistsError,
    CampaignNotFoundError,
    TrialNotFoundError,
    TrialStateError,
)
from bo_loop.storage.models import CampaignRow, ObservationRow, TrialRow
from bo_loop.trial import Trial, TrialState


def utcnow() -> datetime:
    return datetime.now(UTC)


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


@dataclass(frozen=True)
class NewTrial:
    """A trial to insert: proposed (pending) or measured already (completed, with its value)."""

    params: dict[str, Any]
    source: str
    provenance: dict[str, Any]
    state: TrialState = TrialState.PENDING
    value: float | None = None


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


def read_trials(session: Session, campaign_id: int, objective: str) -> list[Trial]:
    """All trials of a campaign, in number order, with the objective's value where measured."""
    query = (
        select(TrialRow, ObservationRow.value)
        .outerjoin(
            ObservationRow,
            (ObservationRow.trial_id == TrialRow.id) & (ObservationRow.name == objective),
        )
        .where(TrialRow.campaign_id == campaign_id)
        .order_by(TrialRow.number)
    )
    return [_trial_record(row, value) for row, value in session.execute(query)]


def _trial_record(row: TrialRow, value: float | None) -> Trial:
    return Trial(
        number=row.number,
        state=TrialState(row.state),
        params=dict(row.params),
        value=value,
        source=row.source,
        provenance=dict(row.provenance),
        created_at=_aware(row.created_at),
        finished_at=_aware(row.finished_at),
        reason=row.reason,
    )


def count_trials(session: Session, campaign_id: int) -> int:
    return session.scalar(select(func.count()).where(TrialRow.campaign_id == campaign_id)) or 0


def insert_trials(
    session: Session, campaign_id: int, objective: str, new: Sequence[NewTrial]
) -> list[Trial]:
    """Append trials numbered after the last one. Call with the campaign row locked."""
    start = session.scalar(
        select(func.coalesce(func.max(TrialRow.number) + 1, 0)).where(
            TrialRow.campaign_id == campaign_id
        )
    )
    now = utcnow()
    made: list[Trial] = []
    for offset, item in enumerate(new):
        finished = item.state.is_finished
        row = TrialRow(
            campaign_id=campaign_id,
            number=int(start or 0) + offset,
            state=item.state.value,
            params=item.params,
            source=item.source,
            provenance=item.provenance,
            created_at=now,
            finished_at=now if finished else None,
        )
        session.add(row)
        session.flush()
        if item.state is TrialState.COMPLETED:
            assert item.value is not None
            session.add(
                ObservationRow(trial_id=row.id, name=objective, value=item.value, created_at=now)
            )
        made.append(_trial_record(row, item.value))
    session.flush()
    return made


_PAST = {"tell": "told", "fail": "failed", "abandon": "abandoned"}


def _refuse(session: Session, campaign_id: int, number: int, action: str) -> None:
    """Explain why a conditional update touched no row: unknown number, or a finished trial."""
    state = session.scalar(
        select(TrialRow.state).where(TrialRow.campaign_id == campaign_id, TrialRow.number == number)
    )
    if state is None:
        count = count_trials(session, campaign_id)
        known = f"0..{count - 1}" if count else "none yet"
        raise TrialNotFoundError(
            f"Cannot {action} trial {number}: no such trial (trial numbers here: {known})."
        )
    raise TrialStateError(
        f"Cannot {action} a {state.upper()} trial: only a PENDING trial can be {_PAST[action]}, "
        f"and trial {number} is {state.upper()}."
    )


def finish_trial(
    session: Session,
    campaign_id: int,
    number: int,
    state: TrialState,
    *,
    objective: str,
    value: float | None = None,
    reason: str | None = None,
    action: str,
) -> None:
    """Move a PENDING trial to ``state`` in one conditional UPDATE (and store its value)."""
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
        _refuse(session, campaign_id, number, action)
        return
    if value is not None:
        session.add(ObservationRow(trial_id=trial_id, name=objective, value=value, created_at=now))
    session.flush()


def delete_campaign(session: Session, name: str) -> int:
    """Delete a campaign with all its trials and observations; returns how many trials went."""
    record = get_campaign(session, name, lock=True)
    trial_ids = select(TrialRow.id).where(TrialRow.campaign_id == record.id)
    session.execute(delete(ObservationRow).where(ObservationRow.trial_id.in_(trial_ids)))
    removed = session.execute(  # type: ignore[attr-defined]
        delete(TrialRow).where(TrialRow.campaign_id == record.id)
    ).rowcount
    session.execute(delete(CampaignRow).where(CampaignRow.id == record.id))
    return int(removed or 0)
