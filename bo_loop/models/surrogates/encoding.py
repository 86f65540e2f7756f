"""The one map from the space's encoding to a model's input features, shared by every surrogate.

`Space.encode` turns parameter values into columns (numeric in [0, 1], a categorical as its choice
index); the acquisition optimiser searches those columns, so choices stay exact. A kernel or a
network needs more: every pair of distinct choices equally far apart (one-hot), and numeric
columns on the scale it was built for. `FeatureMap` does both, column by column in place.
"""

from __future__ import annotations

import torch
from botorch.models.transforms.input import InputTransform
from torch import Tensor, nn


class FeatureMap(InputTransform, nn.Module):
    """Numeric columns scaled affinely from their encoded bounds to ``numeric_range``; each
    categorical index column (0..k-1) expanded into k one-hot columns, in place.

    Gradients flow through numeric columns; an index column has none (it is searched discretely).
    A value between two choices counts as the nearest one.
    """

    low: Tensor
    span: Tensor

    def __init__(
        self,
        bounds: Tensor,
        cat_dims: dict[int, list[float]],
        numeric_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        """
        Args:
            bounds: The ``2 x d`` encoded bounds (``Space.bounds()``).
            cat_dims: Categorical column index -> allowed index values (``Space.cat_dims``).
            numeric_range: Where numeric columns go: ``(0, 1)`` leaves the encoding as it is
                (the GP), ``(-1, 1)`` centres it for tanh networks (DNGO).
        """
        super().__init__()
        self.transform_on_train = True
        self.transform_on_eval = True
        self.transform_on_fantasize = True
        self.d = int(bounds.shape[-1])
        self.sizes = {int(i): len(values) for i, values in cat_dims.items()}
        self.register_buffer("low", bounds[0].to(torch.float64))
        self.register_buffer("span", (bounds[1] - bounds[0]).to(torch.float64))
        self.numeric_range = (float(numeric_range[0]), float(numeric_range[1]))

    @property
    def output_dim(self) -> int:
        return self.d + sum(k - 1 for k in self.sizes.values())

    def one_hot_columns(self) -> Tensor:
        """A boolean mask of the ``output_dim`` columns: True where a column is one-hot."""
        mask = []
        for i in range(self.d):
            mask += [True] * self.sizes[i] if i in self.sizes else [False]
        return torch.tensor(mask, dtype=torch.bool)

    def transform(self, X: Tensor) -> Tensor:
        """Map a ``batch_shape x n x d`` tensor to ``batch_shape x n x output_dim``."""
        lo, hi = self.numeric_range
        unit = (lo, hi) == (0.0, 1.0)
        parts = []
        for i in range(self.d):
            k = self.sizes.get(i)
            if k is not None:
                index = X[..., i].detach().round().clamp(0, k - 1).long()
                parts.append(nn.functional.one_hot(index, k).to(X))
            elif unit:
                # The space's numeric columns are in [0, 1] already: pass them through exactly.
                parts.append(X[..., i : i + 1])
            else:
                scaled = (hi - lo) * (X[..., i : i + 1] - self.low[i]) / self.span[i] + lo
                parts.append(scaled)
        return torch.cat(parts, dim=-1)

    def equals(self, other: InputTransform) -> bool:
        return (
            isinstance(other, FeatureMap)
            and other.d == self.d
            and other.sizes == self.sizes
            and other.numeric_range == self.numeric_range
            and torch.equal(other.low, self.low)
            and torch.equal(other.span, self.span)
        )
