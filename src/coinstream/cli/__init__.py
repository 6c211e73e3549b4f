"""The `coinstream` command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from coinstream.cli.common import BoundaryGroup, FeedFile, console, load_or_exit, out, warning
from coinstream.cli.dashboard import dashboard
from coinstream.cli.feed import backfill, feed_app
from coinstream.cli.local import local_app
from coinstream.cli.up import up
from coinstream.errors import UserInputError
from coinstream.logs import configure_logging
from coinstream.settings import get_settings

if TYPE_CHECKING:
    from coinstream.sql.summary import WindowReturn

app = typer.Typer(
    cls=BoundaryGroup,
    help="coinstream: stream crypto market data into an open lakehouse.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(feed_app, name="feed")
app.add_typer(local_app, name="local")
app.command("backfill")(backfill)
app.command("dashboard")(dashboard)
app.command("up")(up)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging")) -> None:
    configure_logging("DEBUG" if verbose else None)


@app.command()
def validate(file: Path = FeedFile) -> None:
    """Check a CoinFeed file exactly as the API server and the producer would."""
    feed = load_or_exit(file)
    spec = feed.spec
    out.print(
        Text.assemble(
            ("ok", "green"),
            f" CoinFeed {feed.name}: {len(spec.coins)} coin(s) x {len(spec.vs_currencies)} "
            f"currency(ies) from {spec.source.type}, every {spec.poll_interval_seconds}s -> topic {feed.topic}",
        )
    )
    for w in spec.warnings():
        warning(w)


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
        raise UserInputError(f"unknown schema {what!r}: choose quote or spark")


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
            raise UserInputError("give --topic or -f feed.yaml")
        topic = load_or_exit(file).topic
    records = tail(get_settings().kafka_bootstrap, topic, from_beginning=from_beginning, idle_timeout=idle)
    for n, rec in enumerate(records, start=1):
        v = rec.value
        where = f"p{rec.partition}@{rec.offset}"
        if rec.problem is not None or v is None:
            # A poison record is shown, not fatal; its bytes are the producer's text, never markup.
            raw = repr(rec.raw)[:120] if rec.raw is not None else "null"
            line = Text(f"{where} ")
            line.append("poison", style="red")
            line.append(f" {rec.problem}: {raw}")
            out.print(line, highlight=False, soft_wrap=True)  # one record, one line, however long
        else:
            out.print(
                Text(
                    f"{v.get('source_ts')}  {v.get('coin_id')!s:<12} {v.get('price')!s:>16} {v.get('vs_currency')} "
                    f"{v.get('origin')}/{v.get('granularity')}  {where}"
                ),
                highlight=False,
                soft_wrap=True,
            )
        if max_records is not None and n >= max_records:
            break


@app.command()
def demo(
    keep_running: bool = typer.Option(False, "--keep-running", help="Leave the local stack up afterwards"),
    live_seconds: int = typer.Option(60, help="Seconds of live ticks after the backfill"),
    file: Path | None = typer.Option(None, "--file", "-f", help="CoinFeed (default: the simulated market)"),
    output: Path = typer.Option(Path("reports/investor_overview.html"), "--report", help="Where the report goes"),
) -> None:
    """The embedded platform end to end on a simulated market."""
    from coinstream.app.demo import demo_feed, run_demo
    from coinstream.cli.progress import StepView

    feed = load_or_exit(file) if file is not None else demo_feed()
    with StepView() as view:
        result = run_demo(feed, live_seconds=live_seconds, keep_running=keep_running, report=output, progress=view)
    title = "coinstream demo (each return: from the reference quote at UTC time, seconds elapsed)"
    columns = ("coin", "latest price", "5 m return", "1 h return", "24 h return", "total return", "30 d volatility")
    table = Table(*columns, title=title)
    for c in result.lake.coins:
        since = f" since {c.history_start:%Y-%m-%d}" if c.history_start else ""
        table.add_row(c.coin_id, f"{c.latest_price:,.6g}", *(_window(w) for w in c.returns),
                      _pct(c.return_total) + since, _pct(c.volatility_30d, sign=False))  # fmt: skip
    out.print(table)
    out.print(
        f"Kafka: {result.kafka_quotes:,} quotes in {result.topic} ({result.produced:,} produced this run) "
        f"at {result.bootstrap}"
    )
    out.print(f"Iceberg: {result.lake.rows:,} rows in the lakehouse, {result.lake.quarantined} quarantined "
              f"({result.warehouse})")  # fmt: skip
    out.print(f"report: {result.lake.report}")
    out.print(f"demo took {result.seconds:.0f}s")
    if result.kept_running:
        console.print(
            "local stack left running. Query it: `coinstream local up --trino` then "
            "`coinstream.sql.TrinoEngine('127.0.0.1', <port>)` (https, as the read-only analyst; the password and CA "
            f"are in the state dir) at {result.trino_url}, or DuckDB via coinstream.sql.DuckDBEngine("
            f"'{result.metastore_uri}', '{result.warehouse}'). `coinstream local down` stops everything."
        )


def _window(w: WindowReturn) -> str:
    """A bounded return with the quote it was measured from, or why there is none."""
    if w.pct_return is None or w.start_ts is None or w.elapsed_seconds is None:
        return "n/a: stale feed" if w.reason and "stale" in w.reason else "n/a: no reference quote"
    return f"{_pct(w.pct_return)} from {w.start_ts:%m-%d %H:%M:%S} ({w.elapsed_seconds:,.0f} s)"


def _pct(value: float | None, *, sign: bool = True) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:+.2f}%" if sign else f"{value * 100:.2f}%"


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
        raise UserInputError(f"unknown engine {engine!r}: choose duckdb or trino")
    stack = LocalStack(get_settings())
    env = {
        "COINSTREAM_LAKE_METASTORE_URI": stack.metastore.uri,
        "COINSTREAM_LAKE_WAREHOUSE": stack.warehouse,
        "COINSTREAM_TRINO_PORT": str(get_settings().trino_port),
        # The local Trino's read-only user: the kernel reads the password file, never the password.
        **stack.trino.client_env(),
    }
    with console.status(f"rendering the investor report with {engine}..."):
        path = render(output, engine=engine, coins=coin or None, vs_currency=vs_currency,
                      window_days=window_days, env=env)  # fmt: skip
    out.print(f"report: {path.resolve()}")
