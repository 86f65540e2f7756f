"""Taking a fitted surrogate out of bo_loop: an ONNX graph, or a Pyomo block to optimise over.

Both need the optional extra ``aml`` (``pip install 'bo_loop[aml]'``): onnx and onnxruntime,
Pyomo and the SCIP solver (PySCIPOpt's wheels ship it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bo_loop.models.export.terms import ExportTerms, export_terms

if TYPE_CHECKING:
    from bo_loop.models.fitting import FittedModel


def to_onnx(fitted: FittedModel, path: str | os.PathLike[str]) -> Any:
    """Write the surrogate's predictive mean and sd as an ONNX graph.

    The graph's input ``X`` is ``N x d`` float64, one column per parameter in the space's order
    and in raw units (categoricals as the index of the choice); its outputs ``mean`` and ``sd``
    are what ``Campaign.predict`` returns. See `onnx_graph` for the details.

    Args:
        fitted: A fitted GP (kernel "matern_gamma", closed-form posterior) or DNGO.
        path: Where to write the ``.onnx`` file.

    Returns:
        The ``onnx.ModelProto`` written.

    Raises:
        ExportError: the surrogate cannot be exported (`terms.export_terms`), or onnx is missing.
    """
    from bo_loop.models.export import onnx_graph

    onnx_graph.require_onnx()
    return onnx_graph.save(export_terms(fitted), path)


def to_pyomo(fitted: FittedModel, *, sd: bool = False, block: Any = None) -> Any:
    """The surrogate as a Pyomo block: parameters as variables, the prediction as expressions.

    See `pyomo_block.build` for the components. SCIP (the ``aml`` extra) proves the optimum of
    the GP on tens of points and of a DNGO with one hidden layer in seconds; through two tanh
    layers its relaxation is too weak, and enumerating the integer values is faster (README,
    ``experiments/aml_solve.py``).

    Args:
        fitted: A fitted GP (kernel "matern_gamma", closed-form posterior) or DNGO.
        sd: Also build ``block.sd``, the posterior sd (larger: a quadratic form over the
            training points for the GP).
        block: A Pyomo block to fill; default a new ``ConcreteModel``.

    Raises:
        ExportError: the surrogate cannot be exported, or Pyomo is missing.
    """
    from bo_loop.models.export import pyomo_block

    pyomo_block.require_pyomo()
    return pyomo_block.build(export_terms(fitted), sd=sd, block=block)


def warm_start(block: Any, params: Mapping[str, Any]) -> None:
    """Set every variable of a `to_pyomo` block from a parameter dict (`pyomo_block.warm_start`)."""
    from bo_loop.models.export import pyomo_block

    pyomo_block.warm_start(block, params)


def read_params(block: Any) -> dict[str, Any]:
    """The parameter dict of a solved `to_pyomo` block (`pyomo_block.read_params`)."""
    from bo_loop.models.export import pyomo_block

    return pyomo_block.read_params(block)


__all__ = ["ExportTerms", "export_terms", "read_params", "to_onnx", "to_pyomo", "warm_start"]
