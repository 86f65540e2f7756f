"""``bo-loop`` with several outcomes: spec files that declare them, and status / best / pareto /
list output checked against the library (``pareto_front``)."""

from __future__ import annotations

import os
import random
import re

import pandas as pd
import pytest
from click.testing import CliRunner, Result

import bo_loop as bl
from bo_loop.cli import cli

SPEC = """\
name: rig
parameters:
  - {name: temperature, type: real, low: 20, high: 120}
  - {name: catalyst, type: categorical, choices: [A, B]}
objectives:
  - {name: yield, goal: maximize, bounds: [0, 100]}
  - {name: cost, goal: minimize, bounds: [0, null]}
outcome_constraints:
  - purity >= 95
  - {name: cost, op: "<=", value: 10}
seed: 1
"""


def invoke(*args: object, env: dict[str, str] | None = None) -> Result:
    runner = CliRunner(env={"COLUMNS": "200", **(env or {})})
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_spec_with_several_objectives_and_constraints(sqlite_url, tmp_path):
    spec = tmp_path / "rig.yaml"
    spec.write_text(SPEC)
    result = invoke("init", spec, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    campaign = bl.Campaign.load("rig", storage=sqlite_url)
    assert campaign.objectives == (
        bl.Objective("yield", "maximize", bounds=(0, 100)),
        bl.Objective("cost", "minimize", bounds=(0, None)),
    )
    assert campaign.outcome_constraints == (
        bl.OutcomeConstraint("purity", ">=", 95.0),
        bl.OutcomeConstraint("cost", "<=", 10.0),
    )
    assert campaign.outcomes == ("yield", "cost", "purity")
    # init shows every outcome with its role
    assert re.search(r"yield\s+.*maximize in \[0, 100\]", result.stdout), result.stdout
    assert re.search(r"cost\s+.*minimize in \[0, inf\], cost <= 10", result.stdout)
    assert re.search(r"purity\s+.*constraint: purity >= 95", result.stdout)


def test_toml_spec_with_objectives(sqlite_url, tmp_path):
    spec = tmp_path / "rig.toml"
    spec.write_text(
        'name = "rig"\noutcome_constraints = ["purity >= 95"]\n'
        '[[parameters]]\nname = "t"\ntype = "real"\nlow = 0\nhigh = 1\n'
        '[[objectives]]\nname = "yield"\nbounds = [0, 100]\n'
        '[[objectives]]\nname = "cost"\ngoal = "minimize"\n'
    )
    result = invoke("init", spec, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    campaign = bl.Campaign.load("rig", storage=sqlite_url)
    assert [o.name for o in campaign.objectives] == ["yield", "cost"]


BASE = {
    "name": "name: t",
    "parameters": "parameters: [{name: a, type: real, low: 0, high: 1}]",
    "objectives": "objectives: [{name: y, goal: maximize}, {name: c, goal: minimize}]",
}

BAD_SPECS = [
    ({"objective": "objective: y"},
     r"exactly one of the keys 'objective' \(one outcome to optimise\) and 'objectives'"),
    ({"objectives": None}, r"exactly one of the keys 'objective'"),
    ({"objectives": "objectives: []"}, r"objectives must be a non-empty list"),
    ({"objectives": "objectives: [{name: y, goal: best}]"},
     r"objectives\[0\]: goal must be one of \['maximize', 'minimize'\], but got goal='best'"),
    ({"objectives": "objectives: [{name: y, bounds: [100, 0]}]"},
     r"objectives\[0\]: bounds of 'y' must satisfy lo < hi, but got lo=100.0, hi=0.0"),
    ({"objectives": "objectives: [{name: y, bounds: 100}]"},
     r"objectives\[0\].bounds must be a list \[low, high\] \(null for an open side\), but got 100"),
    ({"objectives": "objectives: [{name: y, bound: [0, 1]}]"},
     r"Unknown key 'bound' in objectives\[0\] \(did you mean 'bounds'\?\)"),
    ({"objectives": "objectives: [{name: y}, {name: y, goal: minimize}]"},
     r"Each objective's name must be unique, but 'y' appears twice"),
    ({"constraints": "outcome_constraints: ['purity > 95']"},
     r"outcome_constraints\[0\]: An outcome constraint's op must be one of \['>=', '<='\], but got op='>'"),
    ({"constraints": "outcome_constraints: ['purity at least 95']"},
     r"outcome_constraints\[0\] must read 'OUTCOME >= NUMBER' or 'OUTCOME <= NUMBER'.*'purity at least 95'"),
    ({"constraints": "outcome_constraints: ['purity >= high']"},
     r"outcome_constraints\[0\] must read 'OUTCOME >= NUMBER'"),
    ({"constraints": "outcome_constraints: [{name: purity, op: '>='}]"},
     r"outcome_constraints\[0\] needs the key\(s\) \['value'\]"),
    ({"constraints": "outcome_constraints: [{name: purity, op: '>=', value: '95'}]"},
     r"outcome_constraints\[0\]: An outcome constraint's value must be a finite number, but got value='95'"),
    ({"constraints": "outcome_constraints: 'purity >= 95'"},
     r"outcome_constraints must be a list of constraints like 'purity >= 95'"),
    ({"constraints": "outcome_constraints: ['a >= 1']"},
     r"outcome name must differ from every parameter name, but got 'a'"),
    ({"constraints": "outcome_constraints: ['note >= 1']"},
     r"must differ from the round-file columns \['trial', 'note', 'campaign'\], but got 'note'"),
    ({"objectives": "objectives: [{name: y, bounds: [0, 100]}]",
      "constraints": "outcome_constraints: ['y >= 150']"},
     r"must leave some value of the outcome feasible, but no 'y' meets y >= 150 and its known "
     r"bounds \(0.0, 100.0\)"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), BAD_SPECS)
def test_bad_outcome_specs_name_the_key_and_value(sqlite_url, tmp_path, change, message):
    lines = {**BASE, **change}
    spec = tmp_path / "spec.yaml"
    spec.write_text("\n".join(v for v in lines.values() if v is not None) + "\n")
    result = invoke("init", spec, "--storage", sqlite_url)
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("Error: spec.yaml")
    assert re.search(message, result.stderr), result.stderr
    assert not os.path.exists(sqlite_url.removeprefix("sqlite:///"))  # nothing created


# -- status, best, pareto --------------------------------------------------------------------

#: (temperature, catalyst) -> yield, cost, purity; chosen so that the front is known by hand:
#: trials 0, 2 and 4 are feasible and non-dominated; 1 is dominated by 0; 3 beats everything
#: but breaks purity >= 95; 5 is pending in part.
RESULTS = [
    {"yield": 80.0, "cost": 3.0, "purity": 96.0},
    {"yield": 70.0, "cost": 3.5, "purity": 97.0},
    {"yield": 60.0, "cost": 1.0, "purity": 95.0},
    {"yield": 95.0, "cost": 0.5, "purity": 90.0},
    {"yield": 90.0, "cost": 6.0, "purity": 99.0},
]


@pytest.fixture
def told(sqlite_url) -> bl.Campaign:
    campaign = bl.Campaign.create(
        "rig",
        [bl.Real("temperature", 20.0, 120.0), bl.Categorical("catalyst", ["A", "B"])],
        objectives=[bl.Objective("yield", bounds=(0, 100)), bl.Objective("cost", "minimize")],
        outcome_constraints=[bl.OutcomeConstraint("purity", ">=", 95.0)],
        storage=sqlite_url,
    )
    trials = campaign.ask(6)
    for trial, values in zip(trials, RESULTS, strict=False):
        campaign.tell(trial.number, values)
    campaign.tell(trials[5].number, {"yield": 50.0})
    return campaign


def front_rows(stdout: str) -> list[int]:
    """The trial numbers of the rows of the front table (the rows after its header line)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "Pareto front (" in line)
    rows = [re.match(r"\s*│?\s*(\d+)\s*│", line) for line in lines[start:]]
    return [int(m.group(1)) for m in rows if m]


def test_pareto_lists_the_library_front(told, sqlite_url):
    result = invoke("pareto", "rig", "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    expected = [t.number for t in told.pareto_front()]
    assert expected == [0, 2, 4]
    assert front_rows(result.stdout) == expected
    assert "5 completed trial(s): 4 meet every outcome constraint (purity >= 95), 1 do not" in (
        result.stdout
    )


def test_best_points_to_the_front_for_several_objectives(told, sqlite_url):
    result = invoke("best", "rig", "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert "no single trial is best" in result.stdout and "bo-loop pareto rig" in result.stdout
    assert front_rows(result.stdout) == [0, 2, 4]


def test_status_shows_the_front_and_partial_trials(told, sqlite_url):
    result = invoke("status", "rig", "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "maximize yield in [0, 100], minimize cost; purity >= 95" in out
    assert "6 trials: 1 pending, 5 completed, 0 failed, 0 abandoned" in out
    assert "Trial 5: told yield = 50; waits for cost, purity" in out
    assert front_rows(out) == [0, 2, 4]
    assert "Pending trials: 5" in out


def test_list_shows_several_objectives(told, sqlite_url):
    result = invoke("list", "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert "maximize yield, minimize cost" in result.stdout
    assert "Pareto front: 3 trial(s)" in result.stdout


def test_single_objective_with_a_constraint_reports_the_best_feasible(sqlite_url):
    campaign = bl.Campaign.create(
        "one", [bl.Real("x", 0.0, 1.0)], bl.Objective("yield"),
        outcome_constraints=[bl.OutcomeConstraint("purity", ">=", 95.0)], storage=sqlite_url,
    )  # fmt: skip
    for trial, (y, p) in zip(campaign.ask(3), [(80.0, 96.0), (90.0, 94.0), (70.0, 99.0)],
                             strict=True):  # fmt: skip
        campaign.tell(trial.number, {"yield": y, "purity": p})
    result = invoke("status", "one", "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    # trial 1 has the highest yield but breaks the purity floor
    assert "Best so far: trial 0, yield = 80" in result.stdout
    assert "3 completed trial(s): 2 meet every outcome constraint" in result.stdout
    result = invoke("best", "one", "--storage", sqlite_url)
    assert "Best trial: 0" in result.stdout
    # the constrained outcome that makes it feasible is shown, with the rule it meets
    assert re.search(r"purity\s+│ 96  \(meets purity >= 95\)", result.stdout), result.stdout


def test_plot_draws_the_pareto_front_for_several_objectives(told, sqlite_url, tmp_path):
    path = tmp_path / "front.png"
    result = invoke("plot", "rig", "-o", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert path.read_bytes().startswith(b"\x89PNG")
    result = invoke("plot", "rig", "-o", tmp_path / "front.txt", "--storage", sqlite_url)
    assert result.exit_code == 1 and "must end in one of ['.png', '.pdf', '.svg']" in result.stderr


def test_correct_names_the_outcome_and_history_shows_it(told, sqlite_url):
    result = invoke("correct", "rig", 0, "yield=82.5", "--reason", "re-read", "--storage",
                    sqlite_url)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "Trial 0: yield 80 -> 82.5 (reason: re-read)" in result.stdout
    assert told.trial(0).values == {"yield": 82.5, "cost": 3.0, "purity": 96.0}
    result = invoke("history", "rig", 0, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert re.search(r"correct\s*│\s*completed\s*│\s*yield\s*│\s*80 -> 82.5", result.stdout)
    result = invoke("correct", "rig", 0, "82.5", "yield=1", "--reason", "x", "--storage",
                    sqlite_url)  # fmt: skip
    assert result.exit_code == 2 and "Give one VALUE, or NAME=VALUE" in result.stderr


def test_correct_refuses_an_outcome_given_twice(told, sqlite_url):
    before = told.history()
    result = invoke("correct", "rig", 0, "yield=78.5", "yield=79", "--reason", "x", "--storage",
                    sqlite_url)  # fmt: skip
    assert result.exit_code == 2
    assert "'yield' is given 2 times (yield=78.5 and yield=79); nothing was changed" in (
        result.stderr
    )
    assert told.trial(0).values == RESULTS[0]
    pd.testing.assert_frame_equal(told.history(), before)


def test_correct_to_the_stored_value_says_unchanged_and_records_nothing(told, sqlite_url):
    before = told.history()
    result = invoke("correct", "rig", 0, "yield=80", "--reason", "same", "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert (
        "Trial 0: yield 80 unchanged (the value given is the one stored); nothing was "
        "recorded." in result.stdout
    )
    pd.testing.assert_frame_equal(told.history(), before)
    result = invoke("correct", "rig", 0, "yield=80", "cost=2.5", "--reason", "cost re-read",
                    "--storage", sqlite_url)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "Trial 0: yield 80 unchanged, cost 3 -> 2.5 (reason: cost re-read)" in result.stdout
    corrected = told.history(0).query("action == 'correct'")
    assert corrected[["outcome", "old_value", "new_value"]].values.tolist() == [["cost", 3.0, 2.5]]


def test_recommend_shows_the_estimated_pareto_set_with_intervals_and_feasibility(told, sqlite_url):
    result = invoke("recommend", "rig", "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    estimate = told.recommend()  # the same fit: seeded
    assert "Estimated Pareto set: " + f"{len(estimate)} setting(s)" in result.stdout
    for _, row in estimate.iterrows():
        cells = (
            f"{row['yield_mean']:.6g} [{row['yield_lower']:.6g}, {row['yield_upper']:.6g}]",
            f"{row['p_feasible']:.2f}",
        )
        line = next(ln for ln in result.stdout.splitlines() if f"{row['temperature']:.6g}" in ln)
        assert all(c in line for c in cells), (cells, line)


def test_recommend_of_one_objective_with_a_constraint_gives_the_probability(sqlite_url):
    campaign = bl.Campaign.create(
        "one", [bl.Real("x", 0.0, 1.0)], bl.Objective("yield"),
        outcome_constraints=[bl.OutcomeConstraint("purity", ">=", 95.0)], storage=sqlite_url,
    )  # fmt: skip
    for trial in campaign.ask(5):
        x = trial.params["x"]
        campaign.tell(trial.number, {"yield": 80 * x, "purity": 99 - 6 * x})
    result = invoke("recommend", "one", "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    p = campaign.recommend().p_feasible
    assert f"Probability of meeting purity >= 95: {p:.2f}" in result.stdout


@pytest.mark.parametrize("seed", range(3))
def test_pareto_command_matches_brute_force_on_random_results(sqlite_url, seed):
    rng = random.Random(seed)
    campaign = bl.Campaign.create(
        f"r{seed}", [bl.Real("x", 0.0, 1.0)],
        objectives=[bl.Objective("yield", bounds=(0, 100)), bl.Objective("cost", "minimize")],
        outcome_constraints=[bl.OutcomeConstraint("purity", ">=", 95.0)], storage=sqlite_url,
    )  # fmt: skip
    told = {}
    for trial in campaign.ask(15):
        # A coarse grid: ties and repeated points happen, as they do with rounded lab values.
        # More yield costs more, with scatter: a front of several trials, not a single winner.
        y = float(rng.randrange(0, 100, 20))
        values = {"yield": y, "cost": y / 20 + rng.choice([1.0, 2.0, 3.0]),
                  "purity": rng.choice([94.0, 95.0, 99.0])}  # fmt: skip
        campaign.tell(trial.number, values)
        told[trial.number] = values
    feasible = {n: v for n, v in told.items() if v["purity"] >= 95.0}
    brute = sorted(
        n for n, v in feasible.items()
        if not any(
            w["yield"] >= v["yield"] and w["cost"] <= v["cost"]
            and (w["yield"] > v["yield"] or w["cost"] < v["cost"])
            for m, w in feasible.items() if m != n
        )
    )  # fmt: skip
    result = invoke("pareto", f"r{seed}", "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert front_rows(result.stdout) == [t.number for t in campaign.pareto_front()] == brute
    assert 2 <= len(brute) < len(feasible)  # a real front: not one point, not everything
