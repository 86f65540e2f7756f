"""The ``bo-loop`` command: a full round trip in subprocesses (SQLite and PostgreSQL), exit codes,
spec checking and the reporting commands in-process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

import bo_loop as bl
from bo_loop.cli import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

DEMO_SPEC = """\
name: demo
objective: {name: loss, goal: minimize}
parameters:
  - {name: x, type: real, low: 0, high: 10}
  - {name: mode, type: categorical, choices: [slow, fast]}
seed: 3
initial_design_size: 2
"""


def bo_loop_cmd(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -m bo_loop.cli` as a technician's shell would (no inherited storage)."""
    env = {k: v for k, v in os.environ.items() if k != "BO_LOOP_STORAGE"}
    env["COLUMNS"] = "200"  # rich wraps at the terminal width; keep lines whole for the asserts
    return subprocess.run(
        [sys.executable, "-m", "bo_loop.cli", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    runner = CliRunner(env={"COLUMNS": "200", **(env or {})})
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def loss(x: float, mode: str) -> float:
    return (x - 6.0) ** 2 + (0.5 if mode == "slow" else 0.0)


@pytest.mark.slow
def test_round_trip_in_subprocesses(storage_url, tmp_path):
    """init -> ask -> fill in the CSV -> tell -> status -> ask again, each a fresh process."""
    (tmp_path / "demo.yaml").write_text(DEMO_SPEC)
    s = ("--storage", storage_url)
    done = bo_loop_cmd("init", "demo.yaml", *s, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Created campaign demo" in done.stdout

    done = bo_loop_cmd("ask", "demo", "-n", "2", "-o", "round-01.csv", *s, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(tmp_path / "round-01.csv", dtype={"loss": object, "note": object})
    assert frame["trial"].tolist() == [0, 1]
    frame["loss"] = [loss(x, m) for x, m in zip(frame["x"], frame["mode"], strict=True)]
    frame.to_csv(tmp_path / "round-01.csv", index=False)

    done = bo_loop_cmd("tell", "demo", "round-01.csv", *s, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Recorded: told 2, failed 0, left pending 0." in done.stdout

    done = bo_loop_cmd("status", "demo", *s, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 trials: 0 pending, 2 completed, 0 failed, 0 abandoned" in done.stdout
    best = min(frame["loss"])
    assert re.search(rf"Best so far: trial \d, loss = {best:.6g}", done.stdout), done.stdout

    # Two results reach initial_design_size=2: this ask fits the surrogate (a fresh process).
    done = bo_loop_cmd("ask", "demo", "-n", "1", "-o", "round-02.csv", *s, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert pd.read_csv(tmp_path / "round-02.csv")["trial"].tolist() == [2]
    campaign = bl.Campaign.load("demo", storage=storage_url)
    assert campaign.trial(2).provenance["generator"] == "gp"
    assert [t.value for t in campaign.trials()] == [*frame["loss"], None]


@pytest.mark.slow
def test_exit_codes_in_a_subprocess(tmp_path):
    """1 and a one-line message for a user error, 2 for a usage error; never a traceback."""
    storage = f"sqlite:///{tmp_path / 'c.db'}"
    (tmp_path / "round.csv").write_text("trial,x,loss\n0,1,2\n")
    user_error = bo_loop_cmd("tell", "nope", "round.csv", "--storage", storage, cwd=tmp_path)
    assert user_error.returncode == 1
    assert user_error.stderr.startswith("Error: No SQLite database at ")
    assert "Traceback" not in user_error.stderr
    usage = bo_loop_cmd("ask", "demo", "-n", "zero", "--storage", storage, cwd=tmp_path)
    assert usage.returncode == 2
    assert "Invalid value for '-n'" in usage.stderr


# -- init and the spec -----------------------------------------------------------------------


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.*ml")))
def test_example_specs_create_campaigns(sqlite_url, example):
    result = invoke("init", EXAMPLES / example, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    (name,) = bl.Campaign.list(sqlite_url)
    assert f"Created campaign {name}" in result.stdout


def test_yaml_and_toml_rig_examples_agree(tmp_path):
    a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    assert invoke("init", EXAMPLES / "rig.yaml", "--storage", a).exit_code == 0
    assert invoke("init", EXAMPLES / "rig.toml", "--storage", b).exit_code == 0
    ya, tb = bl.Campaign.load("rig-yield", storage=a), bl.Campaign.load("rig-yield", storage=b)
    assert ya.space == tb.space and ya.objective == tb.objective
    assert ya.space["flow"] == bl.Real("flow", 0.1, 10.0, log=True)
    bl.storage.dispose(a)
    bl.storage.dispose(b)


SPEC_BASE = {
    "name": "name: t",
    "objective": "objective: {name: y, goal: maximize}",
    "parameters": "parameters: [{name: a, type: real, low: 0, high: 1}]",
}

BAD_SPECS = [
    ({"seeds": "seeds: 3"}, r"Unknown key 'seeds' in the spec \(did you mean 'seed'\?\)"),
    ({"parameters": "parameters: [{name: a, type: real, low: 0, hgih: 1}]"},
     r"Unknown key 'hgih' in parameters\[0\] \(type real\) \(did you mean 'high'\?\)"),
    ({"parameters": "parameters: [{name: a, type: float, low: 0, high: 1}]"},
     r"parameters\[0\].type must be one of \['real', 'integer', 'categorical'\], but got 'float'"),
    ({"parameters": "parameters: [{name: a, type: real, low: 5, high: 1}]"},
     r"parameters\[0\] \('a'\): `low < high` must hold for 'a', but got low=5, high=1"),
    ({"parameters": "parameters: [{name: a, type: real, low: '0', high: 1}]"},
     r"parameters\[0\] \('a'\): Bounds of 'a' must be numbers, but got low='0'"),
    ({"parameters": "parameters: [{name: a, type: real, low: 0, high: 1, log: 'yes'}]"},
     r"parameters\[0\] \('a'\).log must be true or false, but got 'yes'"),
    ({"parameters": "parameters: [{name: c, type: categorical, choices: [A]}]"},
     r"parameters\[0\] \('c'\): A categorical parameter needs at least 2 choices"),
    ({"parameters": "parameters: [{name: c, type: categorical}]"},
     r"parameters\[0\] \('c'\) needs the key\(s\) \['choices'\]"),
    ({"parameters": "parameters: {a: 1}"}, r"parameters must be a non-empty list"),
    ({"parameters": "parameters: [{name: trial, type: real, low: 0, high: 1}]"},
     r"must differ from the round-file columns \['trial', 'note', 'campaign'\], but got 'trial'"),
    ({"objective": "objective: {name: y, goal: maximise}"},
     r"objective: goal must be one of \['maximize', 'minimize'\], but got goal='maximise'"),
    ({"objective": "objective: {name: y, target: 3}"}, r"Unknown key 'target' in objective"),
    ({"objective": "objective: 3"}, r"objective must be a mapping of keys, but got 3"),
    ({"seed": "seed: abc"}, r"seed must be an integer, but got 'abc'"),
    ({"initial_design_size": "initial_design_size: 0"}, r"initial_design_size must be between 1"),
    ({"surrogate": "surrogate: forest"}, r"surrogate must be one of \['dngo', 'gp'\], but got 'forest'"),
    ({"surrogate": "surrogate: {name: gp, settings: {nope: 1}}"}, r"Unknown setting\(s\) \['nope'\]"),
    ({"name": "name: [t]"}, r"name must be a non-empty string, but got \['t'\]"),
    ({"name": None}, r"The spec needs the key\(s\) \['name'\]"),
    ({"extra": "seed: 1\nseed: 2"}, r"Each key may appear once, but 'seed' appears twice \(line 5\)"),
    ({"extra": "parameters: ["}, r"spec.yaml is not valid YAML"),
    ({"extra": "acquisition: {round_categories: thompson}"},
     r"Setting 'round_categories' of the acquisition must be one of \['matched', 'greedy'\], "
     r"but got round_categories='thompson'"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), BAD_SPECS)
def test_bad_specs_name_the_key_and_value(sqlite_url, tmp_path, change, message):
    lines = {**SPEC_BASE, **change}
    spec = tmp_path / "spec.yaml"
    spec.write_text("\n".join(v for v in lines.values() if v is not None) + "\n")
    result = invoke("init", spec, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: spec.yaml")
    assert re.search(message, result.stderr), result.stderr
    assert not os.path.exists(sqlite_url.removeprefix("sqlite:///"))  # nothing created


def test_bad_spec_files(sqlite_url, tmp_path):
    toml = tmp_path / "spec.toml"
    toml.write_text('name = "t"\nparameters = [\n')
    result = invoke("init", toml, "--storage", sqlite_url)
    assert result.exit_code == 1 and "spec.toml is not valid TOML" in result.stderr
    result = invoke("init", tmp_path / "spec.json", "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "must end in .yaml, .yml or .toml, but got 'spec.json'" in result.stderr
    result = invoke("init", tmp_path / "absent.yaml", "--storage", sqlite_url)
    assert result.exit_code == 1 and "Cannot read spec file" in result.stderr
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    result = invoke("init", listing, "--storage", sqlite_url)
    assert result.exit_code == 1 and "must hold a mapping of keys" in result.stderr


def test_init_twice_says_how_to_see_the_campaign(sqlite_url, tmp_path):
    spec = tmp_path / "demo.yaml"
    spec.write_text(DEMO_SPEC)
    assert invoke("init", spec, "--storage", sqlite_url).exit_code == 0
    result = invoke("init", spec, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "A campaign named 'demo' already exists" in result.stderr
    assert "bo-loop status demo" in result.stderr


def test_init_storage_precedence_flag_env_spec(tmp_path):
    urls = {k: f"sqlite:///{tmp_path / (k + '.db')}" for k in ("flag", "group", "env", "spec")}
    spec = tmp_path / "demo.yaml"
    spec.write_text(DEMO_SPEC + f"storage: {urls['spec']}\n")
    env = {"BO_LOOP_STORAGE": urls["env"]}
    assert invoke("init", spec, "--storage", urls["flag"], env=env).exit_code == 0
    assert invoke("--storage", urls["group"], "init", spec, env=env).exit_code == 0
    assert invoke("init", spec, env=env).exit_code == 0
    assert invoke("init", spec, env={"BO_LOOP_STORAGE": ""}).exit_code == 0
    for url in urls.values():
        assert bl.Campaign.list(url) == ["demo"], url
        bl.storage.dispose(url)


# -- the other commands ----------------------------------------------------------------------


@pytest.fixture
def demo(sqlite_url) -> bl.Campaign:
    campaign = bl.Campaign.create(
        "demo", [bl.Real("x", 0.0, 10.0), bl.Categorical("mode", ["slow", "fast"])],
        bl.Objective("loss", goal="minimize"), storage=sqlite_url, initial_design_size=4, seed=3,
    )  # fmt: skip
    for t in campaign.ask(5):
        if t.number < 4:
            campaign.tell(t.number, loss(t.params["x"], t.params["mode"]))
    return campaign


def test_status_counts_best_and_convergence(demo, sqlite_url):
    result = invoke("status", "demo", "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    best = demo.best()
    assert "5 trials: 1 pending, 4 completed, 0 failed, 0 abandoned" in result.stdout
    assert f"Best so far: trial {best.number}, loss = {best.value:.6g}" in result.stdout
    values = [t.value for t in demo.trials() if t.value is not None]
    running = [min(values[: i + 1]) for i in range(len(values))]
    line = next(s for s in result.stdout.splitlines() if s.startswith("Best so far, per result"))
    spark = line.split(": ")[1].split()[0]
    assert len(spark) == 4 and spark[0] == "█" and spark[-1] == "▁"  # minimising: it falls
    assert f"{running[0]:.6g} -> {running[-1]:.6g}" in line
    assert "Pending trials: 4" in result.stdout


def test_status_before_any_result(sqlite_url):
    bl.Campaign.create("empty", [bl.Real("x", 0.0, 1.0)], "y", storage=sqlite_url)
    result = invoke("--storage", sqlite_url, "status", "empty")
    assert result.exit_code == 0
    assert "0 trials" in result.stdout and "No result yet." in result.stdout


def test_best_recommend_list(demo, sqlite_url):
    best = invoke("best", "demo", "--storage", sqlite_url)
    assert best.exit_code == 0 and f"Best trial: {demo.best().number}" in best.stdout
    rec = invoke("recommend", "demo", "--storage", sqlite_url)
    assert rec.exit_code == 0, rec.stderr
    assert "predicted loss" in rec.stdout and "95% interval" in rec.stdout
    listing = invoke("list", "--storage", sqlite_url)
    assert listing.exit_code == 0
    assert re.search(r"demo\s+│ minimize loss\s+│ 5\s+│ 1", listing.stdout), listing.stdout


def test_recommend_needs_results(sqlite_url):
    bl.Campaign.create("empty", [bl.Real("x", 0.0, 1.0)], "y", storage=sqlite_url)
    result = invoke("recommend", "empty", "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "needs at least 2 completed trials" in result.stderr


def test_export_csv_and_refuse_overwrite(demo, sqlite_url, tmp_path):
    path = tmp_path / "all.csv"
    assert invoke("export", "demo", "-o", path, "--storage", sqlite_url).exit_code == 0
    table = pd.read_csv(path)
    assert table["number"].tolist() == [0, 1, 2, 3, 4]
    assert table["state"].tolist() == ["completed"] * 4 + ["pending"]
    assert {"x", "mode", "loss", "created_at_utc", "finished_at_utc"} <= set(table.columns)
    again = invoke("export", "demo", "-o", path, "--storage", sqlite_url)
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_plot_writes_a_png(demo, sqlite_url, tmp_path):
    path = tmp_path / "convergence.png"
    result = invoke("plot", "demo", "-o", path, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = invoke("plot", "demo", "-o", tmp_path / "c.jpg2", "--storage", sqlite_url)
    assert bad.exit_code == 1 and "must end in one of" in bad.stderr


def test_db_upgrade_reports_revisions(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    first = invoke("db", "upgrade", "--storage", url)
    assert first.exit_code == 0, first.stderr
    assert re.search(r"schema revision \(empty\) -> \w+", first.stdout)
    second = invoke("--storage", url, "db", "upgrade")
    assert second.exit_code == 0 and "nothing to do" in second.stdout


def test_bad_storage_is_a_user_error():
    result = invoke("list", "--storage", "mysql://nobody@localhost/db")
    assert result.exit_code == 1
    assert "SQLite or PostgreSQL URL" in result.stderr


# -- a new user's mistakes (issue: technicians' bugs) -------------------------------------------


def test_yaml_spec_keeps_choices_as_written_and_reads_every_float_form(sqlite_url, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: t\nobjective: y\nparameters:\n"
        "  - {name: answer, type: categorical, choices: [SE, NO, DK, yes, y, n]}\n"
        "  - {name: heater, type: categorical, choices: [on, off]}\n"
        "  - {name: a, type: real, low: 1e-3, high: 1E3}\n"
        "  - {name: b, type: real, low: -2e+2, high: .5}\n"
        "  - {name: c, type: real, low: +1.0, high: 2.}\n"
        "  - {name: d, type: integer, low: 1, high: 10}\n"
        "  - {name: e, type: categorical, choices: [true, false]}\n"
    )
    result = invoke("init", spec, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    space = bl.Campaign.load("t", storage=sqlite_url).space
    assert space["answer"].choices == ("SE", "NO", "DK", "yes", "y", "n")
    assert space["heater"].choices == ("on", "off")
    assert space["e"].choices == (True, False)
    assert (space["a"].low, space["a"].high) == (1e-3, 1e3)
    assert (space["b"].low, space["b"].high) == (-200.0, 0.5)
    assert (space["c"].low, space["c"].high) == (1.0, 2.0)
    assert (space["d"].low, space["d"].high) == (1, 10)


def test_next_hints_quote_names_with_spaces(sqlite_url, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(DEMO_SPEC.replace("name: demo", "name: rig yield"))
    result = invoke("init", spec, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert "Next: bo-loop ask 'rig yield' -n 4 -o round-01.csv" in result.stdout
    result = invoke("ask", "rig yield", "-o", tmp_path / "round 1.csv", "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    # rich wraps long lines at a space (dropping it): join the words back with one space.
    assert f"bo-loop tell 'rig yield' '{tmp_path / 'round 1.csv'}'" in " ".join(
        result.stdout.split()
    )


@pytest.mark.parametrize("name", ["rig ", " rig", "rig\n", "ri\x00g", "rig\t"])
def test_names_with_edge_whitespace_or_control_characters_are_refused(
    sqlite_url, tmp_path, name, stored_campaigns
):
    spec = tmp_path / "spec.yaml"
    spec.write_text(DEMO_SPEC.replace("name: demo", f"name: {name!r}".replace("'", '"')))
    result = invoke("init", spec, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert "must not start or end with a space or hold a control character" in result.stderr
    assert stored_campaigns(sqlite_url) == []


def test_spec_settings_are_stored_and_bad_ones_refused_naming_the_spec(sqlite_url, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        DEMO_SPEC + "surrogate: {name: gp, settings: {fit_maxiter: 50}}\n"
        "acquisition: {num_restarts: 4}\n"
    )
    assert invoke("init", spec, "--storage", sqlite_url).exit_code == 0
    c = bl.Campaign.load("demo", storage=sqlite_url)
    assert c.surrogate_settings["fit_maxiter"] == 50
    assert c.config.acquisition["num_restarts"] == 4
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        DEMO_SPEC.replace("name: demo", "name: other") + "acquisition: {num_restarts: 0}\n"
    )
    result = invoke("init", bad, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert (
        "bad.yaml: Setting 'num_restarts' of the acquisition must be in [1, 1000]" in result.stderr
    )
    assert bl.Campaign.list(sqlite_url) == ["demo"]


# -- a missing or in-memory storage ------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [["status", "demo"], ["list"], ["best", "demo"], ["history", "demo"]]
)
def test_read_commands_on_a_missing_file_say_so_and_create_nothing(tmp_path, args):
    path = tmp_path / "campaings.db"  # misspelt
    result = invoke(*args, "--storage", f"sqlite:///{path}")
    assert result.exit_code == 1
    assert f"No SQLite database at {path}: the file does not exist" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("storage", ["sqlite://", "sqlite:///:memory:"])
def test_init_refuses_an_in_memory_database(tmp_path, storage):
    spec = tmp_path / "demo.yaml"
    spec.write_text(DEMO_SPEC)
    result = invoke("init", spec, "--storage", storage)
    assert result.exit_code == 1
    assert "needs a database that outlives the command" in result.stderr
    assert f"but got {storage!r}" in result.stderr


MIXTURE_SPEC = """\
name: blend
objective: yield
parameters:
  - {name: water, type: real, low: 0, high: 1}
  - {name: ethanol, type: real, low: 0, high: 1}
  - {name: glycerol, type: real, low: 0, high: 1}
  - {name: temperature, type: real, low: 20, high: 90}
parameter_constraints:
  - "water + ethanol + glycerol == 1"
  - {coefficients: {ethanol: 1, temperature: 0.01}, op: "<=", rhs: 1.2}
"""


def test_init_reads_and_shows_parameter_constraints(sqlite_url, tmp_path):
    spec = tmp_path / "blend.yaml"
    spec.write_text(MIXTURE_SPEC)
    result = invoke("init", spec, "--storage", sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert "water + ethanol + glycerol == 1" in result.stdout
    assert "ethanol + 0.01*temperature <= 1.2" in result.stdout
    campaign = bl.Campaign.load("blend", storage=sqlite_url)
    assert [str(c) for c in campaign.parameter_constraints] == [
        "water + ethanol + glycerol == 1", "ethanol + 0.01*temperature <= 1.2",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("constraints", "message"),
    [
        ('"water + oil <= 1"', r"parameter_constraints\[0\]|names 'oil'"),
        (
            "{coefficients: {water: 1}, op: '<', rhs: 1}",
            r"parameter_constraints\[0\]: .*but got '<'",
        ),
        ('"water + ethanol >= 3"', r"must leave some point"),
    ],
)
def test_bad_parameter_constraints_in_a_spec_are_refused(
    sqlite_url, tmp_path, constraints, message
):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        MIXTURE_SPEC.split("parameter_constraints:")[0]
        + f"parameter_constraints:\n  - {constraints}\n"
    )
    result = invoke("init", spec, "--storage", sqlite_url)
    assert result.exit_code == 1
    assert re.search(message, result.stderr), result.stderr
    assert not os.path.exists(sqlite_url.removeprefix("sqlite:///"))  # nothing created


def test_ask_fix_holds_a_parameter_for_the_round_and_shows_the_constraints(sqlite_url, tmp_path):
    spec = tmp_path / "blend.yaml"
    spec.write_text(MIXTURE_SPEC)
    assert invoke("init", spec, "--storage", sqlite_url).exit_code == 0
    out = tmp_path / "round.csv"
    result = invoke(
        "ask", "blend", "-n", "3", "-o", out, "--fix", "temperature=80", "--storage", sqlite_url
    )
    assert result.exit_code == 0, result.stderr
    assert "Constraint: water + ethanol + glycerol == 1" in result.stdout
    frame = pd.read_csv(out, comment="#")  # the constraint lines above the header
    assert frame["temperature"].tolist() == [80.0] * 3
    assert (frame["water"] + frame["ethanol"] + frame["glycerol"] - 1).abs().max() <= 1e-9
    result = invoke(
        "ask",
        "blend",
        "-o",
        tmp_path / "r2.csv",
        "--fix",
        "temperature=95",
        "--storage",
        sqlite_url,
    )
    assert (
        result.exit_code == 1
        and "'temperature' must lie in [20.0, 90.0], but got 95.0" in result.stderr
    )


SOLVENT_SPEC = """\
name: solvents
objective: {name: impurity, goal: minimize}
parameters:
  - {name: temperature, type: real, low: 20, high: 120}
  - {name: solvent, type: categorical, choices: [water, ethanol, dmso]}
seed: 2
initial_design_size: 6
"""


@pytest.mark.parametrize("rule", ["matched", "greedy"])
def test_ask_says_how_a_round_was_spread_over_a_categorical(sqlite_url, tmp_path, rule):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SOLVENT_SPEC + f"acquisition: {{round_categories: {rule}}}\n")
    assert invoke("init", spec, "--storage", sqlite_url).exit_code == 0
    campaign = bl.Campaign.load("solvents", storage=sqlite_url)
    floor = {"water": 0.6, "ethanol": 0.0, "dmso": 1.0}
    for t in campaign.ask(6):
        campaign.tell(
            t.number, floor[t.params["solvent"]] + ((t.params["temperature"] - 60) / 25) ** 2
        )
    bl.storage.dispose(sqlite_url)
    result = invoke(
        "ask", "solvents", "-n", "4", "-o", tmp_path / "r2.csv", "--storage", sqlite_url
    )
    assert result.exit_code == 0, result.output
    line = re.search(r"Spread over solvent by the model's probability .*: (.*)", result.output)
    if rule == "greedy":
        assert line is None
        return
    assert line is not None, result.output
    shown = dict(item.rsplit(" ", 1) for item in line.group(1).split(", "))
    stored = bl.Campaign.load("solvents", storage=sqlite_url).trials()[-1].provenance
    expected = stored["category_probabilities"]["solvent"]
    assert set(shown) == {"water", "ethanol", "dmso"}
    assert {k: float(v) for k, v in shown.items()} == pytest.approx(expected, abs=0.006)
    assert list(shown.values()) == sorted(shown.values(), reverse=True)
