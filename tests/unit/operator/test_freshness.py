"""DataFresh: the pure verdict and the producer's /metrics text it is computed from."""

from __future__ import annotations

import datetime as dt

from prometheus_client import generate_latest

from coinfeed_operator.health import (
    MIN_FRESH_WINDOW_SECONDS,
    Observed,
    ProducerReport,
    compute_status,
    data_freshness,
    freshness_window,
)
from coinfeed_operator.producer_metrics import parse_newest, producer_addresses
from coinstream.metrics import Metrics
from coinstream.models.coinfeed_status import ChildNames

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
SERIES = [("bitcoin", "usd"), ("ethereum", "usd")]


def ago(seconds: float) -> float:
    return NOW.timestamp() - seconds


def verdict(report: ProducerReport | None, poll: int = 60, suspended: bool = False) -> tuple[str, str, str]:
    v = data_freshness(report, SERIES, poll, NOW, suspended)
    return v.status, v.reason, v.message


def test_window_follows_the_poll_interval_with_a_floor() -> None:
    assert freshness_window(10) == MIN_FRESH_WINDOW_SECONDS == 300
    assert freshness_window(100) == 300
    assert freshness_window(600) == 1800


def test_every_series_within_the_window_is_fresh() -> None:
    report = ProducerReport(newest={("bitcoin", "usd"): ago(30), ("ethereum", "usd"): ago(299)}, asked=1)
    assert verdict(report) == (
        "True",
        "Fresh",
        "all 2 series quoted within 300s (3 x pollIntervalSeconds, at least 300s)",
    )


def test_one_old_series_makes_the_feed_stale_and_is_named_with_its_time() -> None:
    report = ProducerReport(newest={("bitcoin", "usd"): ago(301), ("ethereum", "usd"): ago(10)}, asked=1)
    status, reason, message = verdict(report)
    assert (status, reason) == ("False", "Stale")
    assert "bitcoin/usd (newest 2026-01-01T11:54:59Z)" in message and "ethereum" not in message
    # A slower poll widens the window: the same quote is fresh at a 2-minute poll interval.
    assert verdict(report, poll=120)[:2] == ("True", "Fresh")


def test_missing_series_is_not_fresh() -> None:
    report = ProducerReport(newest={("bitcoin", "usd"): ago(5)}, asked=1)
    assert verdict(report) == ("False", "NoQuotesYet", "no quote acknowledged by Kafka yet for ethereum/usd")
    both = ProducerReport(newest={("bitcoin", "usd"): ago(4000)}, asked=1)
    status, reason, message = verdict(both)
    assert (status, reason) == ("False", "Stale") and message.endswith("; none yet for ethereum/usd")


def test_nobody_to_ask_or_nobody_answering_is_unknown() -> None:
    assert verdict(None)[:2] == ("Unknown", "NoProducerRunning")
    assert verdict(ProducerReport(newest={}, asked=0))[:2] == ("Unknown", "NoProducerRunning")
    down = ProducerReport(
        newest={}, asked=1, errors=["producer pod p: /metrics on port 9100 unreadable (ConnectTimeout)"]
    )
    assert verdict(down) == ("Unknown", "MetricsUnavailable", down.errors[0])
    # One of two pods answering (a rollout) is enough.
    half = ProducerReport(newest=dict.fromkeys(SERIES, ago(1)), asked=2, errors=["producer pod old: ..."])
    assert verdict(half)[:2] == ("True", "Fresh")


def test_suspended_feed_is_not_fresh_by_intent() -> None:
    assert verdict(ProducerReport(newest=dict.fromkeys(SERIES, ago(1)), asked=1), suspended=True)[:2] == (
        "False",
        "Suspended",
    )


def test_condition_carries_generation_and_moves_only_on_flips() -> None:
    def status(report: ProducerReport, now: dt.datetime, old: object = None) -> object:
        fresh = data_freshness(report, SERIES, 60, now)
        return compute_status(
            old=old,
            generation=4,
            children=ChildNames(),
            coin_count=2,
            observed=Observed(freshness=fresh),
            now=now,  # type: ignore[arg-type]
        )

    fresh = ProducerReport(newest=dict.fromkeys(SERIES, NOW.timestamp()), asked=1)
    s1 = status(fresh, NOW)
    c1 = s1.condition("DataFresh")  # type: ignore[attr-defined]
    assert (c1.status, c1.observed_generation, c1.last_transition_time) == ("True", 4, NOW)
    later = NOW + dt.timedelta(minutes=2)
    assert status(fresh, later, s1).condition("DataFresh").last_transition_time == NOW  # type: ignore[attr-defined]
    much_later = NOW + dt.timedelta(minutes=10)
    c3 = status(fresh, much_later, s1).condition("DataFresh")  # type: ignore[attr-defined]
    assert (c3.status, c3.reason, c3.last_transition_time) == ("False", "Stale", much_later)


def test_newest_is_read_from_the_producers_own_metrics_text() -> None:
    m = Metrics()
    m.last_source_ts.labels("bitcoin", "usd").set(1_700_000_000.5)
    m.last_source_ts.labels("ethereum", "eur").set(1_700_000_060)
    m.quotes_produced.labels("t").inc(3)
    text = generate_latest(m.registry).decode()
    assert parse_newest(text) == {("bitcoin", "usd"): 1_700_000_000.5, ("ethereum", "eur"): 1_700_000_060.0}
    assert parse_newest("# nothing here\n") == {}


def test_only_running_producer_pods_with_an_address_are_asked() -> None:
    def pod(
        name: str, component: str = "producer", phase: str = "Running", ip: str | None = "10.0.0.1", **meta: str
    ) -> dict:  # type: ignore[type-arg]
        return {
            "metadata": {"name": name, "labels": {"app.kubernetes.io/component": component}, **meta},
            "status": {"phase": phase, **({"podIP": ip} if ip else {})},
        }

    pods = [
        pod("p1"),
        pod("bf", component="backfill"),
        pod("pending", phase="Pending", ip=None),
        pod("going", deletionTimestamp="2026-01-01T00:00:00Z"),
        pod("v6", ip="fd00::5"),
    ]
    assert producer_addresses(pods) == [("p1", "10.0.0.1"), ("v6", "fd00::5")]


def test_read_producers_over_http_and_a_pod_that_does_not_answer() -> None:
    from prometheus_client import start_http_server

    from coinfeed_operator.producer_metrics import read_producers
    from coinstream.devstack.process import free_port

    m = Metrics()
    m.last_source_ts.labels("bitcoin", "usd").set(1_700_000_000)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=m.registry)
    try:
        running = {"phase": "Running", "podIP": "127.0.0.1"}
        pods = [{"metadata": {"name": "p", "labels": {"app.kubernetes.io/component": "producer"}}, "status": running}]
        report = read_producers(pods, port)
        assert (report.newest, report.asked, report.errors) == ({("bitcoin", "usd"): 1_700_000_000.0}, 1, [])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    gone = read_producers(pods, port)
    assert gone.asked == 1 and gone.newest == {}
    assert gone.errors == [f"producer pod p: /metrics on port {port} unreadable (ConnectionError)"]
