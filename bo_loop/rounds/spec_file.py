"""Reading a campaign spec file (YAML or TOML) into plain data: a safe YAML loader that reads as
YAML 1.2 does and refuses a key written twice. What the data means is `bo_loop.rounds.spec`."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from bo_loop.exceptions import BoLoopError


class SpecError(BoLoopError, ValueError):
    """A campaign spec file cannot be read, or its layout is wrong."""


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
