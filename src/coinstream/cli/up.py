"""`coinstream up -f feed.yaml`: run the whole pipeline here until Ctrl-C, with a live status."""

from __future__ import annotations

import datetime as dt
import signal
import threading
from pathlib import Path

import typer
from rich.live import Live
from rich.table import Table

from coinstream.app.up import Pipeline, UpOptions, UpStatus
from coinstream.cli.common import console, load_or_exit, out
from coinstream.errors import UserInputError
from coinstream.settings import get_settings


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:,.0f} s" if seconds < 120 else f"{seconds / 60:,.1f} min"


def render(status: UpStatus) -> Table:
    table = Table(title=f"coinstream up · {status.at} · Ctrl-C stops", title_justify="left", expand=False)
    for col in ("feed", "source", "last quote", "at", "rows committed", "freshness lag", "errors"):
        table.add_column(col)
    for f in status.feeds:
        at = f.last_quote_ts[11:19] if f.last_quote_ts else "-"
        rows = "-" if f.rows is None else f"{f.rows:,}"
        errors = str(f.errors) + (f" ({f.last_error[:60]})" if f.last_error else "")
        table.add_row(f.feed, f.source, f.last_quote or "-", at, rows, _age(f.lag_s), errors)
    units = Table(show_header=True, box=None, padding=(0, 1))
    for col in ("process", "state", "pid", "restarts", "last error"):
        units.add_column(col, overflow="fold")
    for u in status.units:
        units.add_row(u.name, u.state, str(u.pid or "-"), str(u.restarts), (u.last_error or "")[:90])
    grid = Table.grid()
    grid.add_row(table)
    if status.lakehouse:
        grid.add_row(status.lakehouse)
    grid.add_row(units)
    return grid


def line(status: UpStatus) -> str:
    """One line per refresh where there is no terminal to redraw (a pipe, a log file)."""
    feeds = "; ".join(
        f"{f.feed}: rows={f.rows if f.rows is not None else '-'} lag={_age(f.lag_s)} "
        f"last={f.last_quote or '-'} errors={f.errors}"
        for f in status.feeds
    )
    units = " ".join(f"{u.name}={u.state}/{u.restarts}" for u in status.units)
    return f"{status.at} {feeds} | {units}" + (f" | {status.lakehouse}" if status.lakehouse else "")


def up(
    file: list[Path] = typer.Option(..., "--file", "-f", help="CoinFeed YAML (repeat for several feeds)"),
    maintain_every: float = typer.Option(1800.0, min=0, help="Seconds between table maintenance runs (0: never)"),
    refresh: float = typer.Option(2.0, min=0.5, max=60, help="Seconds between status updates"),
    trino: bool = typer.Option(False, "--trino", help="Also keep Trino 476 running (needs a JDK 24+)"),
    keep_services: bool = typer.Option(False, "--keep-services", help="Leave Kafka and the metastore up after"),
) -> None:
    """Keep the whole pipeline running until Ctrl-C: local services, backfill then live producer,
    the streaming job into Iceberg and scheduled table maintenance, each restarted when it dies."""
    feeds = [(path, load_or_exit(path)) for path in file]
    try:
        options = UpOptions(maintain_every=maintain_every, trino=trino, stop_services=not keep_services)
        pipeline = Pipeline(feeds, get_settings(), options)
    except ValueError as exc:
        raise UserInputError(str(exc)) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with console.status("starting local services (first run downloads pinned jars)..."):
        pipeline.start()
    console.print(f"state in {pipeline.stack.home}; logs in {pipeline.home / 'logs'}; status {pipeline.status_file}")
    try:
        if out.is_terminal:
            with Live(render(pipeline.tick()), console=out, refresh_per_second=2) as live:
                while not stop.wait(refresh):
                    live.update(render(pipeline.tick()))
        else:
            while not stop.is_set():
                out.print(line(pipeline.tick()), highlight=False, soft_wrap=True)
                stop.wait(refresh)
    finally:
        console.print("stopping: jobs first, then the services this run started...")
        stopped = pipeline.stop()
        when = dt.datetime.now(dt.UTC).strftime("%H:%M:%S")
        console.print(f"stopped at {when} UTC" + (f" (services: {', '.join(stopped)})" if stopped else ""))
