"""DNGO's networks: an ensemble of tanh networks held as batched weights, trained with Adam on MSE,
and the quadratic prior mean (`bowl`) its Bayesian-linear-regression heads can fit around.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from bo_loop.models.surrogates.encoding import FeatureMap


class Ensemble(nn.Module):
    """``E`` tanh networks ``in_dim -> hidden... -> 1`` held as batched weights.

    Adam is elementwise and the members' parameters are disjoint, so training the sum of their
    losses is exactly training each alone, without ``E`` times the Python overhead that dominates
    a step on small data.
    """

    def __init__(self, in_dim: int, hidden: list[int], seeds: list[int], init_scale: float) -> None:
        super().__init__()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        f64 = torch.float64
        for layer, width in enumerate([*hidden, 1]):
            # nn.Linear's initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), widened by
            # init_scale in the first layer (see the module docstring for why).
            bound = (init_scale if layer == 0 else 1.0) / math.sqrt(in_dim)
            w = torch.stack([torch.rand(in_dim, width, generator=g, dtype=f64) for g in gens])
            b = torch.stack([torch.rand(1, width, generator=g, dtype=f64) for g in gens])
            self.weights.append(nn.Parameter((2 * w - 1) * bound))
            self.biases.append(nn.Parameter((2 * b - 1) * bound))
            in_dim = width

    @property
    def size(self) -> int:
        """The number of members ``E``."""
        return self.weights[0].shape[0]

    def _hidden(self, h: Tensor) -> Tensor:
        """The hidden layers on an ``E x batch_shape x n x in_dim`` (or broadcastable) input."""
        lead = [1] * (h.dim() - 3)
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            w_ = w.view(self.size, *lead, *w.shape[1:])
            b_ = b.view(self.size, *lead, *b.shape[1:])
            h = torch.tanh(h @ w_ + b_)
        return h

    def basis(self, z: Tensor) -> Tensor:
        """The last hidden layer of every member plus a constant column.

        Args:
            z: A ``batch_shape x n x in_dim`` input shared by all members.

        Returns:
            An ``E x batch_shape x n x (hidden[-1] + 1)`` tensor.
        """
        h = self._hidden(z.unsqueeze(0))
        return torch.cat([h, torch.ones_like(h[..., :1])], -1)

    def forward(self, z: Tensor) -> Tensor:
        """The members' outputs, ``E x n``, for an ``E x n x in_dim`` input (a slice each)."""
        return (self._hidden(z) @ self.weights[-1] + self.biases[-1]).squeeze(-1)


def bowl(encoder: FeatureMap, z: Tensor, depth: float) -> Tensor:
    """The quadratic prior mean ``-depth * mean_j(z_j^2)`` over the numeric network inputs.

    0 at the centre of the box, ``-depth`` at its corners (Snoek et al. 2015 use such a bowl to
    keep the optimiser off the boundaries); categorical one-hot columns do not enter.
    """
    numeric = numeric_columns(encoder)
    if not numeric:
        return torch.zeros(z.shape[:-1], dtype=z.dtype, device=z.device)
    return -depth * z[..., numeric].pow(2).mean(-1)


def numeric_columns(encoder: FeatureMap) -> list[int]:
    """Positions of the numeric columns among the network inputs (after one-hot expansion)."""
    out, position = [], 0
    for i in range(encoder.d):
        k = encoder.sizes.get(i)
        if k is None:
            out.append(position)
        position += k or 1
    return out


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread, then restore the caller's setting.

    A training step of a 50-wide network is microseconds of arithmetic per op; with two threads
    the synchronisation costs more than it saves (on a busy 2-core machine a 30-point fit took
    27 s on two threads and 3 s on one).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def num_steps(n: int, epochs: int, batch_size: int, max_steps: int) -> int:
    """Adam steps for a network that trains on ``n`` points.

    ``epochs`` passes of ``ceil(n / batch_size)`` steps each, capped at ``max_steps``: each step
    costs ``O(min(n, batch_size))``, so the fit grows with ``n`` until the cap and not after.
    """
    return min(max_steps, epochs * math.ceil(n / batch_size))


def train_ensemble(
    z: Tensor,
    y: Tensor,
    *,
    hidden: list[int],
    seeds: list[int],
    subsample: float,
    init_scale: float,
    epochs: int,
    max_steps: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
) -> Ensemble:
    """Train one network per seed with Adam on MSE; no global random state is used or changed.

    Args:
        z: ``n x in_dim`` float64 network inputs.
        y: ``n`` standardised targets.

    Returns:
        The trained ensemble in eval mode, without gradients.
    """
    n = z.shape[0]
    net = Ensemble(z.shape[-1], hidden, seeds, init_scale)
    # A second stream per member for its subsample and mini-batches.
    gens = [torch.Generator().manual_seed(s + 1) for s in seeds]
    k = max(1, min(n, round(subsample * n)))
    keep = torch.stack([torch.randperm(n, generator=g)[:k] for g in gens])  # E x k
    zk, yk = z[keep], y[keep]  # E x k x in_dim, E x k
    zb, yb = zk, yk
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    with _one_thread():
        for _ in range(num_steps(k, epochs, batch_size, max_steps)):
            if k > batch_size:
                idx = torch.stack([torch.randint(k, (batch_size,), generator=g) for g in gens])
                zb = zk.gather(1, idx.unsqueeze(-1).expand(-1, -1, zk.shape[-1]))
                yb = yk.gather(1, idx)
            opt.zero_grad(set_to_none=True)
            # The sum of the members' mean losses: every member gets exactly its own gradient.
            loss = (net(zb) - yb).pow(2).mean(-1).sum()
            loss.backward()
            opt.step()
    net.eval()
    net.requires_grad_(False)
    return net
