"""Reliability of a shared campaign (issue 7): concurrent writers, killed writers, bad inputs.

    python -m experiments.reliability                # the README figures -> experiments/results/reliability.md
    SMOKE_TEST=1 python -m experiments.reliability   # the same checks, a minute's worth

PostgreSQL runs when ``--postgres URL`` or ``$BO_LOOP_TEST_POSTGRES_URL`` names a server database
(``export BO_LOOP_TEST_POSTGRES_URL=$(.ci/start-postgres)``); each run gets a fresh database
there, dropped afterwards. The subcommands ``concurrency`` and ``kills`` run one experiment on one
storage URL and write its result as JSON; tests/reliability uses them.

Writers are separate processes forked from a forkserver that has imported bo_loop once (importing
torch takes seconds per process; 50+ killed and restarted writers would spend minutes on it).
Every writer logs what it is about to do to its own file with a single ``write`` per line, so a
line written before a SIGKILL is never lost; the checks compare those logs with the database.

``--effort cheap`` (the default) caps the acquisition optimiser (2 restarts, 32 raw samples, 32
MC samples instead of 10, 512 and 256) and the GP's marginal-likelihood fit (10 L-BFGS-B
iterations), as BoTorch's own tests cap their optimisers: every ask still reads the trials, fits
a GP and optimises qLogNEI/LogEI under the campaign lock, which is what is on trial here, but 400
serialised asks then fit in CI (with bo_loop's own settings an ask at 350 trials and 7 pending
took 2.1-2.6 s here, 0.8-1.2 s capped). ``--effort default`` runs bo_loop's settings.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import bo_loop as bl
from bo_loop.storage import dispose

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "experiments" / "results" / "reliability.md"
POSTGRES_ENV = "BO_LOOP_TEST_POSTGRES_URL"
CAMPAIGN = "shared-rig"
SPACE = [bl.Real("x", 0.0, 1.0), bl.Real("z", 0.0, 1.0)]
#: Sobol points before the GP takes over: asks 6.. fit a GP on everything told so far.
DESIGN_SIZE = 5
#: Campaign settings of ``--effort cheap``: a capped acquisition optimiser and GP fit. They are
#: stored with the campaign, so every writer process asks with them.
CHEAP = {
    "acquisition_settings": {"num_restarts": 2, "raw_samples": 32, "mc_samples": 32},
    "surrogate_settings": {"fit_maxiter": 10},
}


# -- the writer process -------------------------------------------------------------------------


@dataclass(frozen=True)
class WriterSpec:
    """What one writer process does: ``rounds`` of ask(1) then tell, or until it is killed."""

    url: str
    worker: int
    log: str
    rounds: int | None
    effort: str = "cheap"
    start_at: float = 0.0
    #: Sleep this long after every SQL statement, so that kills land inside transactions.
    stretch_ms: float = 0.0


def outcome(params: dict[str, float], worker: int, round_: int) -> float:
    """The value a writer tells: a smooth bowl in the settings plus a term distinct per (worker,
    round), so every mantissa bit is in use and no two told values are equal.

    A smooth response is what a rig gives; pure noise made the GP infer a constant, and
    qLogNEI then kept hundreds of baseline points: with the cheap effort, 1.2 s per ask at 350
    trials and 7 pending against 0.6 s for the bowl.
    """
    bowl = 10.0 * ((params["x"] - 0.3) ** 2 + (params["z"] - 0.6) ** 2)
    return bowl + random.Random(worker * 100_003 + round_).uniform(-0.01, 0.01)


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def writer(spec: WriterSpec) -> None:
    """Ask and tell on the shared campaign, logging each step before taking it."""
    fd = os.open(spec.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def log(**event: Any) -> None:
        os.write(fd, (json.dumps({"t": time.time(), **event}) + "\n").encode())

    try:
        retries = _Counter()
        storage_log = logging.getLogger("bo_loop.storage.database")
        storage_log.setLevel(logging.INFO)
        storage_log.addHandler(retries)
        if spec.stretch_ms:
            _stretch_transactions(spec.stretch_ms, log)
        campaign = bl.Campaign.load(CAMPAIGN, storage=spec.url)
        log(ev="ready", w=spec.worker)
        time.sleep(max(0.0, spec.start_at - time.time()))
        parent = os.getppid()
        r = 0
        while spec.rounds is None or r < spec.rounds:
            if os.getppid() != parent:  # the harness (and its forkserver) died: stop, do not linger
                log(ev="orphaned", w=spec.worker)
                os._exit(3)
            log(ev="ask", w=spec.worker, r=r)
            (trial,) = campaign.ask(1)
            log(ev="asked", w=spec.worker, r=r, n=trial.number, p=trial.params)
            value = outcome(trial.params, spec.worker, r)
            log(ev="tell", w=spec.worker, r=r, n=trial.number, v=value)
            campaign.tell(trial.number, value)
            log(ev="told", w=spec.worker, r=r, n=trial.number)
            r += 1
        log(ev="done", w=spec.worker, retries=retries.count)
    except BaseException as e:
        log(ev="error", w=spec.worker, error=f"{type(e).__name__}: {e}", tb=traceback.format_exc())
        os._exit(1)
    finally:
        os.close(fd)


def _stretch_transactions(ms: float, log: Any) -> None:
    """Log every SQL statement and commit, and pause after each statement (fault injection)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def after_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        log(ev="sql", s=statement.split(None, 1)[0].upper())
        time.sleep(ms / 1000)

    def before_commit(conn: Any) -> None:
        log(ev="commit")

    event.listen(Engine, "after_cursor_execute", after_execute)
    event.listen(Engine, "commit", before_commit)


