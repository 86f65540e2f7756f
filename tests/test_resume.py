"""A campaign reopened in a new process proposes exactly what an uninterrupted one proposes."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

import bo_loop as bl

SPACE = [bl.Real("x", 0.0, 10.0), bl.Integer("k", 0, 4), bl.Categorical("c", ["A", "B"])]
OFFSET = {"A": 0.0, "B": 0.7}
# GP: 15 asks after the initial design; the 8th is a batch of 3 (qLogNEI with pending points).
# DNGO (seconds per ask, so fewer): 5 asks, the 3rd a batch of 3.
ASKS = {"gp": [1] * 7 + [3] + [1] * 7, "dngo": [1, 1, 3, 1, 1]}

ASK_IN_FRESH_PROCESS = """
import json, sys
import bo_loop as bl
campaign = bl.Campaign.load("resume", storage=sys.argv[1])
print(json.dumps([[t.number, t.params] for t in campaign.ask(int(sys.argv[2]))]))
"""


def measure(p: dict) -> float:
    x = p["x"]
    return x * math.sin(x) + x * math.cos(2 * x) + 0.3 * (p["k"] - 2) ** 2 + OFFSET[p["c"]]


def create(url: str, surrogate: str) -> bl.Campaign:
    return bl.Campaign.create(
        "resume", SPACE, bl.Objective("y", "minimize"), storage=url, seed=11,
        initial_design_size=5, surrogate=surrogate,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("surrogate", ["gp", "dngo"])
def test_reopening_in_a_fresh_process_before_every_ask_changes_nothing(tmp_path, surrogate):
    steady_url = f"sqlite:///{tmp_path / 'steady.db'}"
    resumed_url = f"sqlite:///{tmp_path / 'resumed.db'}"
    steady, resumed = create(steady_url, surrogate), create(resumed_url, surrogate)
    for campaign in (steady, resumed):
        for t in campaign.ask(5):
            campaign.tell(t.number, measure(t.params))

    for n in ASKS[surrogate]:
        steady_trials = [[t.number, t.params] for t in steady.ask(n)]
        out = subprocess.run(
            [sys.executable, "-c", ASK_IN_FRESH_PROCESS, resumed_url, str(n)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        resumed_trials = json.loads(out.stdout.strip().splitlines()[-1])
        assert [num for num, _ in resumed_trials] == [num for num, _ in steady_trials]
        for (_, a), (_, b) in zip(steady_trials, resumed_trials, strict=True):
            assert a["k"] == b["k"] and a["c"] == b["c"]
            assert abs(a["x"] - b["x"]) <= 1e-9, (a, b)
        for number, params in steady_trials:
            steady.tell(number, measure(params))
            resumed.tell(number, measure(params))

    generators = [t.provenance["generator"] for t in steady.trials()]
    assert generators.count(surrogate) == sum(ASKS[surrogate])
    assert steady.best().value == resumed.best().value


CONSTRAINED = [bl.Real("a", 0.0, 1.0), bl.Real("b", 0.0, 1.0), bl.Real("c", 0.0, 1.0),
               bl.Integer("k", 0, 4)]  # fmt: skip
MIXTURE = [
    bl.LinearConstraint({"a": 1, "b": 1, "c": 1}, "==", 1.0),
    bl.LinearConstraint({"b": 1, "k": 0.1}, "<=", 0.6),
]
ASK_CONSTRAINED = """
import json, sys
import bo_loop as bl
campaign = bl.Campaign.load("mix", storage=sys.argv[1])
fixed = json.loads(sys.argv[3]) or None
print(json.dumps([[t.number, t.params] for t in campaign.ask(int(sys.argv[2]), fixed=fixed)]))
"""


def measure_mixture(p: dict) -> float:
    return (p["a"] - 0.2) ** 2 + (p["b"] - 0.5) ** 2 + 0.05 * (p["k"] - 3) ** 2


@pytest.mark.slow
def test_a_constrained_campaign_reopened_before_every_ask_proposes_the_same(tmp_path):
    urls = [f"sqlite:///{tmp_path / name}" for name in ("steady.db", "resumed.db")]
    steady, resumed = (
        bl.Campaign.create(
            "mix",
            CONSTRAINED,
            bl.Objective("y", "minimize"),
            storage=url,
            seed=5,
            initial_design_size=5,
            parameter_constraints=MIXTURE,
            acquisition_settings={"num_restarts": 4, "raw_samples": 64},
        )
        for url in urls
    )
    # Design asks (one with a fixed value), then model asks: one batch, one fixed.
    for n, fixed in [(3, {}), (2, {"k": 1}), (1, {}), (3, {}), (2, {"a": 0.3}), (1, {})]:
        steady_trials = [[t.number, t.params] for t in steady.ask(n, fixed=fixed or None)]
        out = subprocess.run(
            [sys.executable, "-c", ASK_CONSTRAINED, urls[1], str(n), json.dumps(fixed)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        resumed_trials = json.loads(out.stdout.strip().splitlines()[-1])
        assert resumed_trials == steady_trials  # equal to the last bit
        for number, params in steady_trials:
            steady.tell(number, measure_mixture(params))
            resumed.tell(number, measure_mixture(params))
    generators = [t.provenance["generator"] for t in steady.trials()]
    assert generators.count("polytope") == 5 and generators.count("gp") == 7


@pytest.mark.slow
def test_a_gp_on_a_subset_of_a_large_history_proposes_the_same_after_reopening(tmp_path):
    """Past ``exact_max_rows`` the GP fits on a subset of the rows: the subset, and so every
    proposal (warm-started fits and a batch with pending points included), is the same in a
    fresh process."""
    urls = [f"sqlite:///{tmp_path / name}" for name in ("steady.db", "resumed.db")]
    rows = [{"x": 10 * ((i * 0.6180339887) % 1.0), "k": i % 5, "c": "AB"[i % 2]} for i in range(60)]
    steady, resumed = (
        bl.Campaign.create(
            "resume", SPACE, bl.Objective("y", "minimize"), storage=url, seed=11,
            surrogate_settings={"exact_max_rows": 40, "fit_rows": 20, "condition_rows": 30},
            acquisition_settings={"num_restarts": 4, "raw_samples": 64},
        )
        for url in urls
    )  # fmt: skip
    for campaign in (steady, resumed):
        campaign.add_observations([{**r, "y": measure(r)} for r in rows])
    for n in (1, 1, 2):
        steady_trials = [[t.number, t.params] for t in steady.ask(n)]
        out = subprocess.run(
            [sys.executable, "-c", ASK_IN_FRESH_PROCESS, urls[1], str(n)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert json.loads(out.stdout.strip().splitlines()[-1]) == steady_trials
        for number, params in steady_trials:
            steady.tell(number, measure(params))
            resumed.tell(number, measure(params))
    asked = [t for t in steady.trials() if t.source == "bo_loop"]
    assert [t.provenance["n_observations"] for t in asked] == [60, 61, 62, 62]
