"""Whether the feed's stream has committed anything: its Spark driver's own /metrics.

A SparkApplication is RUNNING as soon as its driver runs, whether or not an executor ever
starts (a node too small for it keeps it Pending) and whether or not a batch ever reaches the
table. The driver counts the micro-batches it committed
(`coinstream_stream_batches_committed_total`); the operator reads it from the running driver
pod the way it reads the producers' (coinfeed_operator.producer_metrics), and a feed is Ready
only once the count is above zero. A restarted driver counts from zero again: the feed is not
Ready until the new driver has committed a batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from coinfeed_operator.producer_metrics import fetch_metrics, running_addresses

COMMITTED_SAMPLE = "coinstream_stream_batches_committed_total"


@dataclass(frozen=True)
class StreamReport:
    """Micro-batches the running driver committed; None with the reason when nobody could say."""

    committed: int | None
    problem: str = ""


def driver_addresses(pods: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """(pod name, IP) of the feed's running, not terminating Spark driver pods."""
    return running_addresses(pods, "spark-role", "driver")


def parse_committed(text: str) -> int | None:
    samples = [s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == COMMITTED_SAMPLE]
    return int(sum(samples)) if samples else None


def read_stream(pods: Iterable[dict[str, Any]], port: int) -> StreamReport:
    drivers = driver_addresses(pods)
    if not drivers:
        return StreamReport(None, "no running Spark driver pod yet")
    problems = []
    with requests.Session() as session:
        session.trust_env = False  # pod IPs are never reached through a proxy
        for name, ip in drivers:
            try:
                committed = parse_committed(fetch_metrics(session, ip, port))
            except (requests.RequestException, ValueError) as exc:
                problems.append(f"driver pod {name}: /metrics on port {port} unreadable ({type(exc).__name__})")
                continue
            if committed is not None:
                return StreamReport(committed)
            problems.append(f"driver pod {name} reports no committed batch count yet")
    return StreamReport(None, "; ".join(problems))
