"""`make demo` (bo_loop.demo): runs a campaign, resumes it when run again, --fresh starts over."""

from __future__ import annotations

import pytest

import bo_loop as bl
from bo_loop import demo


def test_demo_resumes_the_stored_campaign_and_fresh_starts_over(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'demo.db'}"

    demo.main(["--storage", storage, "--evaluations", "7"])
    out = capsys.readouterr().out
    assert "Created Campaign('demo-forrester'" in out
    assert out.count("\nround ") + out.startswith("round ") == 7
    first = bl.Campaign.load(demo.NAME, storage=storage).to_dataframe()
    assert list(first["number"]) == list(range(7))
    assert set(first["generator"]) == {"sobol", "gp"}

    # A second run continues the stored campaign: the first 7 trials stay as they were.
    demo.main(["--storage", storage, "--evaluations", "9"])
    out = capsys.readouterr().out
    assert "Resuming Campaign('demo-forrester'" in out
    assert "round  8" in out and "round  1 " not in out
    again = bl.Campaign.load(demo.NAME, storage=storage).to_dataframe()
    assert list(again["number"]) == list(range(9))
    assert again.iloc[:7]["x"].tolist() == first["x"].tolist()
    assert again.iloc[:7]["f"].tolist() == first["f"].tolist()
    assert f"regret {min(again['f']) - demo.TRUE_MIN:.1e}" in out

    # Within budget: nothing new is asked.
    demo.main(["--storage", storage, "--evaluations", "9"])
    assert "already has 9 evaluations" in capsys.readouterr().out
    assert len(bl.Campaign.load(demo.NAME, storage=storage).trials()) == 9

    demo.main(["--storage", storage, "--evaluations", "6", "--fresh"])
    out = capsys.readouterr().out
    assert "starting afresh" in out and "Created Campaign" in out
    assert len(bl.Campaign.load(demo.NAME, storage=storage).trials()) == 6


def test_demo_true_minimum_is_the_function_minimum():
    assert demo.f(demo.TRUE_ARGMIN) == pytest.approx(demo.TRUE_MIN, abs=1e-12)
    grid = [i / 10_000 for i in range(100_001)]
    assert min(demo.f(x) for x in grid) >= demo.TRUE_MIN
