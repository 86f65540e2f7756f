"""Fitted surrogates on a mixed space (real, log real, integer, categorical) for the export tests."""

from __future__ import annotations

import importlib
import os

import numpy as np
import pandas as pd
import pytest

import bo_loop as bl
from bo_loop.models.fitting import FittedModel

SPACE = [
    bl.Real("t", 20.0, 120.0),
    bl.Real("flow", 0.1, 10.0, log=True),
    bl.Integer("p", 1, 10),
    bl.Categorical("cat", ["A", "B", "C"]),
]
#: Small networks: the export is the same code at any width, and the tests stay fast.
#: The export has terms for DNGO's BLR heads only (the GP head is refused).
DNGO_SETTINGS = {"ensemble": 3, "hidden": [8, 8], "max_steps": 200, "head": "blr"}


def need(module: str) -> None:
    """Skip without the ``aml`` extra, with the reason; under CI (which installs it) fail."""
    try:
        importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"CI must run the export tests, but {module} is missing (make test installs .[aml])."
            )
        pytest.skip(
            f"the export tests need {module}: pip install -c constraints.txt -e '.[dev,aml]'"
        )


def random_points(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "t": rng.uniform(20, 120, n),
        "flow": np.exp(rng.uniform(np.log(0.1), np.log(10), n)),
        "p": rng.integers(1, 11, n),
        "cat": rng.choice(["A", "B", "C"], n),
    })  # fmt: skip


def fitted_model(url: str, surrogate: str, settings: dict | None = None) -> FittedModel:
    """A minimised objective, so that the exports must get the sign right too."""
    data = random_points(30, 0)
    data["y"] = (
        (data.t / 50 - 1) ** 2 + np.log(data.flow) + 0.3 * data.p
        + data.cat.map({"A": 0.0, "B": 1.5, "C": -1.0})
    )  # fmt: skip
    if settings is None and surrogate == "dngo":
        settings = DNGO_SETTINGS
    c = bl.Campaign.create(
        "export", SPACE, bl.Objective("y", goal="minimize"), storage=url, surrogate=surrogate,
        surrogate_settings=settings,
    )  # fmt: skip
    c.add_observations(data)
    return c.fitted_model()
