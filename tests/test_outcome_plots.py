"""The Pareto-front and feasibility figures draw exactly the points they should: feasible,
infeasible, the observed front (checked against brute force and ``campaign.pareto_front()``), and
the predicted front with its intervals."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: tests never open a window

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import bo_loop as bl
from bo_loop import plotting
from bo_loop.outcome_plots import observed_points
from bo_loop.outcomes import Outcomes

OBJECTIVES = [bl.Objective("yield", bounds=(0, 100)), bl.Objective("cost", "minimize")]
PURITY = [bl.OutcomeConstraint("purity", ">=", 95.0)]


def frame(rows: list[tuple[str, float | None, float | None, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"number": i, "state": state, "yield": y, "cost": c, "purity": p}
            for i, (state, y, c, p) in enumerate(rows)
        ]
    )


ROWS = [
    ("completed", 80.0, 3.0, 96.0),  # front
    ("completed", 70.0, 3.5, 97.0),  # dominated by 0
    ("completed", 60.0, 1.0, 95.0),  # front (purity exactly at the floor is feasible)
    ("completed", 95.0, 0.5, 90.0),  # would dominate all, but infeasible
    ("completed", 90.0, 6.0, 99.0),  # front
    ("pending", 50.0, None, None),  # not completed: not drawn
    ("failed", None, None, None),
]


def offsets(fig: Figure, label_start: str) -> np.ndarray:
    ax = fig.axes[0]
    for collection in ax.collections:
        if str(collection.get_label()).startswith(label_start):
            return np.asarray(collection.get_offsets())
    return np.empty((0, 2))


def test_pareto_plot_marks_feasible_infeasible_and_the_front():
    fig = plotting.plot_pareto_front(frame(ROWS), objectives=OBJECTIVES, outcome_constraints=PURITY)
    assert isinstance(fig, Figure)
    assert sorted(map(tuple, offsets(fig, "feasible"))) == [
        (60.0, 1.0), (70.0, 3.5), (80.0, 3.0), (90.0, 6.0),
    ]  # fmt: skip
    assert [tuple(p) for p in offsets(fig, "infeasible")] == [(95.0, 0.5)]
    front = sorted(map(tuple, offsets(fig, "observed front")))
    assert front == [(60.0, 1.0), (80.0, 3.0), (90.0, 6.0)]


def brute_front(points: list[tuple[float, float]]) -> set[int]:
    """Maximise the first, minimise the second: i is on the front when no j is at least as good
    in both and better in one."""
    return {
        i
        for i, (a, b) in enumerate(points)
        if not any(
            (c >= a and d <= b) and (c > a or d < b) for j, (c, d) in enumerate(points) if j != i
        )
    }


@pytest.mark.parametrize("seed", range(5))
def test_observed_front_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    # Values on a coarse grid, so ties and duplicates happen.
    rows = [
        ("completed", float(rng.integers(0, 6)), float(rng.integers(0, 6)),
         float(rng.choice([90.0, 96.0])))
        for _ in range(25)
    ]  # fmt: skip
    done, feasible, on_front = observed_points(
        frame(rows), Outcomes(tuple(OBJECTIVES), tuple(PURITY)), "yield", "cost"
    )
    kept = [i for i, f in enumerate(feasible) if f]
    points = [(rows[i][1], rows[i][2]) for i in kept]
    assert {kept[i] for i in brute_front(points)} == set(np.flatnonzero(on_front))
    assert list(feasible) == [r[3] >= 95.0 for r in rows]
    assert len(done) == 25


def test_pareto_plot_of_a_campaign_draws_its_pareto_front_and_predictions(sqlite_url):
    campaign = bl.Campaign.create(
        "rig", [bl.Real("x", 0.0, 1.0)], objectives=OBJECTIVES, outcome_constraints=PURITY,
        storage=sqlite_url,
    )  # fmt: skip
    for trial, (_, y, c, p) in zip(campaign.ask(5), ROWS[:5], strict=True):
        campaign.tell(trial.number, {"yield": y, "cost": c, "purity": p})
    predicted = pd.DataFrame(
        {"yield_mean": [85.0, 65.0], "yield_lower": [80.0, 60.0], "yield_upper": [90.0, 70.0],
         "cost_mean": [4.0, 1.5], "cost_lower": [3.0, 1.0], "cost_upper": [5.0, 2.0]}
    )  # fmt: skip
    fig = plotting.plot_pareto_front(campaign, predicted=predicted)
    expected = sorted((t.values["yield"], t.values["cost"]) for t in campaign.pareto_front())
    assert sorted(map(tuple, offsets(fig, "observed front"))) == expected
    (bars,) = [c for c in fig.axes[0].containers if "predicted" in str(c.get_label())]
    assert len(bars.lines[0].get_xdata()) == 2


def test_pareto_plot_refuses_what_it_cannot_draw():
    with pytest.raises(bl.BoLoopError, match="needs two objectives"):
        plotting.plot_pareto_front(frame(ROWS), objectives=OBJECTIVES[:1])
    with pytest.raises(bl.BoLoopError, match="'purity' is not an objective"):
        plotting.plot_pareto_front(frame(ROWS), objectives=OBJECTIVES, x="yield", y="purity")
    with pytest.raises(bl.BoLoopError, match="no completed trial"):
        plotting.plot_pareto_front(frame(ROWS[5:]), objectives=OBJECTIVES)
    with pytest.raises(bl.BoLoopError, match=r"predicted needs the columns"):
        plotting.plot_pareto_front(
            frame(ROWS), objectives=OBJECTIVES, predicted=pd.DataFrame({"yield_mean": [1.0]})
        )


def test_feasibility_plot_draws_each_constraint_and_the_probability():
    constraints = [*PURITY, bl.OutcomeConstraint("cost", "<=", 5.0)]
    p = np.linspace(0.1, 0.9, len(ROWS))
    fig = plotting.plot_feasibility(
        frame(ROWS), objectives=OBJECTIVES, outcome_constraints=constraints, probability=p
    )
    purity_ax, cost_ax = fig.axes[:2]
    ok = {c.get_label(): len(c.get_offsets()) for c in purity_ax.collections}
    # feasible: trials 0, 1, 2 (trial 4 costs 6 > 5; trial 3 fails purity); all purity values
    # told are drawn, the rest (trial 3, 4) hollow.
    assert ok == {"feasible trial": 3, "infeasible or not completed": 2}
    assert {ln.get_label() for ln in purity_ax.lines} == {"purity >= 95"}
    assert {ln.get_label() for ln in cost_ax.lines} == {"cost <= 5"}
    twin = fig.axes[-1]
    assert np.allclose(twin.lines[0].get_ydata(), p)
    with pytest.raises(bl.BoLoopError, match="no outcome constraint"):
        plotting.plot_feasibility(frame(ROWS), objectives=OBJECTIVES)
    with pytest.raises(bl.BoLoopError, match="one value per trial"):
        plotting.plot_feasibility(
            frame(ROWS), objectives=OBJECTIVES, outcome_constraints=PURITY, probability=[0.5]
        )


def test_every_pair_of_three_objectives_can_be_drawn():
    objectives = [*OBJECTIVES, bl.Objective("purity")]
    for x, y in itertools.permutations(["yield", "cost", "purity"], 2):
        fig = plotting.plot_pareto_front(frame(ROWS), objectives=objectives, x=x, y=y)
        assert len(offsets(fig, "observed")) >= 1


def test_feasibility_map_over_two_parameters(sqlite_url):
    campaign = bl.Campaign.create(
        "map", [bl.Real("a", 0.0, 1.0), bl.Real("b", 1.0, 100.0, log=True),
                bl.Categorical("c", ["x", "y"])],
        objectives=OBJECTIVES, outcome_constraints=PURITY, storage=sqlite_url,
    )  # fmt: skip
    for trial in campaign.ask(8):
        a = trial.params["a"]
        campaign.tell(trial.number, {"yield": 50 + 40 * a, "cost": 1 + a, "purity": 99 - 8 * a})
    fig = plotting.plot_feasibility_map(campaign, "a", "b", points=12)
    ax = fig.axes[0]
    assert len(offsets(fig, "measured")) == 8
    assert ax.get_yscale() == "log" and "at c=" in ax.get_title()
    # purity falls with a and crosses 95 at a = 0.5: likely feasible left, unlikely right.
    fits = campaign.fitted_models()
    frame = campaign.predict([{"a": 0.05, "b": 10.0, "c": "x"}, {"a": 0.95, "b": 10.0, "c": "x"}])
    assert frame["p_feasible"].iloc[0] > 0.5 > frame["p_feasible"].iloc[1]
    same = plotting.plot_feasibility_map(fits, "a", "b", outcomes=campaign.config.outcomes,
                                         points=12, at={"c": "x"})  # fmt: skip
    assert "at c=x" in same.axes[0].get_title()
    with pytest.raises(bl.BoLoopError, match=r"numeric parameters \['a', 'b'\], but got 'c'"):
        plotting.plot_feasibility_map(campaign, "a", "c")
    with pytest.raises(bl.BoLoopError, match="needs outcomes="):
        plotting.plot_feasibility_map(fits, "a", "b")
