from __future__ import annotations

import bo_loop as bl
from bo_loop.display import campaign_html, trial_html


def test_campaign_html_shows_space_counts_and_best(sqlite_url):
    campaign = bl.Campaign.create(
        "rig <1>",
        [
            bl.Real("temperature", 20.0, 120.0),
            bl.Integer("pressure", 1, 10),
            bl.Categorical("catalyst", ["A", "<b>B</b>"]),
            bl.Real("flow", 0.1, 10.0, log=True),
        ],
        bl.Objective("yield", goal="maximize"),
        storage=sqlite_url,
    )
    html = campaign._repr_html_()
    assert "no completed trial yet" in html
    trials = campaign.ask(4)
    campaign.tell(trials[0].number, 3.0)
    campaign.tell(trials[1].number, 7.5)
    campaign.fail(trials[2].number, reason="rig <jammed>")
    html = campaign_html(campaign)
    assert html == campaign._repr_html_()
    assert "Campaign rig &lt;1&gt;" in html and "maximize" in html
    # User text is escaped, never markup.
    assert "&lt;b&gt;B&lt;/b&gt;" in html and "<b>B</b>" not in html
    assert "0.1 … 10 (log scale)" in html and "1 … 10" in html and "A, &lt;b&gt;B" in html
    for state, count in (
        ("pending", 1),
        ("completed", 2),
        ("failed", 1),
        ("abandoned", 0),
        ("total", 4),
    ):
        assert f"<td {_cell()}>{state}</td><td {_cell()}>{count}</td>" in html
    assert f"Best so far: <b>7.5</b> at trial {trials[1].number}" in html


def _cell() -> str:
    return 'style="text-align:left;padding:2px 10px 2px 0"'


def test_trial_html(sqlite_url):
    campaign = bl.Campaign.create(
        "t", [bl.Real("x", 0.0, 1.0)], "y", storage=sqlite_url, initial_design_size=2
    )
    for t in campaign.ask(2):
        campaign.tell(t.number, t.params["x"] ** 2)
    (proposal,) = campaign.ask()
    html = proposal._repr_html_()
    assert html == trial_html(proposal)
    assert f"<b>Trial {proposal.number}</b> · pending" in html and "outcome <b>—</b>" in html
    assert "predicted" in html and "from gp" in html
    failed = campaign.fail(proposal.number, reason="<oops>")
    assert "failed — &lt;oops&gt;" in failed._repr_html_()
    done = campaign.trials()[0]
    assert (
        f"outcome <b>{done.value:.6g}</b>" in done._repr_html_()
        and "from sobol" in done._repr_html_()
    )


def test_a_retracted_trial_is_labelled_so(sqlite_url):
    campaign = bl.Campaign.create("rig", [bl.Real("x", 0.0, 1.0)], "y", storage=sqlite_url)
    (trial,) = campaign.ask(1)
    campaign.tell(trial.number, 1.0)
    retracted = campaign.retract(trial.number, reason="sensor drift")
    assert retracted.label == "retracted"
    assert "· retracted" in retracted._repr_html_()
