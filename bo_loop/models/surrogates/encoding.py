"""Turning the space's categorical index columns into one-hot features inside a model."""

from __future__ import annotations

import torch
from botorch.models.transforms.input import InputTransform
from torch import Tensor, nn


class OneHotCategorical(InputTransform, nn.Module):
    """Expand categorical index columns (0..k-1) into k one-hot columns; numeric columns pass.

    The acquisition optimiser keeps searching over index columns (exact choices); the kernel or
    network sees one-hot features, where every pair of distinct choices is equally far apart.
    Gradients flow through numeric columns; an index column has none (it is searched discretely).
    """

    def __init__(self, d: int, cat_dims: dict[int, list[float]]) -> None:
        """
        Args:
            d: Number of columns of the encoded inputs.
            cat_dims: Categorical column index -> allowed index values (``Space.cat_dims``).
        """
        super().__init__()
        self.transform_on_train = True
        self.transform_on_eval = True
        self.transform_on_fantasize = True
        self.d = d
        self.sizes = {int(i): len(values) for i, values in cat_dims.items()}

    @property
    def output_dim(self) -> int:
        return self.d + sum(k - 1 for k in self.sizes.values())

    def transform(self, X: Tensor) -> Tensor:
        """Map a ``batch_shape x n x d`` tensor to ``batch_shape x n x output_dim``."""
        parts = []
        for i in range(self.d):
            k = self.sizes.get(i)
            if k is None:
                parts.append(X[..., i : i + 1])
            else:
                index = X[..., i].detach().round().clamp(0, k - 1).long()
                parts.append(nn.functional.one_hot(index, k).to(X))
        return torch.cat(parts, dim=-1)

    def equals(self, other: InputTransform) -> bool:
        return (
            isinstance(other, OneHotCategorical) and other.d == self.d and other.sizes == self.sizes
        )
