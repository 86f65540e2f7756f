"""The audit trail: every change of a trial, as frozen records and as a table.

Each ask, tell, fail, abandon, manual add, correction, retraction and reopening writes one event in
the same transaction as the change itself, so the history can never disagree with the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

#: What an event can record.
ACTIONS = ("ask", "add", "tell", "fail", "abandon", "correct", "retract", "reopen")

HISTORY_COLUMNS = [
    "number",
    "at",
    "action",
    "old_state",
    "new_state",
    "old_value",
    "new_value",
    "reason",
    "outcome",
]


@dataclass(frozen=True)
class TrialEvent:
    """One change of one trial.

    Attributes:
        number: The trial's number.
        at: When the change was made (UTC, by the clock of the machine that made it).
        action: One of :data:`ACTIONS`.
        old_state: The trial's state before (None for ``ask`` and ``add``, which create it).
        new_state: The trial's state after.
        old_value: The value that counted before (``correct``, ``retract``), else None.
        new_value: The value that counts after (``tell``, ``add``, ``correct``), else None.
        reason: Why (required for ``correct``, ``retract`` and ``reopen``; optional for ``fail``
            and ``abandon``).
        outcome: The outcome whose value changed (a tell of three outcomes writes three events),
            or None for an event without a value.
    """

    number: int
    at: datetime
    action: str
    old_state: str | None
    new_state: str
    old_value: float | None
    new_value: float | None
    reason: str | None
    outcome: str | None = None


def history_frame(
    events: Sequence[TrialEvent], single_objective: str | None = None
) -> pd.DataFrame:
    """One row per event, oldest first, with the columns of :data:`HISTORY_COLUMNS`.

    ``single_objective`` names the outcome of value events stored before outcomes were recorded
    (schema revision 0003): those campaigns had one objective.
    """
    return pd.DataFrame(
        [
            {
                "number": e.number,
                "at": e.at,
                "action": e.action,
                "old_state": e.old_state,
                "new_state": e.new_state,
                "old_value": e.old_value,
                "new_value": e.new_value,
                "reason": e.reason,
                "outcome": e.outcome
                if e.outcome is not None or (e.old_value is None and e.new_value is None)
                else single_objective,
            }
            for e in events
        ],
        columns=HISTORY_COLUMNS,
    )
