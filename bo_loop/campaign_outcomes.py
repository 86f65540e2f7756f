"""The outcome half of `Campaign`: its objectives and outcome constraints, the best feasible
trial of a single objective, and the Pareto front of several."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from bo_loop.config import CampaignConfig
from bo_loop.exceptions import ObjectiveError
from bo_loop.objective import Objective
from bo_loop.outcomes import OutcomeConstraint, Outcomes, non_dominated
from bo_loop.trial import Trial, TrialState


class OutcomeViews:
    """Methods of `Campaign` about its outcomes; they need its name and config."""

    name: str
    _config: CampaignConfig

    if TYPE_CHECKING:

        def trials(self, state: TrialState | str | None = None) -> builtins.list[Trial]: ...

    @property
    def objective(self) -> Objective:
        """The campaign's objective.

        Raises:
            ObjectiveError: the campaign has several objectives (use :attr:`objectives`).
        """
        objectives = self._config.objectives
        if len(objectives) > 1:
            raise ObjectiveError(
                f"Campaign {self.name!r} has {len(objectives)} objectives "
                f"{[o.name for o in objectives]!r}: use campaign.objectives."
            )
        return objectives[0]

    @property
    def objectives(self) -> tuple[Objective, ...]:
        """Every objective, in the order given at create."""
        return self._config.objectives

    @property
    def outcome_constraints(self) -> tuple[OutcomeConstraint, ...]:
        """The requirements a feasible trial's outcomes meet."""
        return self._config.outcome_constraints

    @property
    def outcomes(self) -> tuple[str, ...]:
        """Every outcome a trial is told: the objectives, then constraint-only outcomes."""
        return self._config.outcomes.names

    def is_feasible(self, trial: Trial) -> bool:
        """Whether a trial's told values meet every outcome constraint (an untold constrained
        outcome counts as not met)."""
        return self._config.outcomes.is_feasible(trial.values)

    def best(self) -> Trial | None:
        """The feasible completed trial with the best observed objective, or None before any.

        Feasible: every outcome constraint holds for its measured values (a campaign without
        outcome constraints: every completed trial). Ties go to the earlier trial.

        Raises:
            ObjectiveError: the campaign has several objectives: there is no single best trial,
                see :meth:`pareto_front`.
        """
        outcomes = self._config.outcomes
        if len(outcomes.objectives) > 1:
            raise ObjectiveError(
                f"best() needs a single objective, but campaign {self.name!r} has "
                f"{[o.name for o in outcomes.objectives]!r}: use campaign.pareto_front() for the "
                "trials no other trial beats in every objective."
            )
        objective = outcomes.objectives[0]
        done = [t for t in self.trials(TrialState.COMPLETED) if outcomes.is_feasible(t.values)]
        if not done:
            return None
        sign = objective.sign
        return max(done, key=lambda t: (sign * float(t.values[objective.name]), -t.number))

    def pareto_front(self) -> builtins.list[Trial]:
        """The feasible completed trials that no other feasible completed trial dominates.

        Trial a dominates b when a is at least as good in every objective (each by its goal)
        and strictly better in one. Trials with equal values are all kept. For a single
        objective this is the best feasible trial(s). In trial-number order.
        """
        return pareto_trials(self._config.outcomes, self.trials(TrialState.COMPLETED))


def pareto_trials(outcomes: Outcomes, trials: builtins.list[Trial]) -> builtins.list[Trial]:
    """The feasible, non-dominated trials among completed ``trials``, in number order."""
    feasible = [
        t
        for t in trials
        if t.state is TrialState.COMPLETED
        and all(o.name in t.values for o in outcomes.objectives)
        and outcomes.is_feasible(t.values)
    ]
    keep = non_dominated([outcomes.signed(t.values) for t in feasible])
    return sorted((feasible[i] for i in keep), key=lambda t: t.number)
