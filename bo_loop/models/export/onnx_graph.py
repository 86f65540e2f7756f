"""The surrogate's predictive mean and sd as an ONNX graph on the parameters' own scale.

The graph has one input, ``X``: an ``N x d`` float64 (DOUBLE) tensor with one column per
parameter in the space's order, in raw units. Real and integer columns hold the value itself;
a categorical column holds the index of the choice (0 for the first choice in
``Categorical.choices``), which the graph rounds to the nearest valid index and one-hot expands.
Its outputs ``mean`` and ``sd`` are ``N`` float64 tensors: the outcome's predicted mean and
posterior sd on its original scale and sign, what ``Campaign.predict`` returns.

The graph is written with ``onnx.helper`` rather than ``torch.onnx.export``: the model is a few
matrix products, and tracing BoTorch's posterior would drag GPyTorch's lazy tensors into it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from bo_loop.exceptions import ExportError
from bo_loop.models.export.terms import DNGOTerms, ExportTerms, GPTerms
from bo_loop.space import Categorical

#: Operator set of the graph: every operator used has had its current form since 13, and
#: onnxruntime releases of the last years all run 17.
OPSET = 17


class _Graph:
    """Collects nodes and constant initialisers, naming each value uniquely."""

    def __init__(self) -> None:
        import onnx.helper
        import onnx.numpy_helper

        self.helper = onnx.helper
        self.numpy_helper = onnx.numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.count = 0

    def _name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, value: Any, hint: str = "c") -> str:
        """A float64 constant (ints stay int64: indices, axes, shapes)."""
        array = np.asarray(value)
        array = array.astype(np.int64 if array.dtype.kind in "iu" else np.float64)
        name = self._name(hint)
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, hint: str = "", **attrs: Any) -> str:
        out = self._name(hint or op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], **attrs))
        return out


def _features(g: _Graph, terms: ExportTerms, X: str) -> str:
    """Raw parameter columns -> the surrogate's ``N x p`` feature matrix."""
    columns: dict[int, str] = {}
    units: dict[int, str] = {}
    for i, p in enumerate(terms.space.parameters):
        col = g.op("Gather", X, g.const([i]), axis=1)  # N x 1
        columns[i] = col
        if isinstance(p, Categorical):
            continue
        if p.log:
            low, high = math.log(p.low), math.log(p.high)
            col = g.op("Log", col)
        else:
            low, high = float(p.low), float(p.high)
        units[i] = g.op("Div", g.op("Sub", col, g.const(low)), g.const(high - low))
    parts: list[str] = []
    onehots: dict[int, str] = {}
    for i, j in terms.features:
        if j is None:
            u = units[i]
            parts.append(g.op("Add", g.op("Mul", u, g.const(terms.scale)), g.const(terms.shift)))
            continue
        if i not in onehots:
            k = len(terms.space.parameters[i].choices)  # type: ignore[union-attr]
            index = g.op("Clip", g.op("Round", columns[i]), g.const(0.0), g.const(k - 1.0))
            hot = g.op("Equal", index, g.const(np.arange(k, dtype=np.float64).reshape(1, k)))
            onehots[i] = g.op("Cast", hot, to=11)  # 11: DOUBLE
        parts.append(g.op("Gather", onehots[i], g.const([j]), axis=1))
    return g.op("Concat", *parts, axis=1, hint="features")


def _gp(g: _Graph, gp: GPTerms, Z: str) -> tuple[str, str]:
    """Standardised mean and variance (both ``N``) of the closed-form GP."""
    scaled = g.op("Div", Z, g.const(gp.lengthscale))  # N x p
    train = gp.train / gp.lengthscale  # n x p
    diff = g.op("Sub", g.op("Unsqueeze", scaled, g.const([1])), g.const(train[None]))
    r2 = g.op("ReduceSum", g.op("Mul", diff, diff), g.const([2]), keepdims=0)  # N x n
    # As gp_mll.matern52: the clamp keeps the square root away from 0.
    r = g.op("Sqrt", g.op("Max", r2, g.const(1e-30)))
    s5r = g.op("Mul", r, g.const(math.sqrt(5.0)))
    poly = g.op(
        "Add", g.op("Add", g.const(1.0), s5r), g.op("Div", g.op("Mul", s5r, s5r), g.const(3.0))
    )
    k = g.op("Mul", poly, g.op("Exp", g.op("Neg", s5r)))
    cross = g.op("Mul", k, g.const(gp.outputscale))  # N x n
    mean = g.op("Add", g.op("MatMul", cross, g.const(gp.alpha)), g.const(gp.constant))
    v = g.op("MatMul", cross, g.const(gp.linv.T))  # rows: (Linv @ cross^T)^T
    explained = g.op("ReduceSum", g.op("Mul", v, v), g.const([1]), keepdims=0)
    variance = g.op("Sub", g.const(gp.outputscale), explained)
    return mean, variance


