"""Campaign spec files (YAML or TOML) for ``bo-loop init``: read, check the layout, build a campaign.

The spec's *layout* (which keys exist, what kind of value each holds) is checked here, so a typo
is reported with its key path. The *rules* of each value (``low < high``, a known surrogate, a seed
in range) stay with the library: the spec's values go straight to ``bl.Real`` / ``bl.Objective`` /
``Campaign.create``, and their errors are passed on with the key path in front.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bo_loop.constraints import LinearConstraint
from bo_loop.exceptions import BoLoopError
from bo_loop.objective import Objective
from bo_loop.outcomes import OutcomeConstraint
from bo_loop.rounds.spec_file import SpecError, read_spec_file
from bo_loop.space import Categorical, Integer, Parameter, Real

#: Column names that round files use for their own fields; no parameter or objective may take them.
ROUND_FILE_COLUMNS = ("trial", "note", "campaign")

TOP_KEYS = (
    "name",
    "parameters",
    "objective",
    "surrogate",
    "acquisition",
    "seed",
    "initial_design_size",
    "storage",
    "parameter_constraints",
    "objectives",
    "outcome_constraints",
)
REQUIRED_TOP_KEYS = ("name", "parameters")
PARAMETER_KEYS = {
    "real": ("name", "type", "low", "high", "log"),
    "integer": ("name", "type", "low", "high", "log"),
    "categorical": ("name", "type", "choices"),
}
OBJECTIVE_KEYS = ("name", "goal", "bounds")
OUTCOME_CONSTRAINT_KEYS = ("name", "op", "value")
#: ``purity >= 95``: an outcome's name, a comparison, a number.
#: ``purity >= 95``: an outcome's name, a comparison, a number (the comparison is checked by
#: ``bl.OutcomeConstraint``, whose message lists the allowed ones).
_OUTCOME_CONSTRAINT = re.compile(
    r"^\s*(?P<name>[^<>=!]*?)\s*(?P<op>[<>=!]+)\s*(?P<value>[^<>=!]*?)\s*$"
)
SURROGATE_KEYS = ("name", "settings")


@dataclass(frozen=True)
class CampaignSpec:
    """What a spec file asks ``Campaign.create`` for (``storage`` as written, maybe None)."""

    name: str
    parameters: list[Parameter]
    #: The first (or only) objective.
    objective: Objective
    surrogate: str = "gp"
    surrogate_settings: dict[str, Any] = field(default_factory=dict)
    #: As written; ``Campaign.create`` checks it (its message names ``seed``).
    seed: Any = 0
    #: As written; ``Campaign.create`` checks it.
    initial_design_size: Any = None
    storage: str | None = None
    #: The acquisition's settings as written; ``Campaign.create`` checks them.
    acquisition_settings: dict[str, Any] = field(default_factory=dict)
    #: Each as a string ``"water + ethanol <= 1"`` or ``{coefficients, op, rhs}``; checked
    #: against the space by ``Campaign.create``.
    parameter_constraints: list[LinearConstraint] = field(default_factory=list)
    #: Every objective, in order (``objectives:``, or the one ``objective:``).
    objectives: list[Objective] = field(default_factory=list)
    #: Each as a string ``"purity >= 95"`` or ``{name, op, value}``.
    outcome_constraints: list[OutcomeConstraint] = field(default_factory=list)

    @property
    def outcome_names(self) -> list[str]:
        """Every outcome a trial reports: the objectives, then the constrained outcomes."""
        names = [o.name for o in self.objectives]
        return names + [c.name for c in self.outcome_constraints if c.name not in names]


def _unknown_keys(where: str, data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = [k for k in data if k not in allowed]
    if not unknown:
        return
    key = unknown[0]
    close = difflib.get_close_matches(str(key), allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise SpecError(
        f"Unknown key {key!r} in {where}{hint}; the keys allowed there are {list(allowed)!r}."
    )


def _mapping(where: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(f"{where} must be a mapping of keys, but got {value!r}.")
    return value


def _string(where: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where} must be a non-empty string, but got {value!r}.")
    return value


def _parameter(where: str, raw: object) -> Parameter:
    data = _mapping(where, raw)
    kind = data.get("type")
    if kind not in PARAMETER_KEYS:
        raise SpecError(f"{where}.type must be one of {list(PARAMETER_KEYS)!r}, but got {kind!r}.")
    _unknown_keys(f"{where} (type {kind})", data, PARAMETER_KEYS[kind])
    name = _string(f"{where}.name", data.get("name"))
    where = f"{where} ({name!r})"
    missing = [k for k in PARAMETER_KEYS[kind] if k not in data and k != "log"]
    if missing:
        raise SpecError(f"{where} needs the key(s) {missing!r} for a {kind} parameter.")
    try:
        if kind == "categorical":
            return Categorical(name, data["choices"])
        log = data.get("log", False)
        if not isinstance(log, bool):
            raise SpecError(f"{where}.log must be true or false, but got {log!r}.")
        cls = Real if kind == "real" else Integer
        return cls(name, data["low"], data["high"], log=log)
    except SpecError:
        raise
    except BoLoopError as e:
        # The library states the rule and the value; the key path tells the user where to look.
        raise SpecError(f"{where}: {e}") from None


def _objective(where: str, raw: object) -> Objective:
    if isinstance(raw, str):
        raw = {"name": raw}
    data = _mapping(where, raw)
    _unknown_keys(where, data, OBJECTIVE_KEYS)
    name = _string(f"{where}.name", data.get("name"))
    bounds = data.get("bounds")
    if bounds is not None and (not isinstance(bounds, list) or len(bounds) != 2):
        raise SpecError(
            f"{where}.bounds must be a list [low, high] (null for an open side), "
            f"but got {bounds!r}."
        )
    try:
        if bounds is None:
            return Objective(name, data.get("goal", "maximize"))
        return Objective(name, data.get("goal", "maximize"), bounds=tuple(bounds))
    except BoLoopError as e:
        raise SpecError(f"{where}: {e}") from None


def _objectives(data: Mapping[str, Any]) -> list[Objective]:
    """``objective:`` (one) or ``objectives:`` (a list), exactly one of them."""
    if ("objective" in data) == ("objectives" in data):
        raise SpecError(
            "The spec needs exactly one of the keys 'objective' (one outcome to optimise) and "
            f"'objectives' (a list of them), but it has {list(data)!r}."
        )
    if "objective" in data:
        return [_objective("objective", data["objective"])]
    raw = data["objectives"]
    if not isinstance(raw, list) or not raw:
        raise SpecError(
            "objectives must be a non-empty list like [{name: yield, goal: maximize, "
            f"bounds: [0, 100]}}, {{name: cost, goal: minimize}}], but got {raw!r}."
        )
    objectives = [_objective(f"objectives[{i}]", o) for i, o in enumerate(raw)]
    names = [o.name for o in objectives]
    repeated = [n for n in names if names.count(n) > 1]
    if repeated:
        raise SpecError(f"Each objective's name must be unique, but {repeated[0]!r} appears twice.")
    return objectives


def _outcome_constraint(where: str, raw: object) -> OutcomeConstraint:
    if isinstance(raw, str):
        match = _OUTCOME_CONSTRAINT.fullmatch(raw)
        value = None if match is None else _spec_number(match["value"])
        if match is None or not match["name"] or value is None:
            raise SpecError(
                f"{where} must read 'OUTCOME >= NUMBER' or 'OUTCOME <= NUMBER' (e.g. "
                f"'purity >= 95'), but got {raw!r}."
            )
        name, op = match["name"], match["op"]
    else:
        data = _mapping(where, raw)
        _unknown_keys(where, data, OUTCOME_CONSTRAINT_KEYS)
        missing = [k for k in OUTCOME_CONSTRAINT_KEYS if k not in data]
        if missing:
            raise SpecError(
                f"{where} needs the key(s) {missing!r}, e.g. {{name: purity, op: '>=', value: 95}}."
            )
        name, op, value = _string(f"{where}.name", data["name"]), data["op"], data["value"]
    try:
        # op and value as written: OutcomeConstraint refuses a bad one, naming it.
        return OutcomeConstraint(name, op, value)  # type: ignore[arg-type]
    except BoLoopError as e:
        raise SpecError(f"{where}: {e}") from None


def _spec_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _outcome_constraints(raw: object) -> list[OutcomeConstraint]:
    if not isinstance(raw, list):
        raise SpecError(
            "outcome_constraints must be a list of constraints like 'purity >= 95' or "
            f"{{name: purity, op: '>=', value: 95}}, but got {raw!r}."
        )
    return [_outcome_constraint(f"outcome_constraints[{i}]", c) for i, c in enumerate(raw)]


def _surrogate(raw: object) -> tuple[str, dict[str, Any]]:
    if isinstance(raw, str):
        return raw, {}
    data = _mapping("surrogate", raw)
    _unknown_keys("surrogate", data, SURROGATE_KEYS)
    name = _string("surrogate.name", data.get("name"))
    settings = data.get("settings", {})
    return name, dict(_mapping("surrogate.settings", settings))


def _constraints(raw: object) -> list[LinearConstraint]:
    if not isinstance(raw, list):
        raise SpecError(
            "parameter_constraints must be a list of constraints like 'water + ethanol <= 1' "
            f"or {{coefficients: {{water: 1}}, op: '<=', rhs: 1}}, but got {raw!r}."
        )
    out = []
    for i, entry in enumerate(raw):
        try:
            out.append(LinearConstraint.from_config(entry))
        except BoLoopError as e:
            raise SpecError(f"parameter_constraints[{i}]: {e}") from None
    return out


def parse_spec(data: Mapping[str, Any]) -> CampaignSpec:
    """Check a parsed spec's layout and build its parameters and objective.

    Raises:
        SpecError: a key is unknown or missing, or a value has the wrong kind or breaks a rule
            (the message names the key path and the value).
    """
    _unknown_keys("the spec", data, TOP_KEYS)
    missing = [k for k in REQUIRED_TOP_KEYS if k not in data]
    if missing:
        raise SpecError(f"The spec needs the key(s) {missing!r}; it has {list(data)!r}.")
    name = _string("name", data["name"])
    raw_params = data["parameters"]
    if not isinstance(raw_params, list) or not raw_params:
        raise SpecError(
            f"parameters must be a non-empty list of parameters, but got {raw_params!r}."
        )
    parameters = [_parameter(f"parameters[{i}]", p) for i, p in enumerate(raw_params)]
    objectives = _objectives(data)
    outcome_constraints = _outcome_constraints(data.get("outcome_constraints", []))
    names = [
        *(p.name for p in parameters), *(o.name for o in objectives),
        *(c.name for c in outcome_constraints),
    ]  # fmt: skip
    taken = [n for n in names if n in ROUND_FILE_COLUMNS]
    if taken:
        raise SpecError(
            f"Parameter and outcome names must differ from the round-file columns "
            f"{list(ROUND_FILE_COLUMNS)!r}, but got {taken[0]!r}."
        )
    surrogate, settings = _surrogate(data.get("surrogate", "gp"))
    acquisition = data.get("acquisition", {})
    if not isinstance(acquisition, dict):
        raise SpecError(
            f"acquisition must be a mapping of settings (num_restarts, raw_samples, mc_samples), "
            f"but got {acquisition!r}."
        )
    storage = data.get("storage")
    if storage is not None:
        storage = _string("storage", storage)
    # seed and initial_design_size are checked by Campaign.create, whose messages name them.
    return CampaignSpec(
        name=name,
        parameters=parameters,
        objective=objectives[0],
        objectives=objectives,
        outcome_constraints=outcome_constraints,
        surrogate=surrogate,
        surrogate_settings=settings,
        seed=data.get("seed", 0),
        initial_design_size=data.get("initial_design_size"),
        storage=storage,
        acquisition_settings=acquisition,
        parameter_constraints=_constraints(data.get("parameter_constraints", [])),
    )


def load_spec(path: str | os.PathLike[str]) -> CampaignSpec:
    """Read and check a spec file; errors name the file and the key."""
    data = read_spec_file(path)
    try:
        return parse_spec(data)
    except SpecError as e:
        raise SpecError(f"{Path(path).name}: {e}") from None