def _writer_function() -> Any:
    # Under ``python -m`` this module is __main__; hand the processes the importable original.
    import importlib

    return importlib.import_module("experiments.reliability").writer


def _context() -> Any:
    ctx = mp.get_context("forkserver")
    # Each writer then starts in milliseconds instead of importing torch anew.
    ctx.set_forkserver_preload(["bo_loop", "torch.fx.experimental.symbolic_shapes", "botorch"])
    return ctx


def read_log(path: Path) -> list[dict[str, Any]]:
    """The log's entries. The monitor reads while writers append, so the last line may still be
    half-written: it is left for the next read. A torn line anywhere else is an error."""
    if not path.exists():
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    entries = []
    for i, line in enumerate(lines):
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            if i < len(lines) - 1:
                raise
    return entries


def create_campaign(url: str, effort: str = "cheap") -> bl.Campaign:
    """The shared campaign; ``effort="cheap"`` stores the `CHEAP` settings with it."""
    return bl.Campaign.create(
        CAMPAIGN, SPACE, bl.Objective("y", "maximize"), storage=url, seed=0,
        initial_design_size=DESIGN_SIZE, **(CHEAP if effort == "cheap" else {}),
    )  # fmt: skip


# -- concurrency --------------------------------------------------------------------------------


def run_concurrency(
    url: str,
    workdir: Path,
    *,
    writers: int = 8,
    rounds: int = 50,
    effort: str = "cheap",
    timeout_s: float = 3600.0,
) -> dict[str, Any]:
    """``writers`` processes, each ``rounds`` of ask(1) then tell, all on one campaign."""
    create_campaign(url, effort)
    ctx = _context()
    start_at = time.time() + 1.0
    specs = [
        WriterSpec(url, w, str(workdir / f"writer-{w}.jsonl"), rounds, effort, start_at)
        for w in range(writers)
    ]
    began = time.monotonic()
    procs = [ctx.Process(target=_writer_function(), args=(spec,)) for spec in specs]
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=max(1.0, began + timeout_s - time.monotonic()))
    finally:
        for p in procs:  # still running after the time limit (or an error here): a failure
            if p.exitcode is None:
                p.kill()
                p.join()
    wall = time.monotonic() - began
    logs = {s.worker: read_log(Path(s.log)) for s in specs}
    result = check_concurrency(url, logs, writers * rounds)
    result.update(
        backend=_backend(url), writers=writers, rounds=rounds, effort=effort,
        wall_s=round(wall, 1), exit_codes=[p.exitcode for p in procs],
    )  # fmt: skip
    if any(code != 0 for code in result["exit_codes"]):
        result["problems"].append(f"writer exit codes {result['exit_codes']}")
    return result


