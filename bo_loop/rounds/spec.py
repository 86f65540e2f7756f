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
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bo_loop.constraints import LinearConstraint
from bo_loop.exceptions import BoLoopError
from bo_loop.objective import Objective
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
)
REQUIRED_TOP_KEYS = ("name", "parameters", "objective")
PARAMETER_KEYS = {
    "real": ("name", "type", "low", "high", "log"),
    "integer": ("name", "type", "low", "high", "log"),
    "categorical": ("name", "type", "choices"),
}
OBJECTIVE_KEYS = ("name", "goal")
SURROGATE_KEYS = ("name", "settings")


class SpecError(BoLoopError, ValueError):
    """A campaign spec file cannot be read, or its layout is wrong."""


@dataclass(frozen=True)
class CampaignSpec:
    """What a spec file asks ``Campaign.create`` for (``storage`` as written, maybe None)."""

    name: str
    parameters: list[Parameter]
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


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key written twice (plain YAML keeps the last silently)."""


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)  # type: ignore[no-untyped-call]
        if key in seen:
            raise SpecError(
                f"Each key may appear once, but {key!r} appears twice "
                f"(line {key_node.start_mark.line + 1})."
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _mapping_without_duplicates,  # type: ignore[arg-type]
)

# YAML 1.1 (PyYAML's default) reads yes/no/on/off/y/n as booleans, so `choices: [SE, NO, DK]`
# would hold False, reads 1e-3 (no dot) as text and 1:30 as the integer 90. Resolve as YAML 1.2
# does instead: only true/false are booleans, a number with a dot or an exponent, in any of its
# forms, is a float, and an integer is plain decimal digits (or 0x hexadecimal).
_BOOL_TAG = "tag:yaml.org,2002:bool"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_INT_TAG = "tag:yaml.org,2002:int"
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL_TAG, _FLOAT_TAG, _INT_TAG)
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_UniqueKeyLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_UniqueKeyLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"""^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9]+[eE][-+]?[0-9]+
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)
_UniqueKeyLoader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)


def read_spec_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a ``.yaml``/``.yml`` or ``.toml`` spec into a dict, or raise SpecError saying why."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise SpecError(f"A spec file must end in .yaml, .yml or .toml, but got {path.name!r}.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"Cannot read spec file {str(path)!r}: {e}") from None
    try:
        data = (
            tomllib.loads(text) if suffix == ".toml" else yaml.load(text, Loader=_UniqueKeyLoader)
        )
    except SpecError as e:
        raise SpecError(f"{path.name}: {e}") from None
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as e:
        raise SpecError(f"{path.name} is not valid {suffix[1:].upper()}: {e}") from None
    if not isinstance(data, dict):
        raise SpecError(
            f"{path.name} must hold a mapping of keys (name, parameters, objective, ...), "
            f"but it holds {type(data).__name__}."
        )
    return data


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


def _objective(raw: object) -> Objective:
    if isinstance(raw, str):
        raw = {"name": raw}
    data = _mapping("objective", raw)
    _unknown_keys("objective", data, OBJECTIVE_KEYS)
    name = _string("objective.name", data.get("name"))
    try:
        return Objective(name, data.get("goal", "maximize"))
    except BoLoopError as e:
        raise SpecError(f"objective: {e}") from None


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
    objective = _objective(data["objective"])
    taken = [n for n in [*(p.name for p in parameters), objective.name] if n in ROUND_FILE_COLUMNS]
    if taken:
        raise SpecError(
            f"Parameter and objective names must differ from the round-file columns "
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
        objective=objective,
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
