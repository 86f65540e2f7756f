"""bo_loop: resumable Bayesian-optimisation campaigns for lab experiments."""

from __future__ import annotations

from bo_loop.campaign import Campaign
from bo_loop.constraints import LinearConstraint
from bo_loop.exceptions import (
    BoLoopError,
    CampaignExistsError,
    CampaignNotFoundError,
    ConfigFormatError,
    ExportError,
    ImportRowsError,
    InvalidArgumentError,
    ObjectiveError,
    ObservationError,
    SchemaVersionError,
    SettingsError,
    SpaceError,
    StorageError,
    TrialNotFoundError,
    TrialStateError,
)
from bo_loop.imports import ImportReport
from bo_loop.infer import infer_space
from bo_loop.models.recommend import Recommendation
from bo_loop.objective import Objective
from bo_loop.outcomes import OutcomeConstraint
from bo_loop.space import Categorical, Integer, Real, Space
from bo_loop.trial import Trial, TrialState

__version__ = "0.1.0"

__all__ = [
    "BoLoopError",
    "Campaign",
    "CampaignExistsError",
    "CampaignNotFoundError",
    "Categorical",
    "ConfigFormatError",
    "ExportError",
    "ImportReport",
    "ImportRowsError",
    "Integer",
    "InvalidArgumentError",
    "LinearConstraint",
    "Objective",
    "ObjectiveError",
    "ObservationError",
    "OutcomeConstraint",
    "Real",
    "Recommendation",
    "SchemaVersionError",
    "SettingsError",
    "Space",
    "SpaceError",
    "StorageError",
    "Trial",
    "TrialNotFoundError",
    "TrialState",
    "TrialStateError",
    "__version__",
    "infer_space",
]