def check_concurrency(
    url: str, logs: dict[int, list[dict[str, Any]]], expected: int
) -> dict[str, Any]:
    """Compare the writers' logs with the database; every broken promise is one problem line."""
    problems: list[str] = []
    events = [e for log in logs.values() for e in log]
    for e in events:
        if e["ev"] == "error":
            problems.append(f"writer {e['w']} failed: {e['error']}\n{e['tb']}")
    handed = Counter(e["n"] for e in events if e["ev"] == "asked")
    twice = sorted(n for n, c in handed.items() if c > 1)
    if twice:
        problems.append(f"trials handed out more than once: {twice}")
    told = {e["n"]: e["v"] for e in events if e["ev"] == "tell"}
    campaign = bl.Campaign.load(CAMPAIGN, storage=url)
    trials = campaign.trials()
    numbers = [t.number for t in trials]
    if numbers != list(range(expected)):
        problems.append(f"expected trials 0..{expected - 1}, found {len(numbers)}: gaps or extras")
    lost = [
        t.number
        for t in trials
        if t.state is not bl.TrialState.COMPLETED or t.value != told.get(t.number)
    ]
    if lost:
        problems.append(f"trials whose stored value is not the told one: {lost[:20]}")
    problems += _identical_while_pending(trials)
    problems += [f"verify: {p}" for p in campaign.verify()]
    asks = [
        b["t"] - a["t"]
        for log in logs.values()
        for a, b in itertools.pairwise(log)
        if a["ev"] == "ask" and b["ev"] == "asked"
    ]
    gp = sum(1 for t in trials if t.provenance.get("generator") == "gp")
    retries = sum(e.get("retries", 0) for e in events if e["ev"] == "done")
    return {
        "problems": problems,
        "trials": len(trials),
        "observations": sum(t.value is not None for t in trials),
        "model_asks": gp,
        "handed_out_twice": len(twice),
        "lost": len(lost),
        "retries": retries,
        "ask_s_median": round(statistics.median(asks), 2) if asks else None,
        "ask_s_max": round(max(asks), 2) if asks else None,
        "told": {str(n): v for n, v in told.items()},
    }


def _identical_while_pending(trials: list[bl.Trial]) -> list[str]:
    """Two trials with the same point may never have been pending at the same time."""
    by_point: dict[tuple[Any, ...], list[bl.Trial]] = defaultdict(list)
    for t in trials:
        by_point[tuple(sorted(t.params.items()))].append(t)
    problems = []
    far = datetime.max.replace(tzinfo=None)
    for same in by_point.values():
        for i, a in enumerate(same):
            for b in same[i + 1 :]:
                a_end = a.finished_at.replace(tzinfo=None) if a.finished_at else far
                b_end = b.finished_at.replace(tzinfo=None) if b.finished_at else far
                assert a.created_at is not None and b.created_at is not None
                if (
                    a.created_at.replace(tzinfo=None) < b_end
                    and b.created_at.replace(tzinfo=None) < a_end
                ):
                    problems.append(
                        f"trials {a.number} and {b.number} were pending at once at {a.params}"
                    )
    return problems


# -- kills --------------------------------------------------------------------------------------

#: Where a writer is killed. "ask"/"tell": a random moment within the step (measured duration);
#: "ask-insert"/"tell-stmt": right after the k-th (INSERT) statement of the step, inside its
#: transaction; "*-commit": right as the step's transaction commits; "random": anywhere.
MODES = ("ask", "ask-insert", "ask-commit", "tell", "tell-stmt", "tell-commit", "random")


@dataclass
class _Life:
    spec: WriterSpec
    proc: Any
    mode: str
    k: int
    delay: float
    started: float
    offset: int = 0
    seen: list[dict[str, Any]] = field(default_factory=list)
    kill_at: float | None = None


def run_kills(
    url: str,
    workdir: Path,
    *,
    kills: int = 30,
    writers: int = 3,
    effort: str = "cheap",
    seed: int = 0,
    stretch_ms: float = 5.0,
) -> dict[str, Any]:
    """Keep ``writers`` writers going and SIGKILL them at chosen moments, ``kills`` times."""
    create_campaign(url, effort)
    ctx = _context()
    rng = random.Random(seed)
    durations: dict[str, list[float]] = {"ask": [1.0], "tell": [0.05]}
    lives: list[_Life] = []
    done: list[_Life] = []
    next_worker = 0
    began = time.monotonic()

    def start() -> None:
        nonlocal next_worker
        spec = WriterSpec(
            url,
            next_worker,
            str(workdir / f"life-{next_worker}.jsonl"),
            None,
            effort,
            0.0,
            stretch_ms,
        )
        next_worker += 1
        proc = ctx.Process(target=_writer_function(), args=(spec,))
        proc.start()
        mode = rng.choice(MODES)
        lives.append(_Life(spec, proc, mode, rng.randint(1, 3), rng.random(), time.monotonic()))

    try:
        for _ in range(writers):
            start()
        while len(done) < kills:
            time.sleep(0.001)
            for life in list(lives):
                _follow(life, durations)
                if life.proc.exitcode is not None:  # died on its own: a failure, reported below
                    lives.remove(life)
                    done.append(life)
                    start()
                    continue
                if life.kill_at is None:
                    life.kill_at = _kill_moment(life, durations)
                if life.kill_at is not None and time.monotonic() >= life.kill_at:
                    life.proc.kill()
                    life.proc.join()
                    lives.remove(life)
                    done.append(life)
                    if len(done) + len(lives) < kills:
                        start()
    finally:
        for life in lives:  # normally none are left; after an error, none may linger
            life.proc.kill()
            life.proc.join()
            done.append(life)
    wall = time.monotonic() - began
    result = check_kills(url, done)
    result.update(backend=_backend(url), writers=writers, effort=effort, wall_s=round(wall, 1))
    return result