def _dngo(g: _Graph, net: DNGOTerms, Z: str) -> tuple[str, str]:
    """Standardised mean and variance (both ``N``) of the DNGO mixture."""
    h = Z  # N x p, broadcast against every member's E x p x w weights
    for w, b in zip(net.weights, net.biases, strict=True):
        h = g.op("Tanh", g.op("Add", g.op("MatMul", h, g.const(w)), g.const(b[:, None, :])))
    # The basis is the last hidden layer plus a constant column; the constant's row of each
    # head's matrices enters as a bias rather than as a column of ones.
    h = g.op("Gather", h, g.const(net.head_net), axis=0)  # K x N x D-1
    m = net.head_mean
    means = g.op("Add", g.op("MatMul", h, g.const(m[:, :-1, None])), g.const(m[:, None, -1:]))
    means = g.op("Squeeze", means, g.const([2]))  # K x N
    linv_t = np.transpose(net.head_linv, (0, 2, 1))  # K x D x D
    v = g.op("Add", g.op("MatMul", h, g.const(linv_t[:, :-1, :])), g.const(linv_t[:, -1:, :]))
    variances = g.op("ReduceSum", g.op("Mul", v, v), g.const([2]), keepdims=0)  # K x N
    weight = g.const(net.head_weight[:, None])
    mean = g.op("ReduceSum", g.op("Mul", means, weight), g.const([0]), keepdims=0)
    dev = g.op("Sub", means, mean)
    spread = g.op("Add", variances, g.op("Mul", dev, dev))
    variance = g.op("ReduceSum", g.op("Mul", spread, weight), g.const([0]), keepdims=0)
    return mean, g.op("Add", variance, g.const(net.jitter))


def build_model(terms: ExportTerms) -> Any:
    """The ONNX ``ModelProto`` of the surrogate described by ``terms`` (checked by onnx)."""
    import onnx

    g = _Graph()
    d = terms.space.dim
    Z = _features(g, terms, "X")
    if isinstance(terms.model, GPTerms):
        mean_s, variance = _gp(g, terms.model, Z)
    else:
        mean_s, variance = _dngo(g, terms.model, Z)
    # Back to the outcome's scale and sign; a variance a hair below 0 is 0, as in mean_sd.
    mean_y = g.op("Add", g.op("Mul", mean_s, g.const(terms.y_std)), g.const(terms.y_mean))
    g.nodes.append(g.helper.make_node("Mul", [mean_y, g.const(terms.sign)], ["mean"]))
    sd_s = g.op("Sqrt", g.op("Max", variance, g.const(0.0)))
    g.nodes.append(g.helper.make_node("Mul", [sd_s, g.const(terms.y_std)], ["sd"]))
    double = onnx.TensorProto.DOUBLE
    graph = g.helper.make_graph(
        g.nodes, "bo_loop_surrogate",
        [g.helper.make_tensor_value_info("X", double, ["N", d])],
        [g.helper.make_tensor_value_info("mean", double, ["N"]),
         g.helper.make_tensor_value_info("sd", double, ["N"])],
        initializer=g.initializers,
    )  # fmt: skip
    model = g.helper.make_model(
        graph, opset_imports=[g.helper.make_opsetid("", OPSET)], producer_name="bo_loop"
    )
    model.doc_string = describe(terms)
    onnx.checker.check_model(model, full_check=True)
    return model


def describe(terms: ExportTerms) -> str:
    """The graph's doc string: what each input column holds."""
    lines = ["Input X: N x d float64, one column per parameter, in raw units:"]
    for i, p in enumerate(terms.space.parameters):
        if isinstance(p, Categorical):
            lines.append(
                f"  {i}: {p.name} - choice index 0..{len(p.choices) - 1} of {list(p.choices)!r}"
            )
        else:
            kind = "log-scale " if p.log else ""
            lines.append(
                f"  {i}: {p.name} - {kind}{type(p).__name__.lower()} in [{p.low}, {p.high}]"
            )
    lines.append(
        "Outputs mean, sd: N float64, the outcome's predicted mean and sd (original scale)."
    )
    return "\n".join(lines)


def save(terms: ExportTerms, path: str | os.PathLike[str]) -> Any:
    """Write the graph of ``terms`` to ``path``; returns the ``ModelProto``."""
    import onnx

    model = build_model(terms)
    onnx.save(model, os.fspath(path))
    return model


def input_matrix(terms: ExportTerms, rows: Sequence[dict[str, Any]]) -> np.ndarray:
    """The graph's ``N x d`` input for validated parameter dicts (categoricals as indices)."""
    X = np.empty((len(rows), terms.space.dim), dtype=np.float64)
    for r, row in enumerate(rows):
        for c, p in enumerate(terms.space.parameters):
            value = row[p.name]
            X[r, c] = p.index(value) if isinstance(p, Categorical) else float(value)
    return X


def require_onnx() -> None:
    """Raise a clear error when the optional ``onnx`` package is missing."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ExportError(
            "ONNX export needs the optional package onnx: pip install 'bo_loop[aml]'."
        ) from None
