"""Benchmark harness of issue 4: bo_loop against Ax, Optuna, scikit-optimize, BayBE and random search.

Every (method, problem, seed) run drives the method through its own ask/tell API with
`experiments.peers.run_loop`, so every method sees the same noise for the same seed. Each run
executes in a fresh worker process (``python -m experiments.compare --worker ...``): runs cannot
share global state (torch threads, seeds, caches), a crash loses one run, and the worker's peak
resident memory is the run's own. One JSON line per finished run goes to ``OUT/<method>.jsonl``;
runs already there are skipped, so an interrupted benchmark resumes where it stopped.

    python -m experiments.compare                              # every method, problem, 10 seeds
    python -m experiments.compare --methods random,bo_loop_gp --problems branin --seeds 3
    python -m experiments.compare --smoke                      # seconds: tiny budgets, fast methods
    python -m experiments.compare --report-only                # tables and plots from the JSONL
    python -m experiments.compare --batch-size 4 --methods bo_loop_gp,ax --problems branin

``--batch-size q`` runs the same budgets in rounds of ``q`` points (issue 14): every method asks
a whole round through its own batch API before any result is told. Those runs go to
``experiments/results/batch/q<q>/`` and their report to the "Batches" section of RESULTS.md
(`experiments.batch_report`).

The report (``experiments/RESULTS.md`` and one regret-curve PNG per problem) is written by
`experiments.compare_report` after every invocation, from everything in ``OUT``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from experiments.peers import PEERS, Record, run_rounds
from experiments.problems import PROBLEMS, Problem, smoke

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "experiments" / "results" / "compare"
BATCH_ROOT = ROOT / "experiments" / "results" / "batch"
SMOKE_OUT = ROOT / "experiments" / "results" / "compare_smoke"
DEFAULT_RESULTS = ROOT / "experiments" / "RESULTS.md"

#: Methods cheap enough for `--smoke` and for 10 seeds on every problem in well under an hour.
FAST_METHODS = ("random", "optuna_tpe", "optuna_gp", "skopt", "bo_loop_gp")
SMOKE_METHODS = ("random", "optuna_tpe", "bo_loop_gp")
SMOKE_BUDGET = 6

#: The library each method imports, loaded before the run so that the memory delta is the run's.
_LIBRARY = {
    "bo_loop_gp": "bo_loop",
    "bo_loop_dngo": "bo_loop",
    "ax": "ax",
    "optuna_tpe": "optuna",
    "optuna_gp": "optuna",
    "skopt": "skopt",
    "baybe": "baybe",
    "random": "numpy",
}


def run_bo_loop(problem: Problem, seed: int, surrogate: str = "gp", q: int = 1) -> list[Record]:
    """bo_loop through `Campaign` on a fresh SQLite file, with its defaults and ``seed``.

    A round of ``q`` points is one ``campaign.ask(q)``.
    """
    import bo_loop as bl
    import bo_loop.storage

    parameters: list[bl.Real | bl.Integer | bl.Categorical] = []
    for p in problem.params:
        if p["type"] == "categorical":
            parameters.append(bl.Categorical(p["name"], p["choices"]))
        elif p["type"] == "integer":
            parameters.append(bl.Integer(p["name"], p["low"], p["high"]))
        else:
            parameters.append(bl.Real(p["name"], p["low"], p["high"], log=p["log"]))
    overrides = parse_settings(os.environ.get(OVERRIDES_ENV, ""), surrogate)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        campaign = bl.Campaign.create(
            f"{problem.name}-{seed}",
            parameters,
            bl.Objective("y", problem.goal),
            storage=url,
            surrogate=surrogate,
            seed=seed,
            surrogate_settings=overrides["surrogate_settings"],
            acquisition_settings=overrides["acquisition_settings"],
            initial_design_size=overrides.get("initial_design_size"),
        )

        # CPU seconds of this process per evaluation as well as run_rounds' wall seconds (the
        # round's ask split evenly over its points, plus the point's tell): bo_loop runs
        # small-data model math on one thread, so CPU time estimates the wall time on an idle
        # machine even while other jobs share the cores.
        cpu: dict[int, float] = {}  # by trial number, in the order asked

        def ask_batch(k: int) -> list[tuple[int, dict[str, Any]]]:
            start = time.process_time()
            trials = campaign.ask(k)
            share = (time.process_time() - start) / k
            cpu.update((trial.number, share) for trial in trials)
            return [(trial.number, dict(trial.params)) for trial in trials]

        def tell(number: int, value: float) -> None:
            start = time.process_time()
            campaign.tell(number, value)
            cpu[number] += time.process_time() - start

        try:
            records = run_rounds(problem, seed, ask_batch, tell, q)
        finally:
            bo_loop.storage.dispose(url)
    for record, seconds in zip(records, cpu.values(), strict=True):
        record["cpu_seconds"] = seconds
    return records


#: Environment variable holding ``NAME=VALUE,...`` settings of bo_loop variants
#: (``--bo-loop-set``), so the harness can measure a setting before making it the default. A name
#: is an acquisition setting (``num_restarts``), a surrogate's (``gp.fit_maxiter``,
#: ``dngo.ensemble``) or ``initial_design_size``; values are JSON.
OVERRIDES_ENV = "BO_LOOP_BENCH_SET"


def results_path(given: Path | None, given_out: Path | None, out: Path, smoke: bool) -> Path:
    """Where the Markdown report goes: ``--results`` when given; experiments/RESULTS.md only for
    a full run into the default folders; otherwise beside the run's data (``out``), so a variant
    run elsewhere (``--out /tmp/...``) never replaces the project's report with a partial one."""
    if given is not None:
        return given
    return DEFAULT_RESULTS if not smoke and given_out is None else out / "RESULTS.md"


