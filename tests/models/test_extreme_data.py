"""Proposals that must survive extreme data: huge outcomes, very wide integer ranges."""

from __future__ import annotations

import math
import time
import tracemalloc

import pandas as pd
import pytest
import torch

import bo_loop as bl
from bo_loop.models import fitting
from bo_loop.space import Space


def _campaign(url: str, parameters, surrogate: str, values: list[float]) -> bl.Campaign:
    campaign = bl.Campaign.create(
        f"rig-{surrogate}", parameters, "y", storage=url, surrogate=surrogate,
        surrogate_settings={"epochs": 30, "ensemble": 1} if surrogate == "dngo" else None,
        initial_design_size=len(values),
    )  # fmt: skip
    for trial, value in zip(campaign.ask(len(values)), values, strict=True):
        campaign.tell(trial.number, value)
    return campaign


@pytest.mark.parametrize("surrogate", ["gp", "dngo"])
@pytest.mark.parametrize("huge", [1e200, -1e200, 1e300])
def test_a_huge_outcome_among_normal_ones_leaves_ask_and_predict_working(
    sqlite_url, surrogate, huge
):
    values = [1.0, 2.5, huge, 0.3, 4.0, 3.1]
    campaign = _campaign(sqlite_url, [bl.Real("x", 0.0, 1.0)], surrogate, values)
    [trial] = campaign.ask(1)
    assert 0.0 <= trial.params["x"] <= 1.0
    assert math.isfinite(trial.provenance["predicted_mean"])
    assert math.isfinite(trial.provenance["predicted_sd"])
    predicted = campaign.predict(pd.DataFrame({"x": [0.1, 0.5, 0.9]}))
    assert predicted.map(math.isfinite).all().all(), predicted
    best = campaign.recommend()
    assert math.isfinite(best.mean) and math.isfinite(best.sd)


def test_outcomes_are_scaled_by_a_power_of_two_only_when_extreme():
    assert fitting.outcome_scale(torch.tensor([[1e60], [-3.0]], dtype=torch.float64)) == 1.0
    scale = fitting.outcome_scale(torch.tensor([[1e300], [-3.0]], dtype=torch.float64))
    assert scale > 1.0 and math.log2(scale).is_integer()
    assert 1e300 / scale <= fitting.MAX_MODEL_OUTCOME


def test_outcomes_spread_over_less_than_2_to_the_minus_10_are_scaled_up_exactly():
    small = torch.tensor([[3e-9], [1e-9], [2.5e-9]], dtype=torch.float64)
    scale = fitting.outcome_scale(small)
    assert scale < 1.0 and math.log2(scale).is_integer()
    assert 1.0 <= float((small.max() - small.min()) / scale) < 2.0
    assert fitting.outcome_scale(torch.tensor([[0.5], [0.502]], dtype=torch.float64)) == 1.0
    assert fitting.outcome_scale(torch.tensor([[7e-9], [7e-9]], dtype=torch.float64)) == 1.0


def test_nanomolar_outcomes_get_the_proposals_of_ordinary_units(sqlite_url):
    # Before the spread rule the GP fitted outcomes in the 1e-9s as a constant (BoTorch's
    # Standardize leaves sd < 1e-8 unscaled) and proposed a corner: x = 1, then (0, 0).
    def proposals(unit: float, name: str) -> list[float]:
        campaign = bl.Campaign.create(
            name, [bl.Real("x", 0.0, 1.0), bl.Real("z", 0.0, 1.0)], "a", storage=sqlite_url,
            seed=0,
        )  # fmt: skip
        out = []
        for n in (5, 1, 1):
            for trial in campaign.ask(n):
                p = trial.params
                campaign.tell(trial.number, unit * (1 + math.sin(3 * p["x"]) + 0.3 * p["z"]))
                out += [p["x"], p["z"]]
        predicted = campaign.predict(pd.DataFrame({"x": [0.2], "z": [0.7]}))
        return [
            *out,
            float(predicted["mean"].iloc[0]) / unit,
            float(predicted["sd"].iloc[0]) / unit,
        ]

    ordinary = proposals(2.0**-30 * 2.0**30, "ordinary")
    nano = proposals(2.0**-30, "nano")  # ~9.3e-10
    assert nano == pytest.approx(ordinary, rel=1e-4, abs=1e-9)  # sd: the fit on data x 0.5


@pytest.mark.parametrize("high", [10**7, 10**8, 2**53])
def test_a_wide_integer_range_is_never_listed_value_by_value(high):
    space = Space([bl.Integer("n", 0, high), bl.Integer("k", 1, 5)])
    tracemalloc.start()
    try:
        dims = space.discrete_dims
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert list(dims) == [1] and peak < 1_000_000


@pytest.mark.parametrize("high", [10**7, 10**8])
def test_a_gp_ask_on_a_wide_integer_stays_fast_and_small(sqlite_url, high):
    campaign = _campaign(
        sqlite_url, [bl.Integer("n", 0, high), bl.Real("x", 0.0, 1.0)], "gp",
        [1.0, 2.0, 0.5, 3.0, 2.2],
    )  # fmt: skip
    started = time.monotonic()
    tracemalloc.start()
    try:
        trials = campaign.ask(2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 60
    assert peak < 200_000_000
    for trial in trials:
        assert isinstance(trial.params["n"], int) and 0 <= trial.params["n"] <= high


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: bl.Integer("n", 0, 2**62), r"must lie within ±2\*\*53 .* but got high=4611686018427387904"),
        (lambda: bl.Integer("n", 2**62, 2**62 + 10), r"but got low=4611686018427387904"),
        (lambda: bl.Integer("n", -(2**53) - 1, 0), r"but got low=-9007199254740993"),
    ],
)  # fmt: skip
def test_integers_beyond_exact_float64_are_refused_with_the_limit(make, message):
    with pytest.raises(bl.SpaceError, match=message):
        make()


def test_integers_up_to_the_limit_are_kept_exactly():
    p = bl.Integer("n", 2**53 - 10, 2**53)
    assert (p.low, p.high) == (2**53 - 10, 2**53)
    assert p.validate(2**53 - 3) == 2**53 - 3
