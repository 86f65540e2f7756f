"""Write the small database of one schema revision that tests/migrations upgrades.

Run it with the bo_loop of that revision, once, when the revision is made; commit what it writes:

    git worktree add /tmp/bo_loop_0001 <a commit at revision 0001>
    PYTHONPATH=/tmp/bo_loop_0001 .venv/bin/python tests/migrations/make_data.py 0001
    .venv/bin/python tests/migrations/make_data.py 0002      # the current revision

It uses only the public API of that time, so the file holds exactly what that bo_loop wrote, and
a JSON file next to it records what the campaigns held (compared after every upgrade).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import bo_loop as bl

DATA = Path(__file__).parent / "data"

#: Campaign name -> its parameters; the second checks that odd names survive upgrades.
CAMPAIGNS = {
    "rig-yield": [
        bl.Real("temperature", 20.0, 120.0),
        bl.Integer("pressure", 1, 10),
        bl.Categorical("catalyst", ["A", "B", "C"]),
        bl.Real("flow", 0.1, 10.0, log=True),
    ],
    "Ausbeute; 'DROP TABLE trials' – ü": [bl.Real('x"; --', 0.0, 1.0)],
}

#: A point measured without being asked, per campaign (stored with source "manual").
MANUAL = {
    "rig-yield": {"temperature": 50.0, "pressure": 3, "catalyst": "B", "flow": 1.0},
    "Ausbeute; 'DROP TABLE trials' – ü": {'x"; --': 0.5},
}


def measure(params: dict) -> float:
    """A deterministic outcome with a full 53-bit mantissa, to show values are stored exactly."""
    numbers = [float(v) if not isinstance(v, str) else float(ord(v)) for v in params.values()]
    return sum(math.sin(1.0 + i) * v for i, v in enumerate(numbers)) / 3.0


def snapshot(campaign: bl.Campaign) -> list[dict]:
    """What a campaign holds, as JSON-able records; floats keep every bit (json uses repr)."""
    return [
        {
            "number": t.number,
            "state": t.state.value,
            "params": t.params,
            "value": t.value,
            "source": t.source,
            "reason": t.reason,
            "provenance": t.provenance,
            "created_at": t.created_at.isoformat() if t.created_at else None,
            "finished_at": t.finished_at.isoformat() if t.finished_at else None,
            **({"values": t.values} if hasattr(t, "values") else {}),
        }
        for t in campaign.trials()
    ]


def plain(row: dict) -> dict:
    """A history row as JSON: timestamps as ISO text, missing numbers (NaN) as null."""
    out = {}
    for key, value in row.items():
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif isinstance(value, float) and math.isnan(value):
            value = None
        out[key] = value
    return out


def build(revision: str) -> None:
    path = DATA / f"{revision}.db"
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    for name, parameters in CAMPAIGNS.items():
        # Sobol proposals only: the file must not depend on model fitting.
        campaign = bl.Campaign.create(
            name, parameters, bl.Objective("yield", goal="maximize"), storage=url, seed=7,
            initial_design_size=1000,
        )  # fmt: skip
        trials = campaign.ask(6)
        for t in trials[:3]:
            campaign.tell(t.number, measure(t.params))
        campaign.fail(trials[3].number, reason="rig jammed")
        campaign.abandon(trials[4].number, reason="no time")
        # trials[5] stays pending
        campaign.add_observation(MANUAL[name], 1.25)
        if revision >= "0002":
            campaign.correct(trials[0].number, 42.5, reason="transcription error")
            campaign.retract(trials[1].number, reason="sensor drift")
    names = list(CAMPAIGNS)
    if revision >= "0003":
        build_multi_outcome(url)
        names.append(MULTI)
    expected = {}
    for name in names:
        campaign = bl.Campaign.load(name, storage=url)
        history = None
        if hasattr(campaign, "history"):  # revision 0002 and later
            history = [plain(row) for row in campaign.history().to_dict("records")]
        expected[name] = {"trials": snapshot(campaign), "history": history}
    (DATA / f"{revision}.json").write_text(
        json.dumps(expected, indent=1, ensure_ascii=False) + "\n"
    )
    print(f"wrote {path} and {revision}.json with bo_loop from {bl.__file__}")


#: From revision 0003: a campaign with two objectives and a constraint-only outcome.
MULTI = "rig-multi"


def build_multi_outcome(url: str) -> None:
    """Two objectives, one outcome constraint; trials completed, told in part, corrected,
    retracted, failed with a partial value, and a manual row still waiting for an outcome."""
    campaign = bl.Campaign.create(
        MULTI, [bl.Real("temperature", 20.0, 120.0), bl.Integer("pressure", 1, 10)],
        objectives=[bl.Objective("yield", "maximize", bounds=(0, 100)),
                    bl.Objective("cost", "minimize")],
        outcome_constraints=[bl.OutcomeConstraint("purity", ">=", 95.0)],
        storage=url, seed=7, initial_design_size=1000,
    )  # fmt: skip
    trials = campaign.ask(5)
    for t in trials[:3]:
        v = measure(t.params)
        campaign.tell(t.number, {"yield": 50 + v % 40, "cost": 1.0 + v % 3, "purity": 96.0})
    campaign.tell(trials[3].number, {"yield": 77.0})
    campaign.tell(trials[4].number, {"cost": 2.5})
    campaign.fail(trials[4].number, reason="rig jammed")
    campaign.correct(trials[0].number, {"purity": 94.0}, reason="re-analysed")
    campaign.retract(trials[1].number, reason="sensor drift")
    campaign.add_observation({"temperature": 50.0, "pressure": 3}, {"yield": 60.0, "cost": 2.0})


if __name__ == "__main__":
    build(sys.argv[1])