def parse_settings(text: str, surrogate: str = "gp") -> dict[str, Any]:
    """``Campaign.create`` keyword arguments from ``NAME=VALUE,...`` (see `OVERRIDES_ENV`).

    Settings of another surrogate than ``surrogate`` are ignored, so one ``--bo-loop-set`` serves
    the GP and DNGO runs of a comparison.
    """
    from bo_loop.models import acquisition, surrogates

    out: dict[str, Any] = {"surrogate_settings": {}, "acquisition_settings": {}}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, raw = item.partition("=")
        owner, _, key = name.rpartition(".")
        if owner and owner not in surrogates.SURROGATES:
            raise SystemExit(f"{name!r}: no surrogate {owner!r}")
        if owner:
            if owner == surrogate:
                out["surrogate_settings"][key] = json.loads(raw)
        elif key in acquisition.RULES:
            out["acquisition_settings"][key] = json.loads(raw)
        elif key == "initial_design_size":
            out[key] = json.loads(raw)
        else:
            raise SystemExit(f"{name!r} is no acquisition setting ({sorted(acquisition.RULES)})")
    surrogates.resolve_settings(surrogate, out["surrogate_settings"])  # refused before any run
    acquisition.resolve_settings(out["acquisition_settings"])
    return out


METHODS: dict[str, Callable[[Problem, int, int], list[Record]]] = {
    "bo_loop_gp": lambda problem, seed, q: run_bo_loop(problem, seed, "gp", q),
    "bo_loop_dngo": lambda problem, seed, q: run_bo_loop(problem, seed, "dngo", q),
    **PEERS,
}
"""Every method by the name used in result files and tables."""


