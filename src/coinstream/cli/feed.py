"""`coinstream feed run` and `coinstream backfill`: the producer side."""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_before_delay,
    stop_when_event_set,
    wait_exponential,
)

from coinstream.cli.common import FeedFile, console, load_or_exit, warning
from coinstream.cli.progress import backfill_with_progress
from coinstream.ingest.kafka import (
    AUTHORIZATION_ERRORS,
    KafkaAccessError,
    access_denied,
    check_access,
    ensure_topic,
)
from coinstream.ingest.producer import QuoteProducer
from coinstream.ingest.runner import FeedRunner
from coinstream.ingest.sources import make_source
from coinstream.logs import get_logger
from coinstream.metrics import Metrics
from coinstream.models import CoinFeed
from coinstream.settings import get_settings

feed_app = typer.Typer(help="Run a CoinFeed's live producer.", no_args_is_help=True)
log = get_logger(__name__)

EnsureTopic = typer.Option(True, help="Create the topic if missing (local use; in a cluster Strimzi owns topics)")


def kafka_guard(command: Callable[..., None]) -> Callable[..., None]:
    """A missing ACL becomes an error that names the user and the fix (the CLI's boundary prints
    it), not kafka-python's bare error code."""

    @functools.wraps(command)
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except AUTHORIZATION_ERRORS as exc:
            raise access_denied(exc, get_settings().kafka_sasl_username, "this operation") from None

    return guarded


def await_access(attempt: Callable[[], None], wait: float, stop: threading.Event) -> None:
    """Run `attempt` until the broker lets this user in, for up to `wait` seconds.

    A refusal can be a provisioning race rather than a mistake (Strimzi writes a user's Secret while
    its password and ACLs are still on their way to the broker), so in a pod the producer waits it
    out instead of crash-looping; once `wait` is spent the refusal is raised with its message."""

    def pending(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("kafka.access_pending", error=f"{type(exc).__name__}: {exc}"[:400], attempt=state.attempt_number)

    def nap(seconds: float) -> None:
        stop.wait(seconds)  # a SIGTERM ends the wait at once

    refused = (KafkaAccessError, *AUTHORIZATION_ERRORS)
    retrying = Retrying(
        stop=stop_before_delay(wait) | stop_when_event_set(stop),
        wait=wait_exponential(multiplier=1, max=10),
        retry=retry_if_exception_type(refused),
        sleep=nap,
        before_sleep=pending,
        reraise=True,
    )
    try:
        retrying(attempt)
    except refused:
        if not stop.is_set():
            raise  # stopped while waiting: nothing to report, the run ends with nothing sent


def _ensure_topic(feed: CoinFeed, bootstrap: str) -> None:
    ensure_topic(bootstrap, feed.topic, feed.spec.kafka.partitions, feed.spec.kafka.replicas)


@feed_app.command("run")
@kafka_guard
def run(
    file: Path = FeedFile,
    once: bool = typer.Option(False, "--once", help="One poll cycle, then exit"),
    bootstrap: str | None = typer.Option(None, help="Kafka bootstrap (default COINSTREAM_KAFKA_BOOTSTRAP)"),
    metrics_port: int | None = typer.Option(None, help="Serve Prometheus metrics on this port"),
    ensure_topic: bool = EnsureTopic,
) -> None:
    """Poll the source every pollIntervalSeconds and produce new quotes until Ctrl-C."""
    feed = load_or_exit(file)
    settings = get_settings()
    bootstrap = bootstrap or settings.kafka_bootstrap
    metrics = Metrics()
    metrics.serve(metrics_port if metrics_port is not None else settings.metrics_port, settings.metrics_host)
    if feed.spec.suspend:
        console.print(f"feed {feed.name} is suspended (spec.suspend: true): nothing to do")
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    source = make_source(feed, settings, metrics)
    producer = QuoteProducer(bootstrap, feed.topic, metrics=metrics, client_id=f"coinstream-{feed.name}")

    def admitted() -> None:
        check_access(bootstrap)
        if ensure_topic:
            _ensure_topic(feed, bootstrap)
        producer.check_topic()

    try:
        await_access(admitted, settings.kafka_access_wait_seconds, stop)
        cycles = FeedRunner(feed, source, producer, bootstrap=bootstrap).run(stop, once=once)
    finally:
        # SIGTERM: deliver what is queued within the pod's grace period; a DeliveryError names
        # how many quotes were not delivered and makes the exit status 1.
        producer.close(timeout=settings.shutdown_grace_seconds)
    console.print(
        f"feed {feed.name}: {cycles} cycle(s), {producer.acked} quote(s) produced to {feed.topic}, "
        f"{int(metrics.value('coinstream_quotes_deduplicated_total', origin='live'))} repeat(s) dropped"
    )


@kafka_guard
def backfill(
    file: Path = FeedFile,
    bootstrap: str | None = typer.Option(None, help="Kafka bootstrap (default COINSTREAM_KAFKA_BOOTSTRAP)"),
    ensure_topic: bool = EnsureTopic,
) -> None:
    """Load spec.backfill's history into the feed topic; a re-run produces nothing twice."""
    feed = load_or_exit(file)
    if feed.spec.backfill is None:
        console.print(f"feed {feed.name} has no spec.backfill: nothing to load")
        return
    settings = get_settings()
    bootstrap = bootstrap or settings.kafka_bootstrap
    check_access(bootstrap)
    if ensure_topic:
        _ensure_topic(feed, bootstrap)
    metrics = Metrics()
    source = make_source(feed, settings, metrics)
    source.check_coins(list(feed.spec.coins))
    result = backfill_with_progress(feed, source, bootstrap, metrics, ensure_ledger=ensure_topic)
    for w in result.warnings:
        warning(w)
    console.print(
        f"backfill {feed.name}: {result.produced} row(s) produced, {result.skipped_existing} already there, "
        f"{result.calls} API call(s), {result.elapsed:.1f}s"
    )
