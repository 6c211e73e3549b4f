"""`coinstream dashboard`: serve the live page until Ctrl-C."""

from __future__ import annotations

import signal
import threading

import typer

from coinstream.cli.common import console
from coinstream.errors import OperationalError, UserInputError
from coinstream.settings import get_settings


def dashboard(
    engine: str = typer.Option("duckdb", help="duckdb (the local stack's lakehouse) or trino"),
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default; the page has no login)"),
    port: int = typer.Option(8050, min=0, max=65535, help="Port to serve on (0: any free port)"),
    refresh: float = typer.Option(5.0, min=1.0, max=3600.0, help="Seconds between re-reads of the lakehouse"),
    stale_after: float = typer.Option(120.0, min=1.0, help="Flag a feed whose newest quote is older (seconds)"),
    trino_host: str | None = typer.Option(None, help="Trino host (--engine trino; default COINSTREAM_TRINO_HOST)"),
    trino_port: int | None = typer.Option(None, help="Trino port (default COINSTREAM_TRINO_PORT)"),
) -> None:
    """Serve the live investor dashboard: prices, returns, charts, freshness, data quality."""
    from coinstream.dashboard import Reader, create_app, embedded_engine, serve, trino_engine
    from coinstream.devstack.stack import LocalStack

    settings = get_settings()
    if engine == "duckdb":
        stack = LocalStack(settings)
        opener = embedded_engine(stack.metastore.uri, stack.warehouse, stack.pyiceberg_properties())
        where = f"DuckDB over {stack.warehouse} (metastore {stack.metastore.uri})"
    elif engine == "trino":
        thost, tport = trino_host or settings.trino_host, trino_port or settings.trino_port
        opener = trino_engine(thost, tport)
        where = f"Trino at {thost}:{tport}"
    else:
        raise UserInputError(f"unknown engine {engine!r}: choose duckdb or trino")
    reader = Reader(opener, stale_after_s=stale_after, check_every_s=refresh)
    try:
        server = serve(create_app(reader, refresh_seconds=refresh), host, port)
    except OSError as exc:
        raise OperationalError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound = server.effective_port
    console.print(f"dashboard on http://{host}:{bound}/ reading {where}; Ctrl-C stops it")
    stopped = threading.Event()

    def stop(*_: object) -> None:
        stopped.set()
        server.close()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    try:
        server.run()
    except OSError:
        if not stopped.is_set():
            raise
    finally:
        reader.close()
    console.print("dashboard stopped")