def _maxrss_mib() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(method: str, problem: Problem, seed: int, q: int = 1) -> dict[str, Any]:
    """Run one (method, problem, seed) in rounds of ``q`` in this process; its result line."""
    __import__(_LIBRARY.get(method, "numpy"))
    overrides = os.environ.get(OVERRIDES_ENV, "") if "bo_loop" in method else ""
    rss_before = _maxrss_mib()
    load_before = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    records = METHODS[method](problem, seed, q)
    wall = time.perf_counter() - started
    # CPU time of every thread of the worker: the run's work, whatever the load on the machine.
    cpu = time.process_time() - cpu_started
    return {
        "method": method,
        "problem": problem.name,
        "seed": seed,
        "budget": problem.budget,
        "batch_size": q,
        "records": records,
        "overrides": overrides,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "peak_rss_mib": _maxrss_mib(),
        "rss_growth_mib": _maxrss_mib() - rss_before,
        "loadavg_1min": [load_before, os.getloadavg()[0]],
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def result_path(out: Path, label: str) -> Path:
    """The JSON-lines file that holds every run of one method (or labelled variant)."""
    return out / f"{label}.jsonl"


def load_runs(out: Path) -> list[dict[str, Any]]:
    """Every finished run under ``out``; a truncated last line (a killed writer) is ignored."""
    runs = []
    for path in sorted(out.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                runs.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return runs


def _worker(method: str, problem_name: str, seed: int, budget: int, q: int, dest: Path) -> None:
    problem = PROBLEMS[problem_name]
    if budget != problem.budget:
        problem = smoke(problem, budget)
    dest.write_text(json.dumps(run_one(method, problem, seed, q)))


def _spawn(method: str, problem: Problem, seed: int, label: str, q: int = 1) -> dict[str, Any]:
    """Run one (method, problem, seed) in a fresh worker process and return its result line."""
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "run.json"
        cmd = [sys.executable, "-m", "experiments.compare", "--worker", method, problem.name]
        cmd += [str(seed), str(problem.budget), str(q), str(dest)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not dest.exists():
            tail = (done.stderr or done.stdout)[-2000:]
            raise RuntimeError(f"{method} on {problem.name} seed {seed} failed:\n{tail}")
        result: dict[str, Any] = json.loads(dest.read_text())
    result["method"] = label
    result["implementation"] = method
    return result


def plan(
    methods: Sequence[str], problems: Sequence[Problem], seeds: int, out: Path, label: str | None
) -> list[tuple[str, str, Problem, int]]:
    """The runs still to do, seed-major so that an interrupted benchmark has whole seeds."""
    done = {(r["method"], r["problem"], r["seed"], r["budget"]) for r in load_runs(out)}
    todo = []
    for seed in range(seeds):
        for problem in problems:
            for method in methods:
                name = label or method
                if (name, problem.name, seed, problem.budget) not in done:
                    todo.append((method, name, problem, seed))
    return todo


def execute(
    todo: Sequence[tuple[str, str, Problem, int]], out: Path, progress: bool, q: int = 1
) -> int:
    """Run every planned run, appending each result line as soon as it finishes.

    Returns:
        The number of runs that failed (their errors are printed; the others still run).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    out.mkdir(parents=True, exist_ok=True)
    failures = 0
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("runs", total=len(todo))
        for method, label, problem, seed in todo:
            bar.update(task, description=f"{label} {problem.name} seed {seed}")
            try:
                result = _spawn(method, problem, seed, label, q)
            except RuntimeError as error:
                failures += 1
                bar.console.print(str(error))
            else:
                with result_path(out, label).open("a") as handle:
                    handle.write(json.dumps(result) + "\n")
            bar.advance(task)
    return failures


def _names(text: str, known: Sequence[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what} {unknown}; choose from {list(known)}")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--worker"]:
        method, problem_name, seed, budget, q, dest = args[1:7]
        _worker(method, problem_name, int(seed), int(budget), int(q), Path(dest))
        return 0
    parser = argparse.ArgumentParser(prog="python -m experiments.compare", description=__doc__)
    parser.add_argument("--methods", help=f"comma-separated, from {list(METHODS)}")
    parser.add_argument("--problems", help=f"comma-separated, from {list(PROBLEMS)}")
    parser.add_argument("--seeds", type=int, help="seeds 0..N-1 per run (default 10; smoke 1)")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets, fast methods, 1 seed")
    parser.add_argument("--out", type=Path, help="folder of JSONL and PNG files")
    parser.add_argument("--results", type=Path, help="the Markdown report to write")
    parser.add_argument("--label", help="store runs under this method name (a variant)")
    parser.add_argument(
        "--bo-loop-set",
        help="NAME=JSON,... settings of the bo_loop campaigns (num_restarts=5,gp.fit_maxiter=20; use --label)",
    )
    parser.add_argument(
        "--check-label", default="bo_loop_gp", help="the bo_loop run label the checks are about"
    )
    parser.add_argument("--report-only", action="store_true", help="no runs; rebuild the report")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--batch-size", type=int, default=1, help="points per round (default 1: sequential)"
    )
    opts = parser.parse_args(args)
    q = opts.batch_size
    if q < 1:
        raise SystemExit(f"--batch-size must be >= 1, but got {q}")

    smoke_mode = bool(opts.smoke) or os.environ.get("SMOKE_TEST") == "1"
    base_out = SMOKE_OUT if smoke_mode else DEFAULT_OUT
    if q > 1:
        base_out = (base_out.parent / "batch_smoke" if smoke_mode else BATCH_ROOT) / f"q{q}"
    out = opts.out or base_out
    results = results_path(opts.results, opts.out, out, smoke_mode)
    default_methods = SMOKE_METHODS if smoke_mode else tuple(METHODS)
    methods = _names(opts.methods, list(METHODS), "methods") if opts.methods else default_methods
    names = _names(opts.problems, list(PROBLEMS), "problems") if opts.problems else list(PROBLEMS)
    problems = [smoke(PROBLEMS[n], SMOKE_BUDGET) if smoke_mode else PROBLEMS[n] for n in names]
    seeds = opts.seeds if opts.seeds is not None else (1 if smoke_mode else 10)

    if opts.bo_loop_set:
        os.environ[OVERRIDES_ENV] = opts.bo_loop_set
    failures = 0
    if not opts.report_only:
        todo = plan(methods, problems, seeds, out, opts.label)
        failures = execute(todo, out, progress=not opts.no_progress, q=q)

    command = "python -m experiments.compare " + " ".join(args)
    # The report covers every problem with runs in the folder, not only those run now: a run of
    # one problem used to drop the other problems' tables from RESULTS.md.
    reported = [smoke(p, SMOKE_BUDGET) if smoke_mode else p for p in PROBLEMS.values()]
    if q > 1:
        from experiments.batch_report import write_batch_report

        write_batch_report(out.parent, results, reported, check_label=opts.check_label)
        return 1 if failures else 0
    from experiments.compare_report import write_report

    write_report(out, results, reported, command=command.strip(), check_label=opts.check_label)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