def _follow(life: _Life, durations: dict[str, list[float]]) -> None:
    try:
        with open(life.spec.log, "rb") as f:
            f.seek(life.offset)
            data = f.read()
    except FileNotFoundError:  # the writer has not logged anything yet
        return
    complete = data[: data.rfind(b"\n") + 1]
    life.offset += len(complete)
    for line in complete.decode().splitlines():
        event = json.loads(line)
        life.seen.append(event)
        if event["ev"] in ("asked", "told"):
            start = next(
                e
                for e in reversed(life.seen)
                if e["ev"] == ("ask" if event["ev"] == "asked" else "tell")
            )
            durations["ask" if event["ev"] == "asked" else "tell"].append(event["t"] - start["t"])


def _kill_moment(life: _Life, durations: dict[str, list[float]]) -> float | None:
    """When to kill this life, once what it logged so far allows deciding; None: not yet."""
    now = time.monotonic()
    seen = life.seen
    if life.mode == "random":
        return life.started + 0.1 + 2.0 * life.delay
    phase = "ask" if life.mode.startswith("ask") else "tell"
    starts = [i for i, e in enumerate(seen) if e["ev"] == phase]
    if not starts:
        return None
    if life.mode in ("ask", "tell"):
        return now + life.delay * statistics.median(durations[phase][-50:])
    after = seen[starts[-1] + 1 :]
    if life.mode.endswith("commit"):
        return now if any(e["ev"] == "commit" for e in after) else None
    statements = [e for e in after if e["ev"] == "sql"]
    if life.mode == "ask-insert":
        statements = [e for e in statements if e["s"] == "INSERT"]
    return now if len(statements) >= life.k else None


def _where(events: list[dict[str, Any]]) -> str:
    """Where a killed writer was: the step it had begun and how far its transaction had got."""
    for i in range(len(events) - 1, -1, -1):
        ev = events[i]["ev"]
        if ev in ("asked", "told", "ready", "done"):
            return "between steps"
        if ev in ("ask", "tell"):
            after = [e["ev"] for e in events[i + 1 :]]
            if "commit" in after:
                return f"{ev}: committing or committed, not yet returned"
            if "sql" in after:
                return f"{ev}: inside its transaction"
            return f"{ev}: before its first statement returned (e.g. waiting for the lock)"
    return "starting up"


