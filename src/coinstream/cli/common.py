"""Helpers shared by the CLI commands: loading a feed or failing with a readable message."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from coinstream.models import CoinFeed, CoinFeedError, load_coinfeed

console = Console(stderr=True)
out = Console()

FeedFile = typer.Option(..., "--file", "-f", exists=False, help="CoinFeed YAML (the file kubectl apply takes)")


def load_or_exit(path: Path) -> CoinFeed:
    try:
        return load_coinfeed(path)
    except CoinFeedError as exc:
        console.print("[red]error:[/red]", escape(str(exc)), highlight=False)
        raise typer.Exit(2) from None
