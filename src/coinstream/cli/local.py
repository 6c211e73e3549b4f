"""`coinstream local up|down|status`: the embedded platform's services on this machine."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from coinstream.cli.common import console, load_or_exit, out
from coinstream.devstack.stack import LocalStack
from coinstream.settings import get_settings

local_app = typer.Typer(help="Start and stop the local (embedded) platform.", no_args_is_help=True)


@local_app.command("up")
def up(
    file: list[Path] = typer.Option([], "--file", "-f", help="Create the topics of these CoinFeeds"),
    trino: bool = typer.Option(False, "--trino", help="Also start Trino 476 (needs a JDK 24+)"),
    hdfs: bool = typer.Option(False, "--hdfs", help="Keep the warehouse on a local HDFS (decided on first up)"),
    secure_kafka: bool = typer.Option(
        False, "--secure-kafka", help="Kafka with SASL_SSL, SCRAM-SHA-512 users and ACLs (decided on first up)"
    ),
) -> None:
    """Start the local services (idempotent: running ones are left alone)."""
    feeds = [load_or_exit(f) for f in file]
    stack = LocalStack(get_settings(), secure_kafka=secure_kafka)
    with console.status("starting local services (first run downloads pinned jars)..."):
        started = stack.up(feeds, trino=trino, hdfs=hdfs)
    console.print(f"local stack up (state in {stack.home}): Kafka at {stack.bootstrap}")
    if stack.kafka.secure:
        console.print("  Kafka needs SASL_SSL as user coinstream; clients read these settings:")
        for key, value in stack.kafka.client_env().items():
            console.print(f"    export {key}={value}", highlight=False)
    console.print(f"  Hive metastore at {stack.metastore.uri}, warehouse {stack.warehouse}")
    if trino:
        console.print(f"  Trino at {stack.trino.url} (https only, catalog lake, schema coinstream); the read-only")
        console.print("  analyst's settings (`coinstream dashboard --engine trino`, notebooks and reports read them):")
        for key, value in stack.trino.client_env().items():
            console.print(f"    export {key}={value}", highlight=False)
    for topic in started.get("topics_created", []):
        console.print(f"  created topic {topic}")


@local_app.command("down")
def down() -> None:
    """Stop the local services cleanly (data stays in the state dir)."""
    stopped = LocalStack(get_settings()).down()
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@local_app.command("status")
def status() -> None:
    """What runs, where, and what it holds."""
    table = Table("service", "running", "details")
    for name, info in LocalStack(get_settings()).status().items():
        details = ", ".join(f"{k}={v}" for k, v in info.items() if k not in {"running"})
        table.add_row(name, "yes" if info.get("running") else "no", details)
    out.print(table)
