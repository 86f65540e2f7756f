"""The campaign config: settings checked at create, stored in full, versioned, read afresh."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import sqlalchemy as sa

import bo_loop as bl
from bo_loop.config import CONFIG_FORMAT, RESERVED_NAMES, CampaignConfig
from bo_loop.exceptions import ConfigFormatError, SettingsError
from bo_loop.models.acquisition import DEFAULT_SETTINGS as ACQUISITION_DEFAULTS
from bo_loop.models.surrogates.gp import DEFAULT_SETTINGS as GP_DEFAULTS

SPACE = [bl.Real("x", 0.0, 1.0), bl.Integer("n", 1, 5)]


def create(url: str, **kw) -> bl.Campaign:
    return bl.Campaign.create("c", SPACE, "y", storage=url, **kw)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"surrogate": "dngo", "surrogate_settings": {"hidden": []}},
            r"Setting 'hidden' of surrogate 'dngo' must be a non-empty list of integers >= 1, but got hidden=\[\]",
        ),
        (
            {"surrogate": "dngo", "surrogate_settings": {"epochs": -1}},
            r"'epochs' of surrogate 'dngo' must be >= 1, but got epochs=-1",
        ),
        (
            {"surrogate": "dngo", "surrogate_settings": {"lr": "fast"}},
            r"'lr' of surrogate 'dngo' must be a number, but got lr='fast'",
        ),
        (
            {"surrogate": "dngo", "surrogate_settings": {"ensemble": True}},
            r"'ensemble' .* must be an integer, but got ensemble=True",
        ),
        (
            {"surrogate_settings": {"kernel": "rbf"}},
            r"'kernel' of surrogate 'gp' must be one of \['matern_gamma', 'rbf_dim_scaled'\], but got kernel='rbf'",
        ),
        (
            {"surrogate_settings": {"fit_maxiter": 0}},
            r"'fit_maxiter' of surrogate 'gp' must be >= 1, but got fit_maxiter=0",
        ),
        (
            {"surrogate_settings": {"warm_start": "yes"}},
            r"'warm_start' .* must be true or false, but got warm_start='yes'",
        ),
        (
            {"surrogate_settings": {"lengthscale_rate": float("nan")}},
            r"'lengthscale_rate' .* finite number",
        ),
        (
            {"surrogate_settings": {"category_lengthscale_rate": 0}},
            r"'category_lengthscale_rate' .* finite number in \(0.0, inf\] or null, but got "
            r"category_lengthscale_rate=0",
        ),
        (
            {"acquisition_settings": {"num_restarts": 0}},
            r"'num_restarts' of the acquisition must be in \[1, 1000\], but got num_restarts=0",
        ),
        (
            {"acquisition_settings": {"constraint_eta": 0}},
            r"'constraint_eta' of the acquisition must be .*, but got constraint_eta=0",
        ),
        (
            {"surrogate": "dngo", "surrogate_settings": {"noise_prior": "flat"}},
            r"'noise_prior' of surrogate 'dngo' must be one of .*, but got noise_prior='flat'",
        ),
        (
            {"acquisition_settings": {"restarts": 5}},
            r"Unknown setting\(s\) \['restarts'\] for the acquisition",
        ),
        (
            {"acquisition_settings": [("num_restarts", 5)]},
            r"acquisition settings must be a mapping",
        ),
    ],
)
def test_bad_settings_are_refused_at_create_and_nothing_is_stored(
    sqlite_url, options, message, stored_campaigns
):
    with pytest.raises(SettingsError, match=message):
        create(sqlite_url, **options)
    assert stored_campaigns(sqlite_url) == []


def test_every_setting_is_stored_in_full(sqlite_url):
    c = create(sqlite_url, acquisition_settings={"num_restarts": 3})
    again = bl.Campaign.load("c", storage=sqlite_url)
    assert again.surrogate_settings == GP_DEFAULTS
    assert again.config.acquisition == {**ACQUISITION_DEFAULTS, "num_restarts": 3}
    assert c.config.to_json()["format"] == CONFIG_FORMAT


def test_campaigns_with_several_objectives_store_the_cheaper_acquisition_defaults(sqlite_url):
    from bo_loop.models.acquisition import MULTI_OBJECTIVE_DEFAULTS

    two = [bl.Objective("y"), bl.Objective("z", "minimize")]
    bl.Campaign.create("two", SPACE, objectives=two, storage=sqlite_url)
    bl.Campaign.create("mine", SPACE, objectives=two, storage=sqlite_url,
                       acquisition_settings={"mc_samples": 32})  # fmt: skip
    bl.Campaign.create("one", SPACE, objectives=[bl.Objective("y")], storage=sqlite_url)
    stored = {
        n: bl.Campaign.load(n, storage=sqlite_url).config.acquisition
        for n in ("two", "mine", "one")
    }
    assert stored["two"] == {**ACQUISITION_DEFAULTS, **MULTI_OBJECTIVE_DEFAULTS}
    # given keys win
    assert stored["mine"] == {**ACQUISITION_DEFAULTS, **MULTI_OBJECTIVE_DEFAULTS, "mc_samples": 32}
    assert stored["one"] == ACQUISITION_DEFAULTS  # one objective: unchanged


def _stored_config(url: str) -> dict:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT config FROM campaigns")).scalar_one()
    engine.dispose()
    return json.loads(raw) if isinstance(raw, str) else raw


def _store_config(url: str, config: dict) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE campaigns SET config = :c"), {"c": json.dumps(config)})
    engine.dispose()


def test_a_config_from_a_newer_bo_loop_is_refused_with_what_to_do(sqlite_url):
    create(sqlite_url)
    config = _stored_config(sqlite_url)
    _store_config(sqlite_url, {**config, "format": CONFIG_FORMAT + 1})
    bl.storage.dispose(sqlite_url)
    with pytest.raises(
        ConfigFormatError, match=rf"config format {CONFIG_FORMAT + 1}.*upgrade bo_loop"
    ):
        bl.Campaign.load("c", storage=sqlite_url)


def test_a_format_1_config_reads_with_the_settings_it_ran_with(sqlite_url):
    create(sqlite_url)
    config = _stored_config(sqlite_url)
    old = {k: v for k, v in config.items() if k != "acquisition"}
    old.update(format=1, surrogate={"name": "gp", "settings": {}})
    _store_config(sqlite_url, old)
    bl.storage.dispose(sqlite_url)
    c = bl.Campaign.load("c", storage=sqlite_url)
    # An exact GP at any size, as every GP was before `exact_max_rows`, with BoTorch's noise prior,
    # as every GP had before `noise_prior`, and one lengthscale prior for every column, as before
    # `category_lengthscale_rate`.
    assert c.surrogate_settings == {
        **GP_DEFAULTS, "exact_max_rows": None, "noise_prior": "lognormal",
        "category_lengthscale_rate": None,
    }  # fmt: skip
    # Batches by qLogNEI, as every batch was before the acquisition setting `batch`, and outcome
    # constraints smoothed over 1e-3 of the spread, as before `constraint_eta`.
    assert c.config.acquisition == {
        **ACQUISITION_DEFAULTS, "batch": "qlognei", "constraint_eta": 1e-3,
        "design_rounds": "fill", "constrained_first": "qlognei", "round_categories": "greedy",
    }  # fmt: skip
    assert CampaignConfig.from_json(old).space == c.space


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES - {"number", "state", "source"}))
def test_reserved_parameter_and_objective_names_are_refused(sqlite_url, name, stored_campaigns):
    with pytest.raises(bl.SpaceError, match=f"must not be one of .* but got name='{name}'"):
        bl.Campaign.create("c", [bl.Real(name, 0, 1)], "y", storage=sqlite_url)
    with pytest.raises(bl.ObjectiveError, match=f"must not be one of .* but got name='{name}'"):
        bl.Campaign.create("c", SPACE, name, storage=sqlite_url)
    assert stored_campaigns(sqlite_url) == []


def test_to_dataframe_columns_never_collide(sqlite_url):
    c = create(sqlite_url)
    c.add_observation({"x": 0.5, "n": 2}, 1.0)
    frame = c.to_dataframe()
    assert frame.columns.is_unique
    assert frame.loc[0, "y"] == 1.0


def test_model_calls_see_a_colleagues_set_surrogate(sqlite_url):
    mine = create(sqlite_url, initial_design_size=3)
    for t in mine.ask(4):
        mine.tell(t.number, t.params["x"] + t.params["n"])
    colleague = bl.Campaign.load("c", storage=sqlite_url)
    colleague.set_surrogate("dngo", {"ensemble": 1, "epochs": 5})
    fitted = mine.fitted_model()  # the object opened before the change
    assert fitted.surrogate == "dngo"
    assert fitted.settings["ensemble"] == 1
    assert mine.surrogate == "dngo"


def test_from_dataframe_validates_once_and_stores_in_one_transaction(sqlite_url, monkeypatch):
    frame = pd.DataFrame({"x": [0.1, 0.5, 0.9], "n": [1, 2, 3], "y": [1.0, 2.0, 3.0]})
    writes: list[bool] = []
    real_run = bl.storage.Database.run

    def counting(self, work, *, write=True):
        writes.append(write)
        return real_run(self, work, write=write)

    monkeypatch.setattr(bl.storage.Database, "run", counting)
    c = bl.Campaign.from_dataframe("hist", frame, "y", storage=sqlite_url)
    assert writes.count(True) == 1
    monkeypatch.undo()
    assert len(c.trials()) == 3


def test_from_dataframe_with_a_taken_name_stores_no_row(sqlite_url):
    create(sqlite_url)
    frame = pd.DataFrame({"x": [0.1, 0.5], "n": [1, 2], "y": [1.0, 2.0]})
    with pytest.raises(bl.CampaignExistsError):
        bl.Campaign.from_dataframe("c", frame, "y", storage=sqlite_url)
    assert bl.Campaign.load("c", storage=sqlite_url).trials() == []


def test_risk_aversion_errors_are_argument_errors(sqlite_url):
    c = create(sqlite_url)
    for bad in (-1, float("nan"), float("inf"), "high", True):
        with pytest.raises(
            bl.InvalidArgumentError, match="risk_aversion must be a finite number >= 0"
        ):
            c.recommend(risk_aversion=bad)


def test_a_format_2_config_reads_without_parameter_constraints(sqlite_url):
    create(sqlite_url)
    config = _stored_config(sqlite_url)
    assert config["format"] == CONFIG_FORMAT == 4 and config["parameter_constraints"] == []
    old = {k: v for k, v in config.items() if k != "parameter_constraints"}
    _store_config(sqlite_url, {**old, "format": 2})
    bl.storage.dispose(sqlite_url)
    campaign = bl.Campaign.load("c", storage=sqlite_url)
    assert campaign.parameter_constraints == ()
    assert len(campaign.ask(2)) == 2


def test_a_format_3_config_reads_with_one_objective_and_no_outcome_constraints(sqlite_url):
    create(sqlite_url)
    config = _stored_config(sqlite_url)
    (objective,) = config["objectives"]
    old = {k: v for k, v in config.items() if k not in ("objectives", "outcome_constraints")}
    _store_config(sqlite_url, {**old, "format": 3, "objective": objective})
    bl.storage.dispose(sqlite_url)
    campaign = bl.Campaign.load("c", storage=sqlite_url)
    assert campaign.objectives == (bl.Objective(objective["name"], objective["goal"]),)
    assert campaign.objective == campaign.objectives[0]
    assert campaign.outcome_constraints == ()
    assert campaign.outcomes == (objective["name"],)
    assert len(campaign.ask(2)) == 2


def test_a_stored_dngo_campaign_keeps_the_settings_it_ran_with(sqlite_url, monkeypatch):
    from bo_loop.models.surrogates import dngo

    create(sqlite_url, surrogate="dngo")
    config = _stored_config(sqlite_url)
    settings = config["surrogate"]["settings"]
    assert settings == dngo.DEFAULT_SETTINGS  # a new campaign stores today's defaults in full
    # A campaign stored before the settings in LEGACY existed lacks them. Whatever the defaults
    # are now (here: every LEGACY setting's default changed), it keeps what it ran with.
    old = {k: v for k, v in settings.items() if k not in dngo.LEGACY}
    _store_config(sqlite_url, {**config, "surrogate": {"name": "dngo", "settings": old}})
    bl.storage.dispose(sqlite_url)
    changed = {"prior_mean": 2.0, "head": "gp_product", "gp_head_max_n": 7}
    for key, value in changed.items():
        monkeypatch.setitem(dngo.RULES, key, (value, dngo.RULES[key][1]))
    c = bl.Campaign.load("c", storage=sqlite_url)
    assert c.surrogate_settings == {**old, **dngo.LEGACY}
    assert c.surrogate_settings["head"] == "blr"
    # A new campaign gets the (changed) defaults.
    assert (
        bl.Campaign.create(
            "new", SPACE, "y", storage=sqlite_url, surrogate="dngo"
        ).surrogate_settings["head"]
        == "gp_product"
    )


def test_a_stored_gp_campaign_keeps_its_categorical_lengthscale_prior(sqlite_url):
    from bo_loop.models.surrogates import gp

    space = [*SPACE, bl.Categorical("solvent", ["water", "ethanol", "dmso"])]
    c = bl.Campaign.create("c", space, "y", storage=sqlite_url, seed=0)
    config = _stored_config(sqlite_url)
    assert config["surrogate"]["settings"]["category_lengthscale_rate"] == 1.0
    for i, solvent in enumerate(["water", "ethanol", "dmso"] * 2):
        c.add_observation({"x": i / 6, "n": 1 + i % 5, "solvent": solvent}, float(i % 4))
    assert _one_hot_rates(c) == [6.0, 6.0, 1.0, 1.0, 1.0]
    # Stored before the setting existed: every column keeps the numeric columns' prior.
    settings = {
        k: v for k, v in config["surrogate"]["settings"].items() if k != "category_lengthscale_rate"
    }
    _store_config(sqlite_url, {**config, "surrogate": {"name": "gp", "settings": settings}})
    bl.storage.dispose(sqlite_url)
    old = bl.Campaign.load("c", storage=sqlite_url)
    assert old.surrogate_settings == {**settings, "category_lengthscale_rate": None}
    assert gp.SURROGATE.legacy["category_lengthscale_rate"] is None
    assert _one_hot_rates(old) == [6.0] * 5


def _one_hot_rates(c: bl.Campaign) -> list[float]:
    """The rates of the fitted GP's lengthscale prior, one per model column."""
    model = c.fitted_model().model
    gp_model = getattr(model, "gp", model)
    rate = gp_model.covar_module.base_kernel.lengthscale_prior.rate
    return rate.expand(gp_model.covar_module.base_kernel.lengthscale.shape[-1]).tolist()