def check_kills(url: str, lives: list[_Life]) -> dict[str, Any]:
    """Every told value fully stored or absent, nothing half-written, and the campaign goes on."""
    problems: list[str] = []
    where: Counter[str] = Counter()
    kills = 0
    asked: dict[int, dict[str, Any]] = {}
    intents: list[dict[str, Any]] = []
    told: set[int] = set()
    twice = 0
    for life in lives:
        events = read_log(Path(life.spec.log))
        for e in events:
            if e["ev"] == "error":
                problems.append(f"writer {life.spec.worker} failed: {e['error']}\n{e['tb']}")
            elif e["ev"] == "asked":
                if e["n"] in asked:
                    twice += 1
                    problems.append(f"trial {e['n']} handed out twice")
                asked[e["n"]] = e["p"]
            elif e["ev"] == "tell":
                intents.append(e)
            elif e["ev"] == "told":
                told.add(e["n"])
        if life.proc.exitcode == -9:
            kills += 1
            where[_where(events)] += 1
        else:
            problems.append(f"writer {life.spec.worker} ended with exit code {life.proc.exitcode}")
    campaign = bl.Campaign.load(CAMPAIGN, storage=url)
    trials = {t.number: t for t in campaign.trials()}
    stored = absent = lost = 0
    for e in intents:
        t = trials.get(e["n"])
        if t is not None and t.state is bl.TrialState.COMPLETED and t.value == e["v"]:
            stored += 1
        elif t is not None and t.state is bl.TrialState.PENDING and e["n"] not in told:
            absent += 1
        else:
            lost += 1
            state = "missing" if t is None else f"{t.state.name} {t.value!r}"
            problems.append(
                f"trial {e['n']} told {e['v']!r} (returned: {e['n'] in told}) is {state}"
            )
    intended = {e["n"] for e in intents}
    for n, t in trials.items():
        if n in asked and t.params != asked[n]:
            problems.append(f"trial {n} holds {t.params}, its writer was handed {asked[n]}")
        if n not in asked and t.state is not bl.TrialState.PENDING:
            problems.append(f"trial {n} was never handed out but is {t.state.name}")
        if t.state is bl.TrialState.COMPLETED and n not in intended:
            problems.append(f"trial {n} is COMPLETED but nobody told it")
    unreturned = sum(1 for n in trials if n not in asked)
    problems += _identical_while_pending(list(trials.values()))
    problems += [f"verify: {p}" for p in campaign.verify()]
    # The campaign goes on: free what the dead writers left pending, then one more round.
    left = campaign.abandon_stale(timedelta(microseconds=1), reason="writer killed by the harness")
    (trial,) = campaign.ask(1)
    campaign.tell(trial.number, 1.0)
    if bl.Campaign.load(CAMPAIGN, storage=url).trial(trial.number).value != 1.0:
        problems.append("the campaign did not continue after the kills")
    problems += [f"verify after continuing: {p}" for p in campaign.verify()]
    return {
        "problems": problems,
        "kills": kills,
        "where": dict(sorted(where.items())),
        "tell_intents": len(intents),
        "stored": stored,
        "absent_still_pending": absent,
        "lost": lost,
        "handed_out_twice": twice,
        "asks_committed_not_returned": unreturned,
        "abandoned_after": len(left),
        "trials": len(trials),
    }


# -- a round file killed midway ------------------------------------------------------------------

#: Rows of the round file that ``round-kills`` tells (and kills).
ROUND_ROWS = 50


@dataclass(frozen=True)
class RoundSpec:
    """One ``bo-loop tell`` of a round file, run in a writer process the harness may kill."""

    url: str
    campaign: str
    file: str
    log: str
    stretch_ms: float = 0.0


