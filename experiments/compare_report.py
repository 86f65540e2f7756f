"""Turn the harness's JSON lines into RESULTS.md and one regret-curve PNG per problem.

Everything here is computed from the stored per-evaluation records, so the report can be rebuilt
at any time (``python -m experiments.compare --report-only``) while runs are still going.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from experiments.peers import PEERS
from experiments.problems import Problem

#: Regret a method must reach to count as having found the optimum, per problem:
#: xsin 0.01 (0.1% of the function's range on [0, 10]); Branin 0.1 (a quarter of the optimum's
#: value); Hartmann6 0.1 (3% of |optimum|); mixed 0.2 (two noise sd: the right solvent and
#: cycle count, near-right concentration and temperature); yield 1.0 (pressure 9, temperature 29
#: and speed >= 2.966: the single optimum, up to the continuous speed).
TARGETS: dict[str, float] = {
    "xsin": 0.01,
    "branin": 0.1,
    "hartmann6": 0.1,
    "mixed": 0.2,
    "yield": 1.0,
}

#: The bo_loop method the issue's checks are about, and the peer whose speed it must beat 3x.
BO_LOOP = "bo_loop_gp"
AX = "ax"
#: bo_loop's methods drawn in the regret-curve figures (its variants appear in the tables only).
PLOTTED_BO_LOOP = ("bo_loop_gp", "bo_loop_dngo")


def _quantiles(values: Sequence[float]) -> tuple[float, float, float]:
    q25, q50, q75 = np.quantile(np.asarray(values, dtype=float), [0.25, 0.5, 0.75])
    return float(q25), float(q50), float(q75)


def summarize(runs: Sequence[dict[str, Any]], problem: Problem) -> dict[str, Any]:
    """Metrics of one method on one problem over its seeds.

    Returns:
        ``seeds``; ``curves`` (seeds x budget best-so-far regret); ``final`` (q25, median, q75);
        ``to_target`` (median evaluations to reach `TARGETS`, inf when most seeds never did) and
        ``reached`` (how many seeds did); ``sec_median`` (median over every iteration of every
        seed) and ``sec_mean``; ``rss`` and ``rss_growth`` (median MiB over seeds).
    """
    curves: list[list[float]] = []
    seconds: list[float] = []
    cpu: list[float] = []
    to_target: list[float] = []
    target = TARGETS.get(problem.name, 0.0)
    for run in runs:
        records = run["records"]
        curve = problem.regret_curve([r["observed"] for r in records], [r["true"] for r in records])
        curves.append(curve)
        seconds.extend(r["seconds"] for r in records)
        cpu.extend(r["cpu_seconds"] for r in records if "cpu_seconds" in r)
        hit = next((i + 1 for i, c in enumerate(curve) if c <= target), math.inf)
        to_target.append(hit)
    finals = [c[-1] for c in curves]
    loads = [x for run in runs for x in run.get("loadavg_1min", [])]
    return {
        "seeds": len(runs),
        "curves": np.asarray(curves, dtype=float),
        "final": _quantiles(finals),
        "to_target": float(np.median(to_target)),
        "reached": sum(math.isfinite(t) for t in to_target),
        "sec_median": statistics.median(seconds),
        "sec_mean": statistics.fmean(seconds),
        "cpu_median": statistics.median(cpu) if cpu else math.nan,
        "cpu_mean": (
            statistics.fmean(r["cpu_seconds"] / r["budget"] for r in runs if "cpu_seconds" in r)
            if any("cpu_seconds" in r for r in runs)
            else math.nan
        ),
        "rss": statistics.median(run["peak_rss_mib"] for run in runs),
        "rss_growth": statistics.median(run["rss_growth_mib"] for run in runs),
        "load": (min(loads), max(loads)) if loads else (math.nan, math.nan),
    }


def _method_order(methods: Sequence[str]) -> list[str]:
    """bo_loop first (and its variants), then peers in `PEERS` order, then anything else."""
    rank = {name: i for i, name in enumerate(PEERS)}
    return sorted(
        methods,
        key=lambda m: (not m.startswith("bo_loop"), rank.get(m, len(rank)), m),
    )


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 0.01:
        return f"{x:.3g}"
    return f"{x:.1e}"


def _seconds(x: float) -> str:
    return f"{x * 1000:.1f} ms" if x < 0.1 else f"{x:.2f} s"


def _maybe_seconds(x: float) -> str:
    return _seconds(x) if math.isfinite(x) else "-"


def plot_curves(summaries: dict[str, dict[str, Any]], problem: Problem, path: Path) -> None:
    """Median best-so-far regret per method with its interquartile band, log scale.

    Only the methods of the harness are drawn (bo_loop's variants are in the tables): a dozen
    overlapping bands would hide the comparison the figure is for.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    floor = 1e-6  # log axis: exact optima (regret 0) are drawn at the floor
    drawn = [m for m in _method_order(list(summaries)) if m in PEERS or m in PLOTTED_BO_LOOP]
    for method in drawn:
        curves = np.maximum(summaries[method]["curves"], floor)
        x = np.arange(1, curves.shape[1] + 1)
        q25, q50, q75 = np.quantile(curves, [0.25, 0.5, 0.75], axis=0)
        style = "-" if method.startswith("bo_loop") else "--"
        (line,) = ax.plot(x, q50, style, label=f"{method} ({curves.shape[0]} seeds)")
        ax.fill_between(x, q25, q75, color=line.get_color(), alpha=0.15)
    ax.axhline(TARGETS.get(problem.name, floor), color="grey", lw=0.8, ls=":", label="target")
    ax.set_yscale("log")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("regret of best observed point (true value)")
    ax.set_title(f"{problem.name} ({problem.goal}, noise sd {problem.noise_sd}): median and IQR")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _checks(table: dict[str, dict[str, dict[str, Any]]], label: str) -> list[str]:
    """The issue's two checks for the method named ``label``, one row per problem."""
    lines = [
        f"Method checked: `{label}`.",
        "",
        f"| problem | {label} median regret | best peer (median regret) | regret check "
        f"| {label} median s/iter | ax median s/iter | ratio | speed check (<= 1/3) "
        f"| {label} / ax mean CPU s/iter |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, per_method in table.items():
        ours = per_method.get(label)
        peers = {m: s for m, s in per_method.items() if m in PEERS}
        if ours is None or not peers:
            continue
        best = min(peers, key=lambda m: peers[m]["final"][1])
        ok = ours["final"][1] <= peers[best]["final"][1]
        # Below a hundredth of the target regret both have found the optimum; the rest is noise
        # in the last digits (e.g. 1e-6 against 5e-8 on xsin), not a difference to a lab.
        tie = max(ours["final"][1], peers[best]["final"][1]) < TARGETS.get(name, 0.0) / 100
        verdict = (
            "met" if ok else (f"tie (both < {TARGETS[name] / 100:g})" if tie else "**not met**")
        )
        row = f"| {name} | {_fmt(ours['final'][1])} | {best} ({_fmt(peers[best]['final'][1])}) "
        row += f"| {verdict} | {_seconds(ours['sec_median'])} "
        if AX in per_method:
            ratio = ours["sec_median"] / per_method[AX]["sec_median"]
            row += f"| {_seconds(per_method[AX]['sec_median'])} | {ratio:.2f} "
            row += f"| {'met' if ratio <= 1 / 3 else '**not met**'} "
            row += f"| {_maybe_seconds(ours['cpu_mean'])} / {_maybe_seconds(per_method[AX]['cpu_mean'])} |"
        else:
            row += "| not run | - | - | - |"
        lines.append(row)
    return lines


def _speed_target(
    by_key: dict[tuple[str, str], list[dict[str, Any]]], limit: float = 0.5
) -> list[str]:
    """The core issue's target: under ``limit`` s per iteration on Branin(30) and Hartmann6(60).

    Measured as CPU seconds (bo_loop's model math runs on one thread, so on an idle machine wall
    time is about the same) over the last 10 iterations of each run, where the data are largest,
    for every bo_loop variant that recorded them.
    """
    lines = [
        f"Speed target of the core issue (< {limit} s per iteration on an idle 2-core machine): "
        "CPU seconds per ask + tell over the last 10 iterations of each run:",
        "",
        "| problem | method | runs | median | 90th percentile | max | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for (name, label), runs in sorted(by_key.items()):
        if name not in ("branin", "hartmann6") or not label.startswith("bo_loop"):
            continue
        timed = [run for run in runs if all("cpu_seconds" in r for r in run["records"])]
        tail = [r["cpu_seconds"] for run in timed for r in run["records"][-10:]]
        if not tail:
            continue
        median, p90 = np.quantile(tail, [0.5, 0.9])
        verdict = (
            "met" if p90 < limit else ("met at the median" if median < limit else "**not met**")
        )
        lines.append(
            f"| {name} | {label} | {len(timed)} | {median:.3f} s | {p90:.3f} s "
            f"| {max(tail):.3f} s | {verdict} |"
        )
    return lines


def write_report(
    out: Path,
    results: Path,
    problems: Sequence[Problem],
    *,
    command: str,
    check_label: str = BO_LOOP,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Write ``results`` (Markdown) and ``out/<problem>.png`` from every run under ``out``.

    Returns:
        problem name -> method -> `summarize` output, for callers that check numbers.
    """
    from experiments.compare import load_runs

    by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    budgets = {p.name: p.budget for p in problems}
    for run in load_runs(out):
        if budgets.get(run["problem"]) == run["budget"]:
            by_key[(run["problem"], run["method"])].append(run)

    table: dict[str, dict[str, dict[str, Any]]] = {}
    for problem in problems:
        per_method = {
            method: summarize(sorted(runs, key=lambda r: r["seed"]), problem)
            for (name, method), runs in by_key.items()
            if name == problem.name
        }
        if per_method:
            table[problem.name] = per_method
            plot_curves(per_method, problem, out / f"{problem.name}.png")

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()
    lines = [
        "# Benchmark results (issue 4)",
        "",
        f"Generated by `{command}` on {now}, from the JSON lines in "
        f"`{_relative(out)}` (one line per method, problem and seed).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}; load average when the report was written "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min). The 'load 1-min' "
        "column gives the 1-minute load average at the start and end of each method's runs: "
        "above 2 (the cores), a run shared its core and its wall times are inflated; CPU "
        "seconds are not.",
        "",
        "Regret is the true (noise-free) value's distance from the optimum at the best "
        "*observed* point so far. Seconds per iteration are the method's ask plus tell (the "
        "objective is not timed), median over every iteration of every seed. Peak RSS is the "
        "worker process's high-water resident memory (`resource.getrusage` ru_maxrss; each run "
        "has its own fresh process, imports included); growth is the peak after the run minus "
        "the peak after importing the method's library. 'Mean CPU s/iter' is the worker's CPU "
        "time (every thread) over the whole run divided by the evaluations: the work done, "
        "much less sensitive to the load than wall time (over the runs that recorded it: "
        "those started before it was added did not). 'Median CPU s/iter' (bo_loop only) is per ask plus tell: bo_loop runs "
        "small-data model math on one thread, so it estimates the wall time on an idle machine.",
        "",
        "Targets for 'evals to target' (regret): "
        + ", ".join(f"{k} {v:g}" for k, v in TARGETS.items())
        + ". Median over seeds; '-' when fewer than half the seeds reached it.",
        "",
        "## Checks",
        "",
        *_checks(table, check_label),
        "",
        *_speed_target(by_key),
        "",
    ]
    for problem in problems:
        if problem.name not in table:
            continue
        per_method = table[problem.name]
        lines += [
            f"## {problem.name} ({problem.goal}, budget {problem.budget}, "
            f"noise sd {problem.noise_sd:g}, target regret {TARGETS.get(problem.name, 0):g})",
            "",
            f"![{problem.name}]({_relative(out / f'{problem.name}.png', results.parent)})",
            "",
            "| method | seeds | final regret median | IQR | evals to target (reached) "
            "| median s/iter | mean s/iter | mean CPU s/iter | median CPU s/iter "
            "| peak RSS MiB (growth) | load 1-min |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for method in _method_order(list(per_method)):
            s = per_method[method]
            q25, q50, q75 = s["final"]
            lines.append(
                f"| {method} | {s['seeds']} | {_fmt(q50)} | {_fmt(q25)} - {_fmt(q75)} "
                f"| {_fmt(s['to_target'])} ({s['reached']}/{s['seeds']}) "
                f"| {_seconds(s['sec_median'])} | {_seconds(s['sec_mean'])} "
                f"| {_maybe_seconds(s['cpu_mean'])} | {_maybe_seconds(s['cpu_median'])} "
                f"| {s['rss']:.0f} ({s['rss_growth']:.0f}) "
                f"| {s['load'][0]:.1f}-{s['load'][1]:.1f} |"
            )
        lines.append("")
    notes = out / "notes.md"
    if notes.exists():
        lines += [notes.read_text().rstrip(), ""]
    # The other benchmarks' sections, kept when this report is rebuilt: several outcomes
    # (written by hand from experiments.multi_objective's report) and the batches
    # (experiments.batch_report).
    for section in (
        out.parent / "multi_objective" / "section.md",
        out.parent / "batch" / "batches.md",
    ):
        if section.exists():
            lines += [section.read_text().rstrip(), ""]
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text("\n".join(lines))
    return table


def _relative(path: Path, start: Path | None = None) -> str:
    """``path`` relative to ``start`` (default: the repository root) when it lies below it."""
    base = start or Path(__file__).resolve().parent.parent
    try:
        return os.path.relpath(path.resolve(), base.resolve())
    except ValueError:
        return str(path)