def test_a_stored_campaign_keeps_the_acquisition_it_ran_with(sqlite_url, monkeypatch):
    from bo_loop.models import acquisition

    create(sqlite_url)
    config = _stored_config(sqlite_url)
    # Stored in full, `batch` and `constraint_eta` included.
    assert config["acquisition"] == ACQUISITION_DEFAULTS
    # A campaign stored before `batch` and `constraint_eta` existed lacks them: it keeps proposing
    # batches by qLogNEI and smoothing constraints over 1e-3 of the spread, whatever today's
    # defaults are (here changed, so that the test fails if a default leaks).
    old = {k: v for k, v in config["acquisition"].items() if k not in acquisition.LEGACY}
    _store_config(sqlite_url, {**config, "acquisition": old})
    bl.storage.dispose(sqlite_url)
    today = (
        ("batch", "qlogei"), ("constraint_eta", 0.5), ("design_rounds", "within"),
        ("constrained_first", "logcei"), ("round_categories", "matched"),
    )  # fmt: skip
    for key, default in today:
        monkeypatch.setitem(acquisition.RULES, key, (default, acquisition.RULES[key][1]))
    c = bl.Campaign.load("c", storage=sqlite_url)
    assert c.config.acquisition == {
        **old, "batch": "qlognei", "constraint_eta": 1e-3, "design_rounds": "fill",
        "constrained_first": "qlognei", "round_categories": "greedy",
    }  # fmt: skip
    assert len(c.ask(2)) == 2
    assert CampaignConfig.from_json(c.config.to_json()).acquisition == c.config.acquisition
    new = bl.Campaign.create("new", SPACE, "y", storage=sqlite_url)
    assert new.config.acquisition["batch"] == "qlogei"
    assert new.config.acquisition["constraint_eta"] == 0.5