def round_writer(spec: RoundSpec) -> None:
    """Run ``bo-loop tell CAMPAIGN FILE``, logging every SQL statement and commit before it goes on."""
    fd = os.open(spec.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def log(**event: Any) -> None:
        os.write(fd, (json.dumps({"t": time.time(), **event}) + "\n").encode())

    try:
        from bo_loop.cli import cli

        _stretch_transactions(spec.stretch_ms, log)
        log(ev="tell")
        cli.main(["tell", spec.campaign, spec.file, "--storage", spec.url], standalone_mode=False)
        log(ev="told")
    except BaseException as e:
        log(ev="error", error=f"{type(e).__name__}: {e}", tb=traceback.format_exc())
        os._exit(1)
    finally:
        os.close(fd)


def _round_function() -> Any:
    import importlib

    return importlib.import_module("experiments.reliability").round_writer


def make_round(url: str, name: str, path: Path, rows: int = ROUND_ROWS) -> dict[int, float]:
    """A campaign with ``rows`` pending trials and its round file filled in; returns the values."""
    campaign = bl.Campaign.create(name, SPACE, bl.Objective("y", "maximize"), storage=url, seed=0)
    trials = campaign.ask(rows)
    values = {t.number: outcome(t.params, 0, t.number) for t in trials}
    lines = ["trial,x,z,y"] + [
        f"{t.number},{t.params['x']!r},{t.params['z']!r},{values[t.number]!r}" for t in trials
    ]
    path.write_text("\n".join(lines) + "\n")
    return values


def check_round(url: str, name: str, values: dict[int, float]) -> list[str]:
    """Every row of the round told with its value, or none; nothing half-written."""
    campaign = bl.Campaign.load(name, storage=url)
    trials = campaign.trials()
    states = Counter(t.state.name for t in trials)
    problems = [f"{name}: verify: {p}" for p in campaign.verify()]
    if states == Counter({"PENDING": len(values)}):
        return problems
    wrong = [t.number for t in trials if t.value != values.get(t.number)]
    if states != Counter({"COMPLETED": len(values)}) or wrong:
        problems.append(
            f"{name}: the round is half-recorded: {dict(states)}, trials with another value "
            f"than the file's: {wrong[:10]}"
        )
    return problems


def _round_where(events: list[dict[str, Any]]) -> str:
    """Where a killed ``tell`` was: before, inside or at the commit of the round's transaction."""
    last_commit = max((i for i, e in enumerate(events) if e["ev"] == "commit"), default=-1)
    after = [e.get("s") for e in events[last_commit + 1 :] if e["ev"] == "sql"]
    if any(s in ("UPDATE", "INSERT") for s in after):
        return "inside the round's transaction"
    before = [e.get("s") for e in events[: max(last_commit, 0)] if e["ev"] == "sql"]
    if last_commit >= 0 and any(s in ("UPDATE", "INSERT") for s in before):
        return "at the round's commit"
    return "before the round's transaction"


def run_round_kills(
    url: str,
    workdir: Path,
    *,
    kills: int = 12,
    rows: int = ROUND_ROWS,
    seed: int = 0,
    stretch_ms: float = 5.0,
) -> dict[str, Any]:
    """``bo-loop tell`` a round file of ``rows`` rows and SIGKILL it at chosen moments.

    A first, unkilled run logs the command's statements; each later run gets a campaign and file
    of its own and is killed right after one of those statements (most of them inside the round's
    transaction, chosen at random), or as it commits. Every campaign must then hold all of its
    round or none of it, and telling the same file again must record it.
    """
    from bo_loop.cli import cli

    ctx = _context()
    rng = random.Random(seed)
    problems: list[str] = []
    where: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()

    def life(i: int, stop: Any) -> tuple[list[dict[str, Any]], int | None, dict[int, float]]:
        name, path = f"round-{i}", workdir / f"round-{i}.csv"
        values = make_round(url, name, path, rows)
        log = workdir / f"round-{i}.jsonl"
        proc = ctx.Process(
            target=_round_function(), args=(RoundSpec(url, name, str(path), str(log), stretch_ms),)
        )
        proc.start()
        deadline = time.monotonic() + 300
        while proc.exitcode is None and time.monotonic() < deadline:
            if stop is not None and stop(read_log(log)):
                proc.kill()
                break
            time.sleep(0.001)
        proc.join(timeout=max(1.0, deadline - time.monotonic()))
        if proc.exitcode is None:
            proc.kill()
            proc.join()
        return read_log(log), proc.exitcode, values

    reference, code, values = life(0, None)
    problems += check_round(url, "round-0", values)
    if code != 0 or not any(e["ev"] == "told" for e in reference):
        problems.append(f"the unkilled tell ended with exit code {code}: {reference[-1:]}")
    statements = [i for i, e in enumerate(reference) if e["ev"] == "sql"]
    writes = [i for i in statements if reference[i]["s"] in ("UPDATE", "INSERT")]
    first = statements.index(writes[0]) if writes else 0
    # Kill right after the j-th statement: mostly inside the round's transaction (from the one
    # before its first write to its last statement), a few earlier; and as the round commits.
    inside = list(range(max(first - 1, 1), len(statements) + 1))
    points: list[tuple[str, int]] = [("commit", 0), ("committed", 0)]
    points += [("sql", j) for j in sorted(rng.sample(inside, min(len(inside), kills - 4)))]
    early = range(1, max(first, 2))
    points += [("sql", j) for j in sorted(rng.sample(early, min(2, len(early))))]
    commits = sum(e["ev"] == "commit" for e in reference)

    def stop_after(kind: str, j: int) -> Any:
        if kind == "commit":  # the round's commit is the command's last one
            return lambda events: sum(e["ev"] == "commit" for e in events) >= commits
        if kind == "committed":  # a moment after it: the rows are in, the command not yet done
            return lambda events: (
                sum(e["ev"] == "commit" for e in events) >= commits
                and time.time() > events[-1]["t"] + 0.05
            )
        return lambda events: sum(e["ev"] == "sql" for e in events) >= j

    killed = 0
    for i, (kind, j) in enumerate(points, start=1):
        events, code, values = life(i, stop_after(kind, j))
        name = f"round-{i}"
        for e in events:
            if e["ev"] == "error":
                problems.append(f"{name} failed: {e['error']}")
        if code == -9:
            killed += 1
            where[_round_where(events)] += 1
        elif code != 0:
            problems.append(f"{name} ended with exit code {code}")
        state = Counter(t.state.name for t in bl.Campaign.load(name, storage=url).trials())
        outcomes["all" if state.get("COMPLETED") == rows else "none"] += 1
        problems += check_round(url, name, values)
        # The technician runs the same command again: the round goes in (or is already in).
        cli.main(
            ["tell", name, str(workdir / f"{name}.csv"), "--storage", url], standalone_mode=False
        )
        again = bl.Campaign.load(name, storage=url)
        if [t.value for t in again.trials()] != [values[n] for n in range(rows)]:
            problems.append(f"{name}: telling the file again did not record it")
        problems += [f"{name} after telling again: {p}" for p in again.verify()]
    return {
        "problems": problems,
        "backend": _backend(url),
        "rows": rows,
        "lives": len(points),
        "kills": killed,
        "where": dict(sorted(where.items())),
        "all_recorded": outcomes["all"],
        "none_recorded": outcomes["none"],
        "statements_per_tell": len(statements),
    }


# -- storage for one run ------------------------------------------------------------------------


def _backend(url: str) -> str:
    return "PostgreSQL" if url.startswith("postgresql") else "SQLite"


@contextlib.contextmanager
def fresh_storage(kind: str, workdir: Path, postgres: str | None) -> Iterator[str]:
    """A new SQLite file, or a new database on the PostgreSQL server of ``postgres``."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'campaign.db'}"
        return
    import sqlalchemy as sa

    assert postgres is not None
    base = sa.make_url(postgres)
    name = f"bo_loop_rel_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# -- bad inputs ---------------------------------------------------------------------------------


def run_bad_inputs(postgres: str | None) -> dict[str, Any]:
    """Run the bad-input matrix (tests/test_bad_input.py) and count its cases."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "test_bad_input.py"),
             f"--junitxml={report}"],
            cwd=ROOT, capture_output=True, text=True, check=False,
            env={**os.environ, **({POSTGRES_ENV: postgres} if postgres else {})},
        )  # fmt: skip
        text = report.read_text() if report.exists() else ""
    import xml.etree.ElementTree as ET

    cases = ET.fromstring(text).iter("testcase") if text else iter(())
    counts: Counter[str] = Counter()
    for case in cases:
        name = case.get("name", "")
        if not name.startswith("test_bad_input_is_refused"):
            continue
        outcome_ = (
            "failed"
            if case.find("failure") is not None or case.find("error") is not None
            else ("skipped" if case.find("skipped") is not None else "passed")
        )
        backend = "PostgreSQL" if "postgresql" in name else "SQLite"
        counts[f"{backend} ({outcome_})"] += 1
    return {"returncode": done.returncode, "counts": dict(counts), "tail": done.stdout[-2000:]}


