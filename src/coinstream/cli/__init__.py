"""The `coinstream` command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.table import Table

from coinstream.cli.common import FeedFile, console, load_or_exit, out
from coinstream.cli.feed import backfill, feed_app
from coinstream.cli.local import local_app
from coinstream.logs import configure_logging
from coinstream.settings import get_settings

app = typer.Typer(
    help="coinstream: stream crypto market data into an open lakehouse.", no_args_is_help=True, add_completion=False
)
app.add_typer(feed_app, name="feed")
app.add_typer(local_app, name="local")
app.command("backfill")(backfill)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging")) -> None:
    s = get_settings()
    configure_logging("DEBUG" if verbose else s.log_level, json=s.log_json)


@app.command()
def validate(file: Path = FeedFile) -> None:
    """Check a CoinFeed file exactly as the API server and the producer would."""
    feed = load_or_exit(file)
    spec = feed.spec
    out.print(
        f"[green]ok[/green] CoinFeed {feed.name}: {len(spec.coins)} coin(s) x {len(spec.vs_currencies)} "
        f"currency(ies) from {spec.source.type}, every {spec.poll_interval_seconds}s -> topic {feed.topic}"
    )
    for w in spec.warnings():
        console.print(f"[yellow]warning:[/yellow] {w}")


@app.command()
def schema(
    what: str = typer.Argument("quote", help="quote (the Kafka event JSON Schema) or spark (its Spark DDL)"),
) -> None:
    """Print a schema derived from the models."""
    from coinstream.models import Quote, quote_json_schema
    from coinstream.models.spark import spark_ddl

    if what == "quote":
        out.print_json(json.dumps(quote_json_schema()))
    elif what == "spark":
        out.print(spark_ddl(Quote), highlight=False)
    else:
        console.print(f"[red]error:[/red] unknown schema {what!r}: choose quote or spark")
        raise typer.Exit(2)


@app.command()
def watch(
    topic: str | None = typer.Option(None, help="Topic to tail (default: the feed's topic from -f)"),
    file: Path | None = typer.Option(None, "--file", "-f", help="CoinFeed whose topic to tail"),
    from_beginning: bool = typer.Option(False, "--from-beginning"),
    max_records: int | None = typer.Option(None, "--max", help="Stop after this many records"),
    idle: float | None = typer.Option(None, help="Stop after this many idle seconds"),
) -> None:
    """Tail a topic: one line per quote."""
    from coinstream.ingest.watch import tail

    if topic is None:
        if file is None:
            console.print("[red]error:[/red] give --topic or -f feed.yaml")
            raise typer.Exit(2)
        topic = load_or_exit(file).topic
    records = tail(get_settings().kafka_bootstrap, topic, from_beginning=from_beginning, idle_timeout=idle)
    for n, rec in enumerate(records, start=1):
        v = rec.value
        if v is None:
            out.print(f"p{rec.partition}@{rec.offset} [red]undecodable[/red] {rec.raw!r:.120}", highlight=False)
        else:
            out.print(
                f"{v.get('source_ts')}  {v.get('coin_id'):<12} {v.get('price'):>16} {v.get('vs_currency')} "
                f"{v.get('origin')}/{v.get('granularity')}  p{rec.partition}@{rec.offset}",
                highlight=False,
            )
        if max_records is not None and n >= max_records:
            break


@app.command()
def demo(
    keep_running: bool = typer.Option(False, "--keep-running", help="Leave the local stack up afterwards"),
    live_seconds: int = typer.Option(60, help="Seconds of live ticks after the backfill"),
    file: Path = typer.Option(Path("examples/coinfeed-simulated.yaml"), "--file", "-f"),
) -> None:
    """The embedded platform end to end on a simulated market."""
    from coinstream.app.demo import run_demo

    summary = run_demo(load_or_exit(file), live_seconds=live_seconds, keep_running=keep_running)
    table = Table("coin", "latest price", "24 h return", "total return", "30 d volatility", title="coinstream demo")
    for coin, price, r24, total, vol in summary.rows:
        table.add_row(str(coin), f"{price:,.6g}", str(r24), str(total), str(vol))
    out.print(table)
    for line in summary.notes:
        out.print(line)


@app.command()
def report(
    output: Path = typer.Option(Path("reports/investor_overview.html"), "--output", "-o"),
    engine: str = typer.Option("duckdb", help="duckdb (embedded, reads the local stack) or trino"),
    coin: list[str] = typer.Option([], "--coin", help="Coins to show (default: all in the table)"),
    vs_currency: str = typer.Option("usd", "--vs"),
    window_days: int = typer.Option(90, min=1, max=3650, help="Look-back of the candles and drawdown charts"),
) -> None:
    """Render the investor notebook to HTML from the lakehouse (the local stack by default)."""
    from coinstream.devstack.stack import LocalStack
    from coinstream.report import render

    if engine not in {"duckdb", "trino"}:
        console.print(f"[red]error:[/red] unknown engine {engine!r}: choose duckdb or trino")
        raise typer.Exit(2)
    stack = LocalStack(get_settings())
    env = {
        "COINSTREAM_LAKE_METASTORE_URI": stack.metastore.uri,
        "COINSTREAM_LAKE_WAREHOUSE": stack.warehouse,
        "COINSTREAM_TRINO_PORT": os.environ.get("COINSTREAM_TRINO_PORT", str(get_settings().trino_port)),
    }
    with console.status(f"rendering the investor report with {engine}..."):
        path = render(output, engine=engine, coins=coin or None, vs_currency=vs_currency,
                      window_days=window_days, env=env)  # fmt: skip
    out.print(f"report: {path.resolve()}")
