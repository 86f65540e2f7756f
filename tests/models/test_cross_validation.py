from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import bo_loop as bl
from bo_loop.models.cross_validation import Comparison, compare, cross_validate, fold_assignment


def forrester(x: float) -> float:
    return x * math.sin(x) + x * math.cos(2 * x)


@pytest.fixture
def campaign(sqlite_url) -> bl.Campaign:
    c = bl.Campaign.create("cv", [bl.Real("x", 0.0, 10.0)], "y", storage=sqlite_url)
    xs = np.linspace(0.0, 10.0, 40)
    c.add_observations(pd.DataFrame({"x": xs, "y": [forrester(x) for x in xs]}))
    return c


def test_folds_partition_the_rows_evenly():
    a = fold_assignment(23, 5, seed=1)
    assert sorted(np.bincount(a)) == [4, 4, 5, 5, 5]
    assert list(fold_assignment(23, 5, seed=1)) == list(a)
    assert sorted(fold_assignment(6, 6, seed=0)) == [0, 1, 2, 3, 4, 5]


def test_metrics_are_those_of_the_held_out_predictions(campaign):
    cv = cross_validate(campaign, "gp", folds=4)
    p = cv.predictions
    assert list(p.columns) == ["number", "fold", "observed", "mean", "sd"]
    assert sorted(p["number"]) == list(range(40)) and set(p["fold"]) == {0, 1, 2, 3}
    err = p["observed"] - p["mean"]
    assert cv.rmse == pytest.approx(float(np.sqrt((err**2).mean())))
    density = -0.5 * (err / p["sd"]) ** 2 - np.log(p["sd"]) - 0.5 * math.log(2 * math.pi)
    assert cv.mlpd == pytest.approx(float(density.mean()))
    assert cv.coverage == pytest.approx(float((err.abs() <= 2 * p["sd"]).mean()))
    # A smooth function densely sampled: the GP predicts held-out points well.
    assert cv.rmse < 1.5 and cv.surrogate == "gp"


def test_held_out_rows_are_not_seen_by_their_model(campaign):
    # Leave-one-out on a function the GP interpolates: a model that had seen the point would
    # predict it almost exactly, with an sd near the noise floor.
    cv = cross_validate(campaign, "gp", folds=40)
    assert cv.folds == 40
    assert (cv.predictions["sd"] > 1e-2).all()
    assert (cv.predictions["observed"] - cv.predictions["mean"]).abs().max() > 0.05


def test_compare_side_by_side(campaign):
    comparison = campaign.cross_validate(folds=3)
    assert isinstance(comparison, Comparison)
    table = comparison.table()
    assert list(table.index) == ["gp", "dngo"]
    assert list(table.columns) == ["n", "folds", "rmse", "mlpd", "coverage_2sd", "seconds"]
    assert (table["n"] == 40).all() and (table["folds"] == 3).all()
    # Same folds for both surrogates.
    assert list(comparison["gp"].predictions["fold"]) == list(
        comparison["dngo"].predictions["fold"]
    )
    assert "coverage_2sd" in repr(comparison) and "<table" in comparison._repr_html_()


def test_fitted_model_source_and_subset(campaign):
    fitted = campaign.fitted_model()
    cv = cross_validate(fitted, folds=3, max_points=9, seed=2)
    assert len(cv.predictions) == 9 and cv.surrogate == "gp"
    assert set(cv.predictions["number"]) <= set(range(40))
    # Folds are capped at the number of rows.
    both = compare(fitted, ["gp"], folds=50, max_points=12)
    assert both["gp"].folds == 12


@pytest.mark.parametrize("folds", [1, 41, 2.5, True])
def test_bad_folds_are_refused(campaign, folds):
    with pytest.raises(bl.BoLoopError, match=r"folds must be an integer in \[2, 40\]"):
        cross_validate(campaign, "gp", folds=folds)


def test_too_few_rows(sqlite_url):
    c = bl.Campaign.create("few", [bl.Real("x", 0.0, 1.0)], "y", storage=sqlite_url)
    c.add_observations([{"x": 0.1, "y": 1.0}, {"x": 0.5, "y": 2.0}])
    with pytest.raises(bl.BoLoopError, match="at least 3 completed trials"):
        cross_validate(c)
