"""`propose` on plain Trial records: no database, no Campaign."""

from __future__ import annotations

import math

import pytest

import bo_loop as bl
from bo_loop.models.acquisition import resolve_settings as acquisition_settings
from bo_loop.models.propose import propose
from bo_loop.models.surrogates import resolve_settings
from bo_loop.trial import Trial, TrialState

SPACE = bl.Space([bl.Real("x", 0.0, 1.0), bl.Integer("n", 0, 4), bl.Categorical("c", ["A", "B"])])
OBJECTIVE = bl.Objective("y", "minimize")
CHEAP = acquisition_settings({"num_restarts": 2, "raw_samples": 32, "mc_samples": 32})


def f(p: dict) -> float:
    return (p["x"] - 0.3) ** 2 + 0.1 * abs(p["n"] - 2) + (0.0 if p["c"] == "B" else 0.5)


def run(trials: list[Trial], n: int, **kw):
    return propose(
        SPACE, OBJECTIVE, trials, n, seed=3, surrogate="gp", settings=resolve_settings("gp", {}),
        acquisition=CHEAP, **kw,
    )  # fmt: skip


def completed_from(proposals, start: int = 0) -> list[Trial]:
    return [
        Trial(start + i, TrialState.COMPLETED, p.params, value=f(p.params), provenance=p.provenance)
        for i, p in enumerate(proposals)
    ]


def test_design_then_model_from_plain_records():
    design = run([], 6)
    assert [p.provenance["generator"] for p in design] == ["sobol"] * 6
    assert [p.provenance["sobol_index"] for p in design] == list(range(6))
    trials = completed_from(design)
    nxt = run(trials, 1, design_size=6)
    assert nxt[0].provenance["generator"] == "gp"
    assert math.isfinite(nxt[0].provenance["predicted_mean"])
    assert "fitted_state" in nxt[0].provenance
    # The same records give the same proposal: a pure function of its inputs.
    assert run(trials, 1, design_size=6)[0].params == nxt[0].params


def test_pending_and_failed_points_are_never_proposed_again():
    trials = completed_from(run([], 6))
    pending = run(trials, 2, design_size=6)
    trials += [
        Trial(6, TrialState.PENDING, pending[0].params),
        Trial(7, TrialState.FAILED, pending[1].params),
    ]
    batch = run(trials, 3, design_size=6)
    taken = [t.params for t in trials]
    assert all(p.params not in taken for p in batch)
    assert len({tuple(sorted(p.params.items())) for p in batch}) == 3


def test_too_few_completed_trials_stay_in_the_design():
    trials = completed_from(run([], 3))
    assert run(trials, 1, design_size=4)[0].provenance["generator"] == "sobol"


def test_a_round_that_would_overshoot_the_design_size_is_the_models():
    # 8 completed of a 12-point design: a round of 8 would end at 16, so the model proposes it
    # ("within", the default); under "fill" (campaigns stored before) it is a second Sobol round.
    trials = completed_from(run([], 8))
    within = run(trials, 8, design_size=12)
    assert {p.provenance["generator"] for p in within} == {"gp"}
    fill = acquisition_settings({**CHEAP, "design_rounds": "fill"})
    filled = propose(SPACE, OBJECTIVE, trials, 8, seed=3, surrogate="gp",
                     settings=resolve_settings("gp", {}), acquisition=fill, design_size=12)  # fmt: skip
    assert {p.provenance["generator"] for p in filled} == {"sobol"}
    # A round that fits is still design, and a single ask is design below the size under both.
    assert {p.provenance["generator"] for p in run(trials, 4, design_size=12)} == {"sobol"}
    assert run(trials, 1, design_size=9)[0].provenance["generator"] == "sobol"


@pytest.mark.parametrize(
    ("completed", "n", "size", "within", "fill"),
    [(0, 8, 5, True, True), (1, 1, 1, True, True), (2, 1, 2, False, False), (4, 1, 5, True, True),
     (5, 1, 5, False, False), (8, 8, 12, False, True), (8, 4, 12, True, True),
     (12, 4, 12, False, False)],
)  # fmt: skip
def test_in_design_under_both_rules(completed, n, size, within, fill):
    from bo_loop.models.propose import in_design

    assert in_design(completed, n, size, "within") is within
    assert in_design(completed, n, size, "fill") is fill


def test_the_acquisition_settings_are_used():
    trials = completed_from(run([], 6))
    with pytest.raises(KeyError):  # proves the settings reach the optimiser: none are defaulted
        propose(SPACE, OBJECTIVE, trials, 1, seed=3, surrogate="gp",
                settings=resolve_settings("gp", {}), acquisition={}, design_size=6)  # fmt: skip


def test_a_batch_starts_where_a_single_ask_would():
    # The default batch acquisition ("logei_qlognei") scores a batch's first point by LogEI, the
    # single-point acquisition, and the rest by qLogNEI with the points before them pending;
    # qLogNEI for every point ("qlognei", before) chose another first point here.
    trials = completed_from(run([], 6))
    one = run(trials, 1, design_size=6)
    four = run(trials, 4, design_size=6)
    assert four[0].params == one[0].params
    assert [p.provenance["acquisition"] for p in four] == ["logei_qlognei"] * 4
    assert len({tuple(sorted(p.params.items())) for p in four}) == 4
    # A point asked while others are pending is scored jointly with them, from the same rule.
    pending = [Trial(6 + i, TrialState.PENDING, p.params) for i, p in enumerate(four[:2])]
    nxt = run(trials + pending, 1, design_size=6)
    assert nxt[0].provenance["acquisition"] == "logei_qlognei"
    assert nxt[0].params not in [p.params for p in four[:2]]
