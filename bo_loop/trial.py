"""Trial states and the frozen trial records handed to callers."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bo_loop.html_table import e, number, table


class TrialState(enum.Enum):
    """Where a trial is in its life: proposed and waiting, measured, or given up."""

    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    ABANDONED = "abandoned"

    @property
    def is_finished(self) -> bool:
        return self is not TrialState.PENDING


#: The reason a retracted trial shows, before the user's own words: it is FAILED (ran, but gave no
#: usable outcome) and labelled "retracted" wherever trials are listed.
RETRACTED_REASON = "retracted: "


@dataclass(frozen=True)
class Trial:
    """One experiment of a campaign, as stored. Records are snapshots: they never change.

    Attributes:
        number: The trial's number within its campaign, from 0, without gaps.
        state: PENDING until told, failed or abandoned.
        params: Parameter name -> value (ints for integers, the exact choice objects for categoricals).
        value: The measured value of the campaign's objective when it has exactly one (None
            while not told); None for a campaign with several objectives (see ``values``).
        source: ``"bo_loop"`` for proposals, ``"manual"`` for points measured without being asked.
        provenance: How the trial was made: generator, surrogate, acquisition value, predicted
            mean and sd, seed.
        created_at: When the trial was proposed or added (UTC).
        finished_at: When it was told, failed or abandoned (UTC), or None.
        reason: Why it failed or was abandoned, or None.
        values: Outcome name -> measured value, for every outcome told so far (a trial told in
            parts holds some; a completed trial holds every outcome of the campaign).
        missing: The outcomes a PENDING trial still waits for (all of them until a first partial
            tell); empty for finished trials.
    """

    number: int
    state: TrialState
    params: dict[str, Any]
    value: float | None = None
    source: str = "bo_loop"
    provenance: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str | None = None
    values: dict[str, float] = field(default_factory=dict)
    missing: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The state as listed: its value, or ``"retracted"`` for a FAILED trial whose value was
        retracted (`Campaign.retract`)."""
        if self.state is TrialState.FAILED and (self.reason or "").startswith(RETRACTED_REASON):
            return "retracted"
        return self.state.value

    def _repr_html_(self) -> str:
        """A trial's number, state, settings, outcome, source and (for proposals) prediction."""
        rows: list[tuple[object, object]] = [(k, v) for k, v in self.params.items()]
        value = "—" if self.value is None else number(self.value)
        if self.value is None and self.values:  # several outcomes: each told one
            value = ", ".join(f"{k}={number(v)}" for k, v in self.values.items())
        if self.missing and self.values:
            value += f" (awaiting {', '.join(self.missing)})"
        mean, sd = self.provenance.get("predicted_mean"), self.provenance.get("predicted_sd")
        predicted = ""
        if isinstance(mean, int | float) and isinstance(sd, int | float):
            predicted = f"; predicted {number(float(mean))} ± {number(float(sd))} (sd)"
        reason = f" — {e(self.reason)}" if self.reason else ""
        generator = self.provenance.get("generator", self.source)
        return (
            f"<div><b>Trial {self.number}</b> · {e(self.label)}{reason} · outcome "
            f"<b>{e(value)}</b>{e(predicted)} · from {e(generator)}"
            f"{table(['parameter', 'value'], rows)}</div>"
        )
