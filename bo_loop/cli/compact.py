"""Compact output for campaigns of thousands of rows: summaries instead of full listings, and
sparklines capped in width. Functions here only print records they are handed.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from bo_loop.cli import report as cli_report
from bo_loop.cli.common import out
from bo_loop.objective import Objective
from bo_loop.space import Space
from bo_loop.trial import Trial

#: ``add`` lists every added row up to this many; past it, a summary and the last `TAIL` rows.
LISTED_ROWS = 20
#: The latest rows a summary shows.
TAIL = 5
#: The most characters a sparkline takes: longer series are sampled evenly, ends included.
SPARK_WIDTH = 60
#: The most trial numbers ``status`` lists as pending before it says how many more there are.
PENDING_LISTED = 20


def sampled(values: Sequence[float], width: int = SPARK_WIDTH) -> list[float]:
    """At most ``width`` of ``values``, evenly spaced, the first and the last included."""
    if len(values) <= width:
        return list(values)
    if width <= 1:
        return [values[-1]]
    step = (len(values) - 1) / (width - 1)
    return [values[round(i * step)] for i in range(width)]


def added_summary(
    space: Space,
    objectives: Sequence[Objective],
    outcomes: Sequence[str],
    added: Sequence[Trial],
    source: str,
) -> None:
    """Print what ``add`` stored: every row when few, else counts, ranges, best and the last few.

    Args:
        objectives: The campaign's objectives (the best row is named only when there is one).
        outcomes: Every outcome's name: a column each, and a range each in the summary.
    """
    if len(added) <= LISTED_ROWS:
        title = f"Added from {source}"
        out.print(cli_report.trials_table(space, outcomes, added, title=title))
        return
    ranges = []
    for name in outcomes:
        values = [float(t.values[name]) for t in added if name in t.values]
        if values:
            ranges.append(
                f"{name} from {cli_report.fmt(min(values))} to {cli_report.fmt(max(values))} "
                f"(median {cli_report.fmt(statistics.median(values))})"
            )
    line = f"Added from {source}: {len(added)} rows as trials {added[0].number}..{added[-1].number}"
    if ranges:
        line += "; " + "; ".join(ranges)
    if len(objectives) == 1:
        objective = objectives[0]
        told = [t for t in added if objective.name in t.values]
        if told:
            best = max(told, key=lambda t: objective.sign * float(t.values[objective.name]))
            line += f"; best {cli_report.fmt(best.values[objective.name])} at trial {best.number}"
    out.print(line + ".", highlight=False)
    out.print(
        cli_report.trials_table(
            space, outcomes, added[-TAIL:], title=f"Last {TAIL} of {len(added)} rows added"
        )
    )


def pending_line(numbers: Sequence[int]) -> str:
    """``Pending trials: 3, 4, 5`` with at most `PENDING_LISTED` numbers (the oldest first)."""
    shown = ", ".join(str(n) for n in numbers[:PENDING_LISTED])
    more = len(numbers) - PENDING_LISTED
    return f"Pending trials: {shown}" + (f" (and {more} more)" if more > 0 else "")
