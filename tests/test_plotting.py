"""Every plotting function, on both surrogates, draws a non-empty figure."""

from __future__ import annotations

import io
import itertools
import math

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: tests never open a window

import pandas as pd
import pytest
from matplotlib.figure import Figure

import bo_loop as bl
from bo_loop import plotting
from bo_loop.models.fitting import FittedModel
from bo_loop.models.importance import importance
from bo_loop.storage import dispose

SMALL_DNGO = {"ensemble": 2, "epochs": 200, "max_steps": 200}


def rig(p: dict) -> float:
    shift = {"A": 0.0, "B": 1.5, "C": -1.0}[p["catalyst"]]
    return (
        -(((p["temperature"] - 60) / 20) ** 2)
        - 0.2 * (p["pressure"] - 4) ** 2
        + shift
        + math.log(p["flow"])
    )


@pytest.fixture(scope="module")
def campaigns(tmp_path_factory) -> dict[str, bl.Campaign]:
    url = f"sqlite:///{tmp_path_factory.mktemp('plots') / 'plots.db'}"
    space = [
        bl.Real("temperature", 20.0, 100.0),
        bl.Integer("pressure", 1, 8),
        bl.Categorical("catalyst", ["A", "B", "C"]),
        bl.Real("flow", 0.1, 10.0, log=True),
    ]
    out = {}
    for surrogate, settings in (("gp", None), ("dngo", SMALL_DNGO)):
        campaign = bl.Campaign.create(
            f"rig-{surrogate}", space, "yield", storage=url, surrogate=surrogate,
            surrogate_settings=settings, initial_design_size=14,
        )  # fmt: skip
        for trial in campaign.ask(14):
            campaign.tell(trial.number, rig(trial.params))
        out[surrogate] = campaign
    yield out
    dispose(url)


@pytest.fixture(scope="module")
def fitted(campaigns) -> dict[str, FittedModel]:
    return {name: c.fitted_model() for name, c in campaigns.items()}


def drawn(fig: Figure) -> int:
    """How many things the figure's axes hold (lines, collections, patches, images), after drawing."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getbuffer().nbytes > 5_000
    return sum(
        len(ax.lines) + len(ax.collections) + len(ax.patches) + len(ax.images) for ax in fig.axes
    )


@pytest.mark.parametrize("surrogate", ["gp", "dngo"])
def test_convergence(campaigns, surrogate):
    campaign = campaigns[surrogate]
    fig = plotting.plot_convergence(campaign)
    assert drawn(fig) >= 2
    ax = fig.axes[0]
    best = ax.lines[0].get_ydata()
    assert best[-1] == campaign.best().value and all(
        b2 >= b1 for b1, b2 in itertools.pairwise(best)
    )
    again = plotting.plot_convergence(campaign.to_dataframe(), campaign.objective)
    assert list(again.axes[0].lines[0].get_ydata()) == list(best)
    with pytest.raises(bl.BoLoopError, match="objective"):
        plotting.plot_convergence(campaign.to_dataframe())


@pytest.mark.parametrize("surrogate", ["gp", "dngo"])
@pytest.mark.parametrize("parameter", ["temperature", "pressure", "catalyst", "flow"])
def test_slice_along_every_kind_of_parameter(fitted, surrogate, parameter):
    fig = plotting.plot_slice(fitted[surrogate], parameter)
    assert drawn(fig) >= 2
    ax = fig.axes[0]
    assert ax.get_xlabel() == parameter
    assert ax.get_xscale() == ("log" if parameter == "flow" else "linear")


@pytest.mark.parametrize("surrogate", ["gp", "dngo"])
def test_slice_with_truth_and_fixed_values(fitted, surrogate):
    at = {"pressure": 4, "catalyst": "B", "flow": 1.0}
    fig = plotting.plot_slice(
        fitted[surrogate], "temperature", at=at, truth=lambda p: rig(p), band=1.0, points=50
    )
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["surrogate mean", "true function"]
    mean = fig.axes[0].lines[0].get_ydata()
    truth = fig.axes[0].lines[1].get_ydata()
    assert len(mean) == len(truth) == 50
    assert max(truth) == pytest.approx(rig({"temperature": 60.0, **at}), abs=0.2)
    assert "catalyst=B" in fig.axes[0].get_title()


@pytest.mark.parametrize("surrogate", ["gp", "dngo"])
def test_contour(fitted, campaigns, surrogate):
    fig = plotting.plot_contour(fitted[surrogate], "temperature", "flow", at={"catalyst": "C"})
    assert drawn(fig) >= 3
    assert len(fig.axes) == 2  # the plot and its colour bar
    assert fig.axes[0].get_yscale() == "log"
    # A campaign works too (fitted inside).
    assert drawn(plotting.plot_contour(campaigns[surrogate])) >= 3
    with pytest.raises(bl.BoLoopError, match="numeric"):
        plotting.plot_contour(fitted[surrogate], "temperature", "catalyst")


@pytest.mark.parametrize("surrogate", ["gp", "dngo"])
def test_importance(fitted, surrogate):
    fig = plotting.plot_importance(fitted[surrogate], samples=64)
    assert drawn(fig) == 4
    table = importance(fitted[surrogate], samples=64)
    assert sorted(table.index) == ["catalyst", "flow", "pressure", "temperature"]
    assert ((table["first_order"] >= 0) & (table["first_order"] <= 1.0 + 1e-9)).all()


def test_importance_finds_the_parameter_that_matters(tmp_path):
    url = f"sqlite:///{tmp_path / 'i.db'}"
    campaign = bl.Campaign.create(
        "i", [bl.Real("a", 0, 1), bl.Real("b", 0, 1)], "y", storage=url, initial_design_size=20
    )
    for t in campaign.ask(20):
        campaign.tell(t.number, 10 * t.params["a"] + 0.1 * t.params["b"])
    table = importance(campaign.fitted_model())
    assert list(table.index) == ["a", "b"]
    assert table.loc["a", "first_order"] > 0.95 and table.loc["b", "first_order"] < 0.05
    assert table.loc["a", "effect_range"] == pytest.approx(10.0, rel=0.05)
    dispose(url)


def test_cross_validation_side_by_side(campaigns):
    comparison = campaigns["gp"].cross_validate(folds=3)
    assert list(comparison) == ["gp", "dngo"]
    fig = plotting.plot_cross_validation(comparison)
    assert len(fig.axes) == 2
    assert drawn(fig) >= 4
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["GP", "DNGO"]
    single = plotting.plot_cross_validation(comparison["dngo"], band=1.0)
    assert len(single.axes) == 1 and drawn(single) >= 2


def test_model_plots_refuse_unknown_parameters(fitted):
    with pytest.raises(bl.BoLoopError, match="Unknown parameter 'speed'"):
        plotting.plot_slice(fitted["gp"], "speed")
    with pytest.raises(bl.BoLoopError, match=r"Unknown parameter\(s\) \['speed'\]"):
        plotting.plot_slice(fitted["gp"], "flow", at={"speed": 1})


def test_convergence_needs_a_result(tmp_path):
    url = f"sqlite:///{tmp_path / 'e.db'}"
    campaign = bl.Campaign.create("e", [bl.Real("x", 0, 1)], "y", storage=url)
    campaign.ask(1)
    with pytest.raises(bl.BoLoopError, match="no completed trial"):
        plotting.plot_convergence(campaign)
    assert isinstance(campaign.to_dataframe(), pd.DataFrame)
    dispose(url)
