"""A campaign's stored configuration: everything that decides its proposals, as versioned JSON.

The config is written once at create (and changed only by ``set_surrogate``), read on every call,
and never cached across calls: a colleague's ``set_surrogate`` is seen by the next ``recommend``.
Its ``format`` is checked on load: a config written by a newer bo_loop is refused with a message,
an older format is read with the defaults it implied.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bo_loop.constraints import LinearConstraint, check_constraints
from bo_loop.exceptions import ConfigFormatError, InvalidArgumentError, ObjectiveError, SpaceError
from bo_loop.models import acquisition, surrogates
from bo_loop.objective import Objective
from bo_loop.outcomes import OutcomeConstraint, Outcomes, check_satisfiable
from bo_loop.space import NAME_RULE, Parameter, Space, has_bad_characters

#: Version of the config layout. 1: space, objective, surrogate (GP settings empty), seed,
#: initial_design_size. 2: every setting stored in full, and the acquisition's settings.
#: 3: ``parameter_constraints`` (linear constraints over the parameters; none before).
#: 4: ``objectives`` (a list, each with optional ``bounds``) replaces ``objective``, and
#: ``outcome_constraints`` (none before).
CONFIG_FORMAT = 4

#: Columns that ``to_dataframe``, exports and round files write beside the parameters and the
#: outcome: a parameter or objective of the same name would be overwritten there. Refused at
#: create (``Space`` itself refuses only the first three, so older campaigns still load).
RESERVED_NAMES = frozenset(
    {"number", "state", "source", "generator", "reason", "created_at", "finished_at", "trial",
     "note", "campaign", "violates"}
)  # fmt: skip

#: The longest campaign name.
MAX_NAME = 255

#: The largest ``initial_design_size``.
MAX_DESIGN = 10_000


def check_int(value: object, label: str, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``, else an InvalidArgumentError naming ``label``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgumentError(f"{label} must be an integer, but got {value!r}.")
    v = int(value)
    if v < low or (high is not None and v > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise InvalidArgumentError(f"{label} must be {bound}, but got {label}={v}.")
    return v


def check_names(space: Space, outcomes: Outcomes | Objective) -> None:
    """Refuse names that clash with each other or with the columns bo_loop writes itself, and
    names that print like another name.

    Checked at create only: campaigns stored before a rule existed still open.
    """
    for name in space.names:
        if has_bad_characters(name):
            raise SpaceError(f"A parameter name {NAME_RULE}, but got name={name!r}.")
    if isinstance(outcomes, Objective):
        outcomes = Outcomes((outcomes,))
    for objective in outcomes.objectives:
        _check_outcome_name(space, objective.name, "objective")
    for c in outcomes.constraints:
        _check_outcome_name(space, c.name, "outcome constraint")
    for name in space.names:
        if name in RESERVED_NAMES:
            raise SpaceError(
                f"A parameter name must not be one of {sorted(RESERVED_NAMES)} (columns bo_loop "
                f"writes beside the parameters), but got name={name!r}."
            )


def _check_outcome_name(space: Space, name: str, kind: str) -> None:
    objective = Objective(name)
    if has_bad_characters(objective.name):
        raise ObjectiveError(f"An objective name {NAME_RULE}, but got name={objective.name!r}.")
    if objective.name in space.names:
        raise ObjectiveError(
            f"An {kind}'s outcome name must differ from every parameter name, but got "
            f"{objective.name!r}."
        )
    if objective.name in RESERVED_NAMES:
        raise ObjectiveError(
            f"An outcome name must not be one of {sorted(RESERVED_NAMES)} (columns bo_loop "
            f"writes beside the outcome), but got name={objective.name!r}."
        )


@dataclass(frozen=True)
class CampaignConfig:
    """What a campaign proposes from, besides its trials. Built checked; stored as JSON."""

    space: Space
    objectives: tuple[Objective, ...]
    seed: int = 0
    surrogate: str = "gp"
    surrogate_settings: Mapping[str, Any] = field(default_factory=dict)
    acquisition: Mapping[str, Any] = field(default_factory=dict)
    initial_design_size: int | None = None
    parameter_constraints: tuple[LinearConstraint, ...] = ()
    outcome_constraints: tuple[OutcomeConstraint, ...] = ()

    @property
    def objective(self) -> Objective:
        """The first objective: the campaign's only one unless it has several."""
        return self.objectives[0]

    @property
    def outcomes(self) -> Outcomes:
        """The objectives and outcome constraints, checked together."""
        return Outcomes(self.objectives, self.outcome_constraints)

    @classmethod
    def build(
        cls,
        space: Space,
        objective: Objective | Outcomes,
        *,
        seed: object = 0,
        surrogate: object = "gp",
        surrogate_settings: Mapping[str, Any] | None = None,
        acquisition_settings: Mapping[str, Any] | None = None,
        initial_design_size: object = None,
        parameter_constraints: object = (),
    ) -> CampaignConfig:
        """Check every part and fill every default.

        Raises:
            BoLoopError: a subclass naming the rule and the value that broke it.
        """
        outcomes = objective if isinstance(objective, Outcomes) else Outcomes((objective,))
        check_names(space, outcomes)
        check_satisfiable(outcomes)
        size = initial_design_size
        return cls(
            space=space,
            objectives=outcomes.objectives,
            outcome_constraints=outcomes.constraints,
            seed=check_int(seed, "seed", 0, 2**31 - 1),
            surrogate=str(surrogate),
            surrogate_settings=surrogates.resolve_settings(surrogate, surrogate_settings),  # type: ignore[arg-type]
            acquisition=acquisition.resolve_settings(
                acquisition_settings, objectives=len(outcomes.objectives)
            ),
            initial_design_size=None
            if size is None
            else check_int(size, "initial_design_size", 1, MAX_DESIGN),
            parameter_constraints=check_constraints(space, parameter_constraints or ()),  # type: ignore[arg-type]
        )

    def with_surrogate(self, name: str, settings: Mapping[str, Any] | None) -> CampaignConfig:
        return CampaignConfig(
            self.space, self.objectives, self.seed, name,
            surrogates.resolve_settings(name, settings), self.acquisition,
            self.initial_design_size, self.parameter_constraints, self.outcome_constraints,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CONFIG_FORMAT,
            "space": self.space.to_config(),
            **self.outcomes.to_config(),
            "surrogate": {"name": self.surrogate, "settings": dict(self.surrogate_settings)},
            "acquisition": dict(self.acquisition),
            "seed": self.seed,
            "initial_design_size": self.initial_design_size,
            "parameter_constraints": [c.to_config() for c in self.parameter_constraints],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], campaign: str = "") -> CampaignConfig:
        """Read a stored config; a format-1 config gets the settings its campaigns ran with,
        formats 1 and 2 no parameter constraints, formats 1 to 3 one objective (``objective``)
        and no outcome constraints.

        Raises:
            ConfigFormatError: the format is unknown (written by a newer bo_loop).
        """
        fmt = raw.get("format")
        if fmt not in (1, 2, 3, CONFIG_FORMAT):
            raise ConfigFormatError(
                f"Campaign {campaign!r} has config format {fmt!r}, but this bo_loop reads formats "
                f"1 to {CONFIG_FORMAT}: upgrade bo_loop (pip install -U bo_loop) to open it."
            )
        surrogate = raw["surrogate"]
        objectives = (
            tuple(Objective.from_config(o) for o in raw["objectives"])
            if "objectives" in raw
            else (Objective.from_config(raw["objective"]),)
        )
        return cls(
            space=Space.from_config(raw["space"]),
            objectives=objectives,
            seed=int(raw["seed"]),
            surrogate=str(surrogate["name"]),
            # Format 1 stored the GP's settings as {} (they were module constants): its defaults
            # are those constants' values, so old campaigns propose as they did; a setting added
            # since takes the value the campaign ran with (`Surrogate.legacy`).
            surrogate_settings=surrogates.stored_settings(surrogate["name"], surrogate["settings"]),
            # A setting added since takes the value the campaign ran with (`acquisition.LEGACY`).
            acquisition=acquisition.stored_settings(raw.get("acquisition")),
            initial_design_size=raw.get("initial_design_size"),
            parameter_constraints=tuple(
                LinearConstraint.from_config(c) for c in raw.get("parameter_constraints", [])
            ),
            outcome_constraints=tuple(
                OutcomeConstraint.from_config(c) for c in raw.get("outcome_constraints", [])
            ),
        )


