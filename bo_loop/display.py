"""HTML summaries for Jupyter: what a campaign or a trial is, at a glance.

Every value shown is escaped: parameter names, choices and failure reasons come from users.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bo_loop.html_table import e as _e
from bo_loop.html_table import number as _number
from bo_loop.html_table import table as _table
from bo_loop.objective import Objective
from bo_loop.space import Categorical, Integer, Parameter, Real, Space
from bo_loop.trial import Trial, TrialState

if TYPE_CHECKING:
    from bo_loop.campaign import Campaign


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
    if len(campaign.outcomes) > 1:
        return outcomes_html(campaign, trials)
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


def outcomes_html(campaign: Campaign, trials: Sequence[Trial]) -> str:
    """The summary of a campaign with several outcomes: goals and constraints, the space, trial
    counts by state, and its feasible Pareto front (the best feasible trial for one objective)."""
    counts = Counter(t.state for t in trials)
    states = [(s.value, counts.get(s, 0)) for s in TrialState]
    goals = ", ".join(f"{o.goal} <code>{_e(o.name)}</code>" for o in campaign.objectives)
    constraints = "".join(f", <code>{_e(str(c))}</code>" for c in campaign.outcome_constraints)
    front = campaign.pareto_front()
    rows = [
        (t.number, *(_number(t.values.get(n)) for n in campaign.outcomes), _params_text(t.params))
        for t in front
    ]
    return (
        f"<div><b>Campaign {_e(campaign.name)}</b> — {goals}{constraints}, surrogate "
        f"<code>{_e(campaign.surrogate)}</code>, storage <code>{_e(campaign.storage)}</code>"
        f"{space_html(campaign.space)}"
        f"{_table(['state', 'trials'], [*states, ('total', len(trials))])}"
        f"<div>Feasible Pareto front: {len(front)} trial(s)</div>"
        f"{_table(['trial', *campaign.outcomes, 'settings'], rows)}</div>"
    )


def trial_html(trial: Trial) -> str:
    """A trial's number, state, settings, outcome, source and (for proposals) prediction."""
    return trial._repr_html_()
