"""Rich progress for long work (backfills, waits), shared by the commands and the demo."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from coinstream.cli.common import console
from coinstream.ingest.backfill import BackfillResult, expected_points, run_backfill
from coinstream.ingest.producer import QuoteProducer
from coinstream.ingest.sources.base import MarketSource
from coinstream.models import CoinFeed


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def backfill_with_progress(
    feed: CoinFeed, source: MarketSource, producer: QuoteProducer, bootstrap: str
) -> BackfillResult:
    with progress_bar() as progress:
        task = progress.add_task(f"backfill {feed.name}", total=expected_points(feed))

        def on_chunk(coin: str, vs: str, n: int) -> None:
            progress.update(task, advance=n, description=f"backfill {feed.name} {coin}/{vs}")

        result = run_backfill(feed, source, producer, bootstrap, on_chunk=on_chunk)
        progress.update(task, completed=progress.tasks[0].total, description=f"backfill {feed.name}")
    return result