def check_campaign_name(name: object) -> str:
    """``name`` if it can name a campaign, else an InvalidArgumentError with the rule."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise InvalidArgumentError(
            f"A campaign name must be a non-empty string of at most {MAX_NAME} characters, "
            f"but got {name!r}."
        )
    if has_bad_characters(name):
        raise InvalidArgumentError(f"A campaign name {NAME_RULE}, but got {name!r}.")
    return name


def build_outcomes(
    objective: Objective | str | None,
    objectives: Sequence[Objective] | None = None,
    outcome_constraints: Sequence[OutcomeConstraint] | None = (),
) -> Outcomes:
    """The checked outcomes of a new campaign: ``objective=`` (one) or ``objectives=`` (a list).

    Raises:
        ObjectiveError: both or neither usable, a bad objective or constraint, duplicate names.
    """
    if objective is not None and objectives is not None:
        raise ObjectiveError(
            "Give objective= (one objective) or objectives= (a list), not both; got "
            f"objective={objective!r} and objectives={objectives!r}."
        )
    if objectives is None:
        objective = "objective" if objective is None else objective
        if isinstance(objective, str):
            objective = Objective(objective)
        if not isinstance(objective, Objective):
            raise ObjectiveError(
                f"objective must be a bl.Objective or a name, but got {objective!r}."
            )
        objectives = [objective]
    if isinstance(objectives, Objective | str) or not isinstance(objectives, Sequence):
        raise ObjectiveError(
            f"objectives must be a list of bl.Objective, but got objectives={objectives!r}."
        )
    constraints = outcome_constraints or ()
    if isinstance(constraints, OutcomeConstraint) or not isinstance(constraints, Sequence):
        raise ObjectiveError(
            "outcome_constraints must be a list of bl.OutcomeConstraint, but got "
            f"outcome_constraints={constraints!r}."
        )
    return Outcomes(tuple(objectives), tuple(constraints))


def build_config(
    parameters: Sequence[Parameter] | Space,
    objective: Objective | str | None = None,
    *,
    objectives: Sequence[Objective] | None = None,
    outcome_constraints: Sequence[OutcomeConstraint] | None = (),
    **options: Any,
) -> CampaignConfig:
    """The checked config of a new campaign (see `Campaign.create` for the options)."""
    space = parameters if isinstance(parameters, Space) else Space(parameters)
    outcomes = build_outcomes(objective, objectives, outcome_constraints)
    return CampaignConfig.build(space, outcomes, **options)
