"""HTML summaries for Jupyter: what a campaign or a trial is, at a glance.

Every value shown is escaped: parameter names, choices and failure reasons come from users.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bo_loop.objective import Objective
from bo_loop.space import Categorical, Integer, Parameter, Real, Space
from bo_loop.trial import Trial, TrialState

if TYPE_CHECKING:
    from bo_loop.campaign import Campaign

_TABLE = 'style="border-collapse:collapse;margin:2px 0 8px 0"'
_CELL = 'style="text-align:left;padding:2px 10px 2px 0"'


def _e(value: object) -> str:
    return html.escape(str(value))


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th {_CELL}>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td {_CELL}>{_e(_number(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table {_TABLE}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def describe_parameter(p: Parameter) -> tuple[str, str]:
    """A parameter's kind and its range or choices, as text."""
    if isinstance(p, Categorical):
        return "categorical", ", ".join(str(c) for c in p.choices)
    kind = "integer" if isinstance(p, Integer) else "real"
    scale = " (log scale)" if isinstance(p, Real | Integer) and p.log else ""
    return kind, f"{_number(p.low)} … {_number(p.high)}{scale}"


def space_html(space: Space) -> str:
    """The parameters as a table: name, kind, range or choices."""
    return _table(
        ["parameter", "kind", "range / choices"], [(p.name, *describe_parameter(p)) for p in space]
    )


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_number(v)}" for k, v in params.items())


def campaign_html(campaign: Campaign) -> str:
    """Name, objective, surrogate, storage, the space, trial counts by state and the best so far."""
    trials = campaign.trials()
    return summary_html(
        campaign.name,
        campaign.objective,
        campaign.surrogate,
        campaign.storage,
        campaign.space,
        trials,
    )


def summary_html(
    name: str,
    objective: Objective,
    surrogate: str,
    storage: str,
    space: Space,
    trials: Sequence[Trial],
) -> str:
    """The campaign summary from its parts (no database access)."""
    counts = Counter(t.state for t in trials)
    states = [(s.value, counts.get(s, 0)) for s in TrialState]
    done = [t for t in trials if t.state is TrialState.COMPLETED and t.value is not None]
    if done:
        best = max(done, key=lambda t: (objective.sign * float(t.value or 0.0), -t.number))
        best_text = (
            f"<b>{_e(_number(best.value))}</b> at trial {best.number} "
            f"({_e(_params_text(best.params))})"
        )
    else:
        best_text = "no completed trial yet"
    return (
        f"<div><b>Campaign {_e(name)}</b> — {_e(objective.goal)} <code>{_e(objective.name)}</code>, "
        f"surrogate <code>{_e(surrogate)}</code>, storage <code>{_e(storage)}</code>"
        f"{space_html(space)}"
        f"{_table(['state', 'trials'], [*states, ('total', len(trials))])}"
        f"<div>Best so far: {best_text}</div></div>"
    )


def trial_html(trial: Trial) -> str:
    """A trial's number, state, settings, outcome, source and (for proposals) prediction."""
    rows: list[tuple[object, object]] = [(k, v) for k, v in trial.params.items()]
    value = "—" if trial.value is None else _number(trial.value)
    mean, sd = trial.provenance.get("predicted_mean"), trial.provenance.get("predicted_sd")
    predicted = ""
    if isinstance(mean, int | float) and isinstance(sd, int | float):
        predicted = f"; predicted {_number(float(mean))} ± {_number(float(sd))} (sd)"
    reason = f" — {_e(trial.reason)}" if trial.reason else ""
    generator = trial.provenance.get("generator", trial.source)
    return (
        f"<div><b>Trial {trial.number}</b> · {_e(trial.label)}{reason} · outcome "
        f"<b>{_e(value)}</b>{_e(predicted)} · from {_e(generator)}"
        f"{_table(['parameter', 'value'], rows)}</div>"
    )
