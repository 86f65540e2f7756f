"""The ONNX graph reproduces ``predict`` from raw parameter values; what cannot be exported is refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from export_cases import fitted_model, need, random_points

from bo_loop.exceptions import ExportError
from bo_loop.models.export import export_terms, to_onnx
from bo_loop.models.export.onnx_graph import input_matrix
from bo_loop.models.recommend import predict_rows


@pytest.mark.parametrize("surrogate", ["gp", "dngo"])
def test_onnxruntime_reproduces_predict_on_random_points(surrogate, sqlite_url, tmp_path):
    need("onnxruntime")
    import onnxruntime

    fitted = fitted_model(sqlite_url, surrogate)
    path = tmp_path / "model.onnx"
    fitted.to_onnx(path)
    points = random_points(400, 1)
    want = predict_rows(fitted, points)
    X = input_matrix(export_terms(fitted), points.to_dict("records"))
    assert X[:, 3].tolist() == points["cat"].map({"A": 0, "B": 1, "C": 2}).tolist()
    session = onnxruntime.InferenceSession(str(path))
    mean, sd = session.run(["mean", "sd"], {"X": X})
    assert np.abs(mean - want["mean"].to_numpy()).max() < 1e-6
    assert np.abs(sd - want["sd"].to_numpy()).max() < 1e-6
    assert want["sd"].min() > 0.01  # a graph that dropped the sd would not pass


def test_onnx_graph_takes_raw_units_and_says_so(sqlite_url, tmp_path):
    need("onnx")
    model = to_onnx(fitted_model(sqlite_url, "gp"), tmp_path / "gp.onnx")
    assert [i.name for i in model.graph.input] == ["X"]
    assert [o.name for o in model.graph.output] == ["mean", "sd"]
    assert "flow - log-scale real in [0.1, 10.0]" in model.doc_string
    assert "cat - choice index 0..2 of ['A', 'B', 'C']" in model.doc_string


@pytest.mark.parametrize(
    "settings, rule",
    [({"kernel": "rbf_dim_scaled"}, "kernel='rbf_dim_scaled'"),
     ({"closed_form_posterior": False}, "closed_form_posterior=False")],
)  # fmt: skip
def test_gp_without_the_closed_form_is_refused(settings, rule, sqlite_url, tmp_path):
    fitted = fitted_model(sqlite_url, "gp", settings)
    with pytest.raises(ExportError, match=rule):
        export_terms(fitted)


def test_outcomes_divided_by_a_scale_are_refused(sqlite_url):
    fitted = fitted_model(sqlite_url, "gp")
    huge = dataclasses.replace(fitted, Y=fitted.Y * 2.0**250)
    with pytest.raises(ExportError, match=r"within ±2\*\*200.*scale=.*"):
        export_terms(huge)


def test_outcomes_multiplied_by_a_scale_export_in_their_own_units(sqlite_url, tmp_path):
    need("onnxruntime")
    import onnxruntime

    fitted = fitted_model(sqlite_url, "gp")
    tiny = dataclasses.replace(fitted, Y=fitted.Y * 2.0**-40)  # the same fit, model-side
    assert tiny.scale < 1.0
    path = tmp_path / "tiny.onnx"
    tiny.to_onnx(path)
    points = random_points(50, 2)
    want = predict_rows(tiny, points)
    X = input_matrix(export_terms(tiny), points.to_dict("records"))
    mean, sd = onnxruntime.InferenceSession(str(path)).run(["mean", "sd"], {"X": X})
    assert np.abs(mean - want["mean"].to_numpy()).max() < 1e-6 * 2.0**-40
    assert np.abs(sd - want["sd"].to_numpy()).max() < 1e-6 * 2.0**-40
    assert want["sd"].min() > 0.01 * 2.0**-40
