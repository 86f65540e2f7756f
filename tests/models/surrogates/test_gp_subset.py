"""The GP on a large history: which rows it keeps, when it switches, and that the switch is a
stored setting of the campaign."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

import bo_loop as bl
from bo_loop.models.surrogates import gp, resolve_settings, stored_settings
from bo_loop.models.surrogates.gp_posterior import ClosedFormGP
from bo_loop.models.surrogates.gp_subset import select_rows, uses_subset

BOUNDS = torch.stack([torch.zeros(3), torch.ones(3)]).to(torch.float64)


def data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 3, generator=g, dtype=torch.float64)
    Y = torch.sin(6 * X[:, :1]) + X[:, 1:2] ** 2 - 0.5 * X[:, 2:3]
    return X, Y


def fit(X, Y, **settings) -> ClosedFormGP:
    full = resolve_settings("gp", settings)
    model = gp.fit_gp(X, Y, bounds=BOUNDS, cat_dims={}, seed=0, settings=full)
    assert isinstance(model, ClosedFormGP)
    return model


def test_select_rows_keeps_the_best_its_neighbours_and_the_corners():
    X, Y = data(400)
    best = int(Y.argmax())
    rows = select_rows(X, Y, 40, near_share=0.25)
    assert len(rows) == 40 == len(set(rows.tolist()))
    assert torch.equal(rows, torch.sort(rows).values)
    assert best in rows.tolist()
    # The 10 nearest the best row are all kept.
    nearest = torch.cdist(X, X[best : best + 1]).reshape(-1).argsort()[:10]
    assert set(nearest.tolist()) <= set(rows.tolist())

    # Space-filling: the rows kept cover the cube far better than the 40 nearest the best do.
    def spread(idx):
        return float(torch.cdist(X, X[idx]).min(dim=1).values.max())

    assert spread(rows) < 0.6 * spread(
        torch.cdist(X, X[best : best + 1]).reshape(-1).argsort()[:40]
    )
    # A function of the data alone: the same rows again; all rows when asked for as many.
    assert torch.equal(select_rows(X, Y, 40, near_share=0.25), rows)
    assert torch.equal(select_rows(X, Y, 400, near_share=0.25), torch.arange(400))


def test_the_switch_follows_exact_max_rows():
    settings = resolve_settings("gp", {"exact_max_rows": 50})
    assert not uses_subset(50, settings) and uses_subset(51, settings)
    assert not uses_subset(10**6, resolve_settings("gp", {"exact_max_rows": None}))
    X, Y = data(60)
    exact = fit(X, Y, exact_max_rows=60)
    assert exact.conditioned_X.shape == (60, 3)
    subset = fit(X, Y, exact_max_rows=59, fit_rows=20, condition_rows=30)
    assert subset.conditioned_X.shape == (30, 3)
    assert subset.Z.shape == (30, 3)
    # The subset model still predicts the function (its 30 rows of 60 in 3-D: 0.15 of the sd).
    Xt, Yt = data(200, seed=1)
    mean = subset.posterior(Xt.unsqueeze(1)).mean.reshape(-1)
    assert float((mean - Yt.reshape(-1)).pow(2).mean().sqrt()) < 0.25 * float(Yt.std())


def test_the_default_rule_is_stored_with_the_campaign_and_a_bad_value_refused(sqlite_url):
    campaign = bl.Campaign.create("c", [bl.Real("x", 0, 1)], "y", storage=sqlite_url)
    stored = campaign.config.to_json()["surrogate"]["settings"]
    assert stored["exact_max_rows"] == gp.DEFAULT_SETTINGS["exact_max_rows"] == 500
    assert {"fit_rows", "condition_rows", "near_incumbent_share"} <= set(stored)
    with pytest.raises(bl.SettingsError, match=r"'exact_max_rows' .* >= 2.*exact_max_rows=1"):
        bl.Campaign.create(
            "d", [bl.Real("x", 0, 1)], "y", storage=sqlite_url,
            surrogate_settings={"exact_max_rows": 1},
        )  # fmt: skip
    assert bl.Campaign.list(sqlite_url) == ["c"]


def test_a_campaign_fits_on_the_subset_its_stored_settings_name(sqlite_url):
    X, Y = data(50)
    rows = pd.DataFrame(X.numpy(), columns=["a", "b", "c"]).assign(y=Y.reshape(-1).numpy())
    space = [bl.Real(n, 0.0, 1.0) for n in "abc"]
    bl.Campaign.create(
        "big", space, "y", storage=sqlite_url,
        surrogate_settings={"exact_max_rows": 40, "fit_rows": 15, "condition_rows": 25},
    ).add_observations(rows)  # fmt: skip
    campaign = bl.Campaign.load("big", storage=sqlite_url)
    fitted = campaign.fitted_model()
    assert fitted.X.shape == (50, 3) and fitted.baseline.shape == (25, 3)
    # Every row the model is conditioned on is an observation.
    observed = {tuple(r) for r in X.tolist()}
    assert all(tuple(r) in observed for r in fitted.baseline.tolist())
    campaign.set_surrogate("gp", {"exact_max_rows": None})
    assert bl.Campaign.load("big", storage=sqlite_url).fitted_model().baseline.shape == (50, 3)


def test_a_campaign_stored_before_the_rule_keeps_its_exact_gp():
    assert resolve_settings("gp", {})["exact_max_rows"] == 500
    assert stored_settings("gp", {})["exact_max_rows"] is None
    assert stored_settings("gp", {"exact_max_rows": 40})["exact_max_rows"] == 40
    # DNGO campaigns stored before its added settings keep their Bayesian linear regression head.
    assert stored_settings("dngo", {})["head"] == "blr" != resolve_settings("dngo", {})["head"]
