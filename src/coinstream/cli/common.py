"""Helpers shared by the CLI commands: loading a feed or failing with a readable message."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from coinstream.models import CoinFeed, CoinFeedError, load_coinfeed
from coinstream.settings import get_settings

console = Console(stderr=True)
out = Console()

FeedFile = typer.Option(..., "--file", "-f", exists=False, help="CoinFeed YAML (the file kubectl apply takes)")


def load_or_exit(path: Path) -> CoinFeed:
    try:
        return load_coinfeed(path, key_hosts=get_settings().key_hosts())
    except CoinFeedError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
