"""What every ``bo-loop`` command shares: the consoles, the user-error exit, the storage option.

Kept apart from `bo_loop.cli.app` so that the command modules can use it without importing the
command group.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import IO, Any, TypeVar

import click
from rich.console import Console
from rich.text import Text
from sqlalchemy.engine import make_url

from bo_loop.campaign import Campaign
from bo_loop.exceptions import BoLoopError
from bo_loop.storage import STORAGE_ENV, resolve_url

# Consoles look up sys.stdout / sys.stderr when printing, so Click's test runner captures them.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


class UserError(click.ClickException):
    """A user error: its message on stderr, exit code 1, no traceback."""

    def show(self, file: IO[Any] | None = None) -> None:
        err.print(Text("Error: ", style="bold red") + Text(self.format_message()))


class Group(click.Group):
    """Turns every BoLoopError raised by a command into a UserError."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BoLoopError as e:
            raise UserError(str(e)) from None


def storage_option(f: F) -> F:
    return click.option(
        "--storage",
        metavar="URL",
        default=None,
        help=f"SQLAlchemy URL or SQLite file [default: ${STORAGE_ENV}, else sqlite:///campaigns.db].",
    )(f)


def storage_of(ctx: click.Context, storage: str | None) -> str | None:
    """The command's --storage, else the group's; None lets bo_loop read the env var or default."""
    return storage or (ctx.obj or {}).get("storage")


def display_url(storage: str | None) -> str:
    return make_url(resolve_url(storage)).render_as_string(hide_password=True)


def load_campaign(ctx: click.Context, name: str, storage: str | None) -> Campaign:
    return Campaign.load(name, storage=storage_of(ctx, storage))


def campaign_command(
    name: str | None = None, **attrs: Any
) -> Callable[[Callable[..., Any]], click.Command]:
    """A command about one stored campaign: ``bo-loop NAME CAMPAIGN [args] [--storage URL]``.

    Adds the ``CAMPAIGN`` argument (first) and the ``--storage`` option, opens the campaign and
    calls the decorated function with it as its first argument, followed by the command's own
    arguments and options.
    """

    def decorate(f: Callable[..., Any]) -> click.Command:
        @functools.wraps(f)
        def run(*, campaign: str, storage: str | None, **kwargs: Any) -> Any:
            return f(load_campaign(click.get_current_context(), campaign, storage), **kwargs)

        return click.command(name, **attrs)(click.argument("campaign")(storage_option(run)))

    return decorate
