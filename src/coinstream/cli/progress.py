"""Progress for long work, drawn by the CLI: bars for counted steps, a spinner otherwise.

The work itself (coinstream.app, coinstream.ingest.backfill) only reports steps through a
callback; this module turns them into rich displays on stderr. Each step's last text is
also printed as a line when the step ends, so a log (or a non-terminal) keeps what happened.
"""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from coinstream.app.demo import Step
from coinstream.cli.common import console
from coinstream.ingest.backfill import BackfillResult, expected_points, run_backfill
from coinstream.ingest.sources.base import MarketSource
from coinstream.metrics import Metrics
from coinstream.models import CoinFeed


def progress_bar() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


class StepView:
    """Draws `Step`s as they come (use as a context manager; call it with each step)."""

    def __init__(self) -> None:
        self._progress = progress_bar()
        self._task: TaskID | None = None
        self._name: str | None = None
        self._last = ""

    def __enter__(self) -> StepView:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._end_step()
        self._progress.stop()

    def _end_step(self) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            console.print(self._last)
        self._task = None

    def __call__(self, step: Step) -> None:
        if step.name != self._name:
            self._end_step()
            self._name = step.name
            self._task = self._progress.add_task(step.text, total=step.total)
        elif step.done is None and step.text != self._last:
            console.print(self._last)  # a step of several stages keeps each stage as a line
        assert self._task is not None
        self._progress.update(self._task, description=step.text, completed=step.done or 0, total=step.total)
        self._last = step.text


def backfill_with_progress(
    feed: CoinFeed, source: MarketSource, bootstrap: str, metrics: Metrics | None = None, *, ensure_ledger: bool = True
) -> BackfillResult:
    with progress_bar() as progress:
        task = progress.add_task(f"backfill {feed.name}", total=expected_points(feed))

        def on_chunk(coin: str, vs: str, n: int) -> None:
            progress.update(task, advance=n, description=f"backfill {feed.name} {coin}/{vs}")

        result = run_backfill(feed, source, bootstrap, metrics=metrics, ensure_ledger=ensure_ledger, on_chunk=on_chunk)
        progress.update(task, completed=progress.tasks[0].total, description=f"backfill {feed.name}")
    return result
