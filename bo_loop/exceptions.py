"""The package's errors: one base class, a few subclasses a caller may want to catch apart.

Every message states the rule that was broken, then the value that broke it.
"""

from __future__ import annotations


class BoLoopError(Exception):
    """Base class of every error bo_loop raises on purpose."""


class InvalidArgumentError(BoLoopError, ValueError):
    """An argument breaks its rule: a count, a seed, a name, a reason or an option."""


class SpaceError(BoLoopError, ValueError):
    """A parameter definition, or a parameter value, breaks the search space's rules."""


class ObjectiveError(BoLoopError, ValueError):
    """An objective definition is invalid."""


class ObservationError(BoLoopError, ValueError):
    """A told outcome value is not a finite number for the campaign's objective."""


class TrialNotFoundError(BoLoopError, KeyError):
    """No trial with that number exists in the campaign."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class TrialStateError(BoLoopError):
    """The trial is not in a state that allows the operation (e.g. telling a completed trial)."""


class CampaignExistsError(BoLoopError):
    """A campaign with that name already exists in the storage."""


class CampaignNotFoundError(BoLoopError, LookupError):
    """No campaign with that name exists in the storage."""


class StorageError(BoLoopError):
    """The database could not be reached, read or written."""


class SchemaVersionError(StorageError):
    """The database was written by a different schema revision than this bo_loop expects."""


class ImportRowsError(BoLoopError, ValueError):
    """Rows handed to ``add_observations`` broke the rules; nothing was stored.

    Attributes:
        problems: One ``(row_label, message)`` pair per bad row.
    """

    def __init__(self, problems: list[tuple[object, str]]):
        self.problems = problems
        lines = [f"  row {label}: {message}" for label, message in problems]
        super().__init__(
            f"{len(problems)} row(s) broke the rules; nothing was stored:\n" + "\n".join(lines)
        )


class SettingsError(BoLoopError, ValueError):
    """An unknown model setting, or a setting that breaks its rule (checked at create)."""


class ExportError(BoLoopError, ValueError):
    """A fitted surrogate, or one of its settings, cannot be exported (ONNX, Pyomo)."""


class ConfigFormatError(StorageError):
    """A stored campaign config was written in a format this bo_loop cannot read."""
