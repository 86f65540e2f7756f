"""Feedback while a command works for seconds: a fit on thousands of rows, an import.

The indicator is a rich spinner on stderr, shown only to a person at a terminal: it stays silent
when stdout is not a terminal (a script, a pipe, the tests) or under ``bo-loop --quiet``, so
what scripts read is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from bo_loop.cli.common import err, out


def quiet() -> bool:
    """Whether ``bo-loop --quiet`` was given (False outside a command)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and (ctx.find_root().obj or {}).get("quiet"))


def show_progress() -> bool:
    """Whether to show a progress indicator: a person is watching and did not ask for quiet."""
    return out.is_terminal and not quiet()


@contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner with ``message`` on stderr while the block runs, when `show_progress`."""
    if not show_progress():
        yield
        return
    with err.status(message):
        yield