# -- the report ---------------------------------------------------------------------------------


def _command() -> str:
    """The command that reproduces the report (scratch folders and output paths left out)."""
    skip = {"--workdir", "--out", "--json"}
    argv = sys.argv[1:]
    kept = [a for i, a in enumerate(argv) if a not in skip and (i == 0 or argv[i - 1] not in skip)]
    return " ".join(["python -m experiments.reliability", *kept])


def _report(runs: dict[str, Any], args: argparse.Namespace, wall: float) -> str:
    lines = [
        "# Reliability figures (issue 7)",
        "",
        f"Written by `{_command()}` on {datetime.now().date()}; {os.cpu_count()} CPU cores, "
        f"shared with other jobs; acquisition effort `{args.effort}`; {wall / 60:.1f} min in all.",
        "",
        "## Concurrent writers: ask(1) then tell, one campaign",
        "",
        "| backend | writers x rounds | trials (0..n-1) | observations = told | handed out twice | lost | "
        "identical pending | lock retries | GP asks | ask s incl. lock wait, median / max | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs["concurrency"]:
        identical = sum("pending at once" in p for p in r["problems"])
        lines.append(
            f"| {r['backend']} | {r['writers']} x {r['rounds']} | {r['trials']} | {r['observations']} | "
            f"{r['handed_out_twice']} | {r['lost']} | {identical} | {r['retries']} | {r['model_asks']} | "
            f"{r['ask_s_median']} / {r['ask_s_max']} | {r['wall_s']} |"
        )
    lines += [
        "",
        "## Writers killed with SIGKILL",
        "",
        "| backend | kills | told values stored | told values absent (trial still pending) | lost | "
        "handed out twice | half-written trials | continued after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs["kills"]:
        half = sum("verify" in p for p in r["problems"])
        lines.append(
            f"| {r['backend']} | {r['kills']} | {r['stored']} | {r['absent_still_pending']} | {r['lost']} | "
            f"{r['handed_out_twice']} | {half} | {'yes' if not r['problems'] else 'NO'} |"
        )
    lines += ["", "Where the kills landed:", ""]
    for r in runs["kills"]:
        spots = ", ".join(f"{k}: {v}" for k, v in r["where"].items())
        lines.append(f"- {r['backend']}: {spots}")
    if runs.get("bad_inputs"):
        b = runs["bad_inputs"]["counts"]
        tried = ", ".join(f"{n} on {k}" for k, n in sorted(b.items()) if "skipped" not in k)
        lines += [
            "",
            "## Bad inputs",
            "",
            "The matrix of tests/test_bad_input.py (create, ask, tell, import, load): each case must "
            "raise the named BoLoopError subclass with the rule and value in its message, and every "
            f"stored row must be unchanged afterwards. Cases: {tried} (the 10 cases that open a "
            "storage of their own run once, on the SQLite leg).",
        ]
    problems = [p for group in ("concurrency", "kills") for r in runs[group] for p in r["problems"]]
    lines += ["", "## Problems", ""]
    lines += [f"- {p.splitlines()[0]}" for p in problems] or ["None."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    smoke = os.environ.get("SMOKE_TEST") == "1"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command", nargs="?", default="all", choices=["all", "concurrency", "kills", "round-kills"]
    )
    parser.add_argument("--storage", help="one storage URL (for concurrency/kills)")
    parser.add_argument(
        "--postgres", default=os.environ.get(POSTGRES_ENV), help="server database URL"
    )
    parser.add_argument("--writers", type=int, default=4 if smoke else 8)
    parser.add_argument("--rounds", type=int, default=3 if smoke else 50)
    parser.add_argument("--kills", type=int, default=5 if smoke else 30, help="per backend")
    parser.add_argument("--kill-writers", type=int, default=3)
    parser.add_argument("--effort", choices=["cheap", "default"], default="cheap")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", type=Path, help="write the result as JSON here")
    parser.add_argument("--out", type=Path, default=None, help=f"report path (default {RESULTS})")
    parser.add_argument("--no-bad-inputs", action="store_true")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bo_loop_rel_"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.command != "all":
        if not args.storage:
            parser.error(f"{args.command} needs --storage")
        if args.command == "concurrency":
            result = run_concurrency(
                args.storage, workdir, writers=args.writers, rounds=args.rounds, effort=args.effort
            )
        elif args.command == "round-kills":
            result = run_round_kills(args.storage, workdir, kills=args.kills, seed=args.seed)
        else:
            result = run_kills(
                args.storage,
                workdir,
                kills=args.kills,
                writers=args.kill_writers,
                effort=args.effort,
                seed=args.seed,
            )
        text = json.dumps(result, indent=1)
        if args.json:
            args.json.write_text(text)
        print(json.dumps({k: v for k, v in result.items() if k != "told"}, indent=1))
        return 0 if not result["problems"] else 1
    kinds = ["sqlite"] + (["postgresql"] if args.postgres else [])
    if not args.postgres:
        print(f"PostgreSQL skipped: set {POSTGRES_ENV} or --postgres", file=sys.stderr)
    began = time.monotonic()
    runs: dict[str, Any] = {"concurrency": [], "kills": []}
    for kind in kinds:
        for group, run in (("concurrency", run_concurrency), ("kills", run_kills)):
            sub = workdir / f"{group}-{kind}"
            sub.mkdir(exist_ok=True)
            with fresh_storage(kind, sub, args.postgres) as url:
                if group == "concurrency":
                    result = run(
                        url, sub, writers=args.writers, rounds=args.rounds, effort=args.effort
                    )
                else:
                    result = run(
                        url,
                        sub,
                        kills=args.kills,
                        writers=args.kill_writers,
                        effort=args.effort,
                        seed=args.seed,
                    )
            result.pop("told", None)
            runs[group].append(result)
            print(json.dumps(result), flush=True)
    if not args.no_bad_inputs and not smoke:
        runs["bad_inputs"] = run_bad_inputs(args.postgres)
    out = args.out or RESULTS
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_report(runs, args, time.monotonic() - began))
    print(f"wrote {out}")
    failed = any(r["problems"] for group in ("concurrency", "kills") for r in runs[group])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
