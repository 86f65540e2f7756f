"""One fit path: ask, recommend, predict, fitted_model and cross-validation see the same model."""

from __future__ import annotations

import torch

import bo_loop as bl
from bo_loop.models import fitting
from bo_loop.models.cross_validation import cross_validate


def told_campaign(url: str) -> bl.Campaign:
    c = bl.Campaign.create(
        "fit", [bl.Real("x", 0, 1), bl.Real("z", 0, 1)], "y", storage=url, initial_design_size=6,
        acquisition_settings={"num_restarts": 2, "raw_samples": 32},
    )  # fmt: skip
    for t in c.ask(6):
        c.tell(t.number, (t.params["x"] - 0.4) ** 2 - t.params["z"])
    (t,) = c.ask(1)  # a model-based ask stores its fit
    c.tell(t.number, (t.params["x"] - 0.4) ** 2 - t.params["z"])
    return c


def test_recommend_sees_the_model_the_next_ask_fits(sqlite_url):
    c = told_campaign(sqlite_url)
    fitted = c.fitted_model()
    (nxt,) = c.ask(1)
    assert fitted.state == nxt.provenance["fitted_state"]
    assert fitted.seed == nxt.provenance["seed"]


def test_every_model_call_fits_through_one_function_with_the_warm_start(sqlite_url, monkeypatch):
    c = told_campaign(sqlite_url)
    stored = c.trials()[-1].provenance["fitted_state"]
    starts: list[object] = []
    real = fitting.fit

    def spy(*args, **kwargs):
        starts.append(kwargs.get("warm_start"))
        return real(*args, **kwargs)

    monkeypatch.setattr(fitting, "fit", spy)
    c.recommend()
    c.predict([{"x": 0.5, "z": 0.5}])
    c.fitted_model()
    cross_validate(c, "gp", folds=2)
    c.ask(1)
    assert len(starts) == 3 + 2 + 1
    assert all(s == stored for s in starts)


def test_cross_validation_of_another_surrogate_starts_cold(sqlite_url, monkeypatch):
    c = told_campaign(sqlite_url)
    starts: list[object] = []
    real = fitting.fit
    monkeypatch.setattr(
        fitting, "fit", lambda *a, **k: starts.append(k.get("warm_start")) or real(*a, **k)
    )
    cross_validate(c, "dngo", folds=2, settings={"ensemble": 1, "epochs": 5})
    assert starts == [None, None]


def test_fit_is_deterministic_in_its_seed():
    X = torch.rand(12, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    Y = (X[:, :1] - 0.5) ** 2
    space = bl.Space([bl.Real("x", 0, 1), bl.Real("z", 0, 1)])
    settings = fitting.surrogates.resolve_settings("dngo", {"ensemble": 2, "epochs": 10})
    a = fitting.fit(space, X, Y, surrogate="dngo", settings=settings, seed=4)
    b = fitting.fit(space, X, Y, surrogate="dngo", settings=settings, seed=4)
    Xt = torch.rand(5, 1, 2, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(a.posterior(Xt).mean, b.posterior(Xt).mean)
