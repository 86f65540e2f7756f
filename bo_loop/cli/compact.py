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


def added_summary(space: Space, objective: Objective, added: Sequence[Trial], source: str) -> None:
    """Print what ``add`` stored: every row when few, else counts, range, best and the last few."""
    if len(added) <= LISTED_ROWS:
        title = f"Added from {source}"
        out.print(cli_report.trials_table(space, objective, added, title=title))
        return
    values = [float(t.value) for t in added if t.value is not None]
    best = max(added, key=lambda t: objective.sign * float(t.value or 0.0))
    out.print(
        f"Added from {source}: {len(added)} rows as trials {added[0].number}..{added[-1].number}; "
        f"{objective.name} from {cli_report.fmt(min(values))} to {cli_report.fmt(max(values))} "
        f"(median {cli_report.fmt(statistics.median(values))}); best {cli_report.fmt(best.value)} "
        f"at trial {best.number}.",
        highlight=False,
    )
    out.print(
        cli_report.trials_table(
            space, objective, added[-TAIL:], title=f"Last {TAIL} of {len(added)} rows added"
        )
    )


def pending_line(numbers: Sequence[int]) -> str:
    """``Pending trials: 3, 4, 5`` with at most `PENDING_LISTED` numbers (the oldest first)."""
    shown = ", ".join(str(n) for n in numbers[:PENDING_LISTED])
    more = len(numbers) - PENDING_LISTED
    return f"Pending trials: {shown}" + (f" (and {more} more)" if more > 0 else "")
