"""What the CLI commands share: the consoles, the error boundary, loading a feed.

The CLI is the only place that prints. Errors reach the user through one boundary
(`BoundaryGroup`): coinstream's own errors and unexpected ones alike become one line
on stderr and an exit status (2 bad input, 1 runtime failure), never a traceback
(`-v` logs it). Text from outside (error messages, file names, API answers) is
printed as plain text, never interpreted as rich markup.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from coinstream.errors import exit_code
from coinstream.models import CoinFeed, load_coinfeed
from coinstream.settings import get_settings

# markup=False: no string printed here is ever parsed for [style] tags; styles come from Text.
console = Console(stderr=True, markup=False)
out = Console(markup=False)

FeedFile = typer.Option(..., "--file", "-f", exists=False, help="CoinFeed YAML (the file kubectl apply takes)")

_log = logging.getLogger("coinstream.cli")


def error(message: object) -> None:
    """`error: <message>` on stderr; the message is plain text whatever brackets it holds."""
    console.print(Text.assemble(("error: ", "bold red"), str(message)))


def warning(message: object) -> None:
    console.print(Text.assemble(("warning: ", "yellow"), str(message)))


class BoundaryGroup(TyperGroup):
    """The root command group: every command runs inside its one error boundary."""

    def invoke(self, ctx: Any) -> Any:  # typer.core.TyperGroup.invoke takes its vendored click Context
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KeyboardInterrupt:
            error("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:  # the boundary: no traceback for users, `-v` logs it
            _log.debug("command failed", exc_info=True)
            error(exc if str(exc) else type(exc).__name__)
            raise typer.Exit(exit_code(exc)) from None


def load_or_exit(path: Path) -> CoinFeed:
    """The feed in `path`; a bad file is a CoinFeedError (bad input: exit 2 at the boundary).
    Hosts the administrator allows for the API key (COINSTREAM_COINGECKO_KEY_HOSTS) count."""
    return load_coinfeed(path, key_hosts=get_settings().key_hosts())
