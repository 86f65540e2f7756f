"""The initial design: a seeded, scrambled Sobol sequence that continues across asks."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch
from torch.quasirandom import SobolEngine

from bo_loop.exceptions import SpaceError
from bo_loop.models.constrained import Region
from bo_loop.space import Space, params_key
from bo_loop.trial import Trial, TrialState

#: Sobol points before the surrogate takes over: DESIGN_PER_DIM per dimension, at least MIN_DESIGN.
#: A campaign's ``initial_design_size`` overrides this rule.
MIN_DESIGN = 5
DESIGN_PER_DIM = 2


def default_design_size(space: Space, region: Region | None = None) -> int:
    """Design points before the surrogate takes over: twice the dimension, at least 5.

    Under equality constraints the dimension is the region's: each independent equality takes
    one away (three mixture components summing to one span two dimensions).
    """
    dim = space.dim
    equalities = [u for u in (region.unit if region is not None else []) if u.op == "=="]
    if equalities:
        rows = torch.zeros(len(equalities), space.dim, dtype=torch.float64)
        for r, u in enumerate(equalities):
            rows[r, list(u.indices)] = torch.tensor(u.coefficients, dtype=torch.float64)
        dim -= int(torch.linalg.matrix_rank(rows))
    return max(MIN_DESIGN, DESIGN_PER_DIM * dim)


_CHUNK = 64
#: How far past ``start`` to look for unused points before deciding a discrete space is exhausted.
_MAX_LOOKAHEAD = 4096


def sobol_points(
    space: Space, n: int, *, seed: int, start: int, taken: set[Hashable]
) -> list[tuple[torch.Tensor, int]]:
    """The next ``n`` Sobol points from index ``start`` that decode to no point in ``taken``.

    Args:
        space: The search space; points are snapped onto its integer and choice grids.
        n: How many points to return.
        seed: The scramble seed (the campaign's seed), so a campaign always gets the same sequence.
        start: The first sequence index to use: one past the last index the campaign used.
        taken: Keys (``params_key``) of points already tried; updated with the points returned.

    Returns:
        ``(x, index)`` pairs: ``x`` a ``d`` float64 tensor in the space's encoding, ``index`` its
        position in the sequence (stored in provenance so the next ask continues after it).

    Raises:
        SpaceError: a small discrete space has fewer than ``n`` untried points.
    """
    engine = SobolEngine(space.dim, scramble=True, seed=seed)
    if start:
        engine.fast_forward(start)
    out: list[tuple[torch.Tensor, int]] = []
    index = start
    while len(out) < n and index < start + _MAX_LOOKAHEAD:
        X = space.from_unit_cube(engine.draw(_CHUNK, dtype=torch.float64))
        for x, params in zip(X, space.decode(X), strict=True):
            key = params_key(params, space)
            if key not in taken:
                taken.add(key)
                out.append((x, index))
                if len(out) == n:
                    break
            index += 1
    if len(out) < n:
        raise SpaceError(
            f"The search space has no {n} untried points left near the design sequence; "
            f"found only {len(out)}. Widen the space or ask for fewer."
        )
    return out


def design_proposals(
    space: Space, trials: Sequence[Trial], n: int, *, seed: int, taken: set[Hashable]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The next ``n`` design points after those the campaign's trials used, with provenance.

    Returns:
        ``(params, provenance)`` pairs; the provenance holds the Sobol index the next ask
        continues after.
    """
    used = [int(t.provenance["sobol_index"]) for t in trials if "sobol_index" in t.provenance]
    start = max(used) + 1 if used else 0
    points = sobol_points(space, n, seed=seed, start=start, taken=taken)
    decoded = space.decode(torch.stack([x for x, _ in points]))
    return [
        (params, {"generator": "sobol", "sobol_index": index, "seed": seed})
        for params, (_, index) in zip(decoded, points, strict=True)
    ]


#: Candidates drawn per design point wanted; the most distant from the points already tried win.
_POOL_PER_POINT = 16


def region_design(
    region: Region, trials: Sequence[Trial], n: int, *, seed: int, taken: set[Hashable]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The next ``n`` design points of a constrained (or partly fixed) ask, with provenance.

    A Sobol sequence of the cube would mostly miss a polytope (a mixture's simplex is a thin
    slice of it), so points come from a seeded hit-and-run pool over the region, picked greedily
    farthest from every trial and from each other. The pool's seed depends on the campaign's seed
    and on how many such design points exist already, so a reopened campaign draws the same pool.
    """
    space = region.space
    used = [int(t.provenance["design_index"]) for t in trials if "design_index" in t.provenance]
    start = max(used) + 1 if used else 0
    pool_seed = (seed * 1_000_003 + 7919 * (start + 1)) % 2**31
    pool = region.sample(max(64, _POOL_PER_POINT * n), pool_seed)
    scale = space.bounds()[1]  # categorical columns span [0, k-1]: weigh every column alike
    tried = [t.params for t in trials if t.state is not TrialState.ABANDONED]
    seen = space.encode(tried) / scale if tried else torch.empty(0, space.dim, dtype=pool.dtype)
    out: list[tuple[dict[str, Any], dict[str, Any]]] = []
    keys = [params_key(p, space) for p in space.decode(pool)]
    chosen: list[int] = []
    for index in range(n):
        best, best_distance = -1, -1.0
        for i, key in enumerate(keys):
            if key in taken or i in chosen:
                continue
            distance = (
                float(torch.cdist((pool[i] / scale).unsqueeze(0), seen).min()) if len(seen) else 0.0
            )
            if distance > best_distance:
                best, best_distance = i, distance
        if best < 0:
            raise SpaceError(
                f"The constrained region has no {n} untried points left near the design; found "
                f"only {index}. Loosen the constraints or ask for fewer."
            )
        chosen.append(best)
        taken.add(keys[best])
        seen = torch.cat([seen, (pool[best] / scale).unsqueeze(0)])
        out.append(
            (
                space.decode(pool[best].unsqueeze(0))[0],
                {"generator": "polytope", "design_index": start + index, "seed": seed},
            )
        )
    return out
