"""`make demo`: a real campaign on the default SQLite storage, resumed when run again.

Minimises f(x) = x·sin(x) + x·cos(2x) on [0, 10] in 30 evaluations; the true minimum is
-9.5083 at x = 4.7954. Run again and it continues the stored campaign; ``--fresh`` starts over.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import bo_loop as bl
from bo_loop.storage.database import sqlite_path

NAME = "demo-forrester"
# Polished with scipy.optimize.minimize_scalar (bounded, xatol=1e-12), as in experiments/problems.py.
TRUE_MIN, TRUE_ARGMIN = -9.508350440633095, 4.795408686585724


def f(x: float) -> float:
    return x * math.sin(x) + x * math.cos(2 * x)


def _stored(storage: str | None) -> list[str]:
    """The campaigns stored; none while the SQLite file does not exist (``list`` refuses it)."""
    path = sqlite_path(storage)
    return [] if path is not None and not os.path.exists(path) else bl.Campaign.list(storage)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bo_loop.demo", description=__doc__)
    parser.add_argument(
        "--storage", default=None, help="SQLAlchemy URL (default: sqlite:///campaigns.db)"
    )
    parser.add_argument("--evaluations", type=int, default=30, help="total budget (default 30)")
    parser.add_argument("--surrogate", default="gp", choices=["gp", "dngo"])
    parser.add_argument(
        "--fresh", action="store_true", help="delete the stored demo campaign first"
    )
    args = parser.parse_args(argv)

    if args.fresh and NAME in _stored(args.storage):
        bl.Campaign.delete(NAME, storage=args.storage)
        print(f"Deleted the stored campaign {NAME!r}; starting afresh.")
    if NAME in _stored(args.storage):
        campaign = bl.Campaign.load(NAME, storage=args.storage)
        print(f"Resuming {campaign!r}")
    else:
        campaign = bl.Campaign.create(
            NAME, [bl.Real("x", 0.0, 10.0)], bl.Objective("f", goal="minimize"),
            storage=args.storage, surrogate=args.surrogate, seed=0,
        )  # fmt: skip
        print(f"Created {campaign!r}")

    # Trials left pending by an interrupted run are measured first: nothing proposed is lost.
    for trial in campaign.trials(bl.TrialState.PENDING):
        campaign.tell(trial.number, f(trial.params["x"]))
    done = len(campaign.trials(bl.TrialState.COMPLETED))
    if done >= args.evaluations:
        print(f"The campaign already has {done} evaluations (budget {args.evaluations}).")
    while done < args.evaluations:
        started = time.perf_counter()
        (trial,) = campaign.ask(1)
        y = f(trial.params["x"])
        campaign.tell(trial.number, y)
        done += 1
        best = campaign.best()
        assert best is not None and best.value is not None
        print(
            f"round {done:2d}  x = {trial.params['x']:7.4f}  f = {y:8.4f}  "
            f"[{trial.provenance['generator']:5s}]  best so far f = {best.value:8.4f} "
            f"at x = {best.params['x']:.4f}  ({time.perf_counter() - started:.2f} s)"
        )
    best = campaign.best()
    assert best is not None and best.value is not None
    print(
        f"\nBest after {done} evaluations: f = {best.value:.4f} at x = {best.params['x']:.4f} "
        f"(true minimum {TRUE_MIN:.5f} at x = {TRUE_ARGMIN:.5f}; regret {best.value - TRUE_MIN:.1e})."
    )
    print(f"Stored in {campaign.storage}; run again to resume, with --fresh to start over.")


if __name__ == "__main__":
    main()
