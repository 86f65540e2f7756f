"""Where does DNGO's expected improvement send the next point, and why (issue 14, item 2)?

Each model is fitted on the first ``n`` points of bo_loop_gp's benchmark run of a problem (seeds
0-2, `experiments.dngo_variants.gp_trajectory`), LogEI is maximised exactly as a campaign's ask
does it (`bo_loop.models.acquisition`), and the proposal is described by: how many coordinates
sit on a bound, its distance to the nearest observed point (encoded units), the posterior mean
there minus the best observation and the posterior sd (both in training-outcome sds), the median
posterior sd at 500 uniform points, and the true regret of the proposed point.

    python -m experiments.dngo_probe hartmann6 30 'gp;dngo;dngo:{"ensemble": 1}'
    python -m experiments.dngo_probe hartmann6 30 --deep-kernel sum_linear   # or sum_rbf

A variant is ``surrogate`` or ``surrogate:{json settings}``. ``--deep-kernel`` fits the
experiment-only sum kernels ``Matern52(x) + linear(phi)`` / ``+ RBF(phi)`` (and the product, which
became DNGO's ``head="gp_product"``) on one DNGO network's features.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from typing import Any

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.outcome import Standardize
from gpytorch.kernels import LinearKernel, MaternKernel, RBFKernel, ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior

from bo_loop.models import fitting, surrogates
from bo_loop.models.acquisition import build_acquisition, optimize
from bo_loop.models.surrogates.dngo import DNGOModel, fit_dngo
from bo_loop.models.surrogates.dngo_kernel import NetworkFeatures
from bo_loop.models.surrogates.encoding import FeatureMap
from bo_loop.objective import Objective
from bo_loop.space import Space
from experiments.dngo_variants import gp_trajectory, space_of, uniform_points
from experiments.problems import PROBLEMS


def fit_sum_kernel(X: torch.Tensor, Y: torch.Tensor, space: Space, seed: int, kind: str) -> Model:
    """A GP with kernel ``Matern52(x) + linear(phi)`` or ``+ RBF(phi)`` on one network's basis."""
    dngo = fit_dngo(X, Y, bounds=space.bounds(), cat_dims=space.cat_dims, seed=seed, ensemble=1)
    assert isinstance(dngo, DNGOModel)
    transform = NetworkFeatures(FeatureMap(space.bounds(), space.cat_dims), dngo.encoder,
                                dngo.networks)  # fmt: skip
    p, width = transform.input_dims, int(dngo.networks.weights[-1].shape[1])
    features = list(range(p, p + width))
    base = ScaleKernel(
        MaternKernel(nu=2.5, ard_num_dims=p, active_dims=list(range(p)),
                     lengthscale_prior=GammaPrior(3.0, 6.0)),
        outputscale_prior=GammaPrior(2.0, 0.15),
    )  # fmt: skip
    on_features = (
        ScaleKernel(LinearKernel(active_dims=features))
        if kind == "sum_linear"
        else ScaleKernel(RBFKernel(active_dims=features, lengthscale_prior=GammaPrior(3.0, 0.5)))
    )
    model = SingleTaskGP(X, Y, outcome_transform=Standardize(m=1), input_transform=transform,
                         covar_module=base + on_features)  # fmt: skip
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    model.eval()
    return model


def probe(problem_name: str, n: int, variant: str, deep_kernel: str | None) -> None:
    problem = PROBLEMS[problem_name]
    space = space_of(problem)
    sign = Objective("y", problem.goal).sign
    name, _, raw = variant.partition(":")
    changes: dict[str, Any] = json.loads(raw) if raw else {}
    for seed in range(3):
        records = gp_trajectory(problem_name, seed)[:n]
        X = space.encode([r["params"] for r in records])
        Y = torch.tensor([[sign * r["observed"]] for r in records], dtype=torch.float64)
        started = time.process_time()
        if deep_kernel in ("sum_linear", "sum_rbf"):
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                model = fit_sum_kernel(X, Y, space, seed, deep_kernel)
        else:
            settings = surrogates.resolve_settings(name, changes)
            model = fitting.fit(space, X, Y, surrogate=name, settings=settings, seed=seed)
        fit_s = time.process_time() - started
        acq, _ = build_acquisition(model, X, Y, None, 1, seed)
        x = optimize(acq, space, 1)
        y_sd, best = float(Y.std()), float(Y.max())
        with torch.no_grad():
            post: Any = model.posterior(x.unsqueeze(0))
            mean, sd = float(post.mean), float(post.variance.sqrt())
            grid = space.encode(uniform_points(space, 500, seed))
            on_grid: Any = model.posterior(grid.unsqueeze(1))
            sd_uniform = float(on_grid.variance.sqrt().median())
        on_bound = int((torch.minimum(x, 1 - x) < 1e-3).sum())
        distance = float((X - x).norm(dim=1).min())
        regret = abs(problem.true_value(space.decode(x)[0]) - problem.optimum)
        label = deep_kernel or variant
        print(
            f"{label} seed {seed}: coords on a bound {on_bound}, nearest observed {distance:.3f}, "
            f"mean - best {(mean - best) / y_sd:.2f} sd, sd {sd / y_sd:.2f}, median sd uniform "
            f"{sd_uniform / y_sd:.2f}, regret of the proposal {regret:.3g}, fit CPU {fit_s:.2f} s",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", choices=sorted(PROBLEMS))
    parser.add_argument("n", type=int, help="training points (the first n of the GP's run)")
    parser.add_argument("variants", nargs="?", default="gp;dngo", help="';'-separated")
    parser.add_argument("--deep-kernel", choices=["sum_linear", "sum_rbf"])
    opts = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    if opts.deep_kernel:
        probe(opts.problem, opts.n, "dngo", opts.deep_kernel)
        return
    for variant in opts.variants.split(";"):
        probe(opts.problem, opts.n, variant, None)


if __name__ == "__main__":
    main()
