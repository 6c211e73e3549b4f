"""Where DataFresh comes from: the feed's producer pods' own /metrics.

Each producer serves `coinstream_last_source_timestamp_seconds{coin, vs_currency}`, the source
time of the newest live quote Kafka *acknowledged* (set on acknowledgement only), on its
metrics port. The operator reads it from every running producer pod of the feed because:

* it is the one place in the cluster that knows when a quote was last delivered, per series,
  without new access: the operator already lists the feed's pods, and needs no Kafka
  credentials (each feed's KafkaUser may read only its own topic, from its own pods) and no
  warehouse or metastore client to read the table;
* it is the series the PrometheusRule's `CoinstreamFeedStale` alerts on, so the condition and
  the alert cannot disagree about what "stale" means;
* a producer that is up but delivering nothing (source failing, broker not acknowledging) stops
  moving it, which is exactly the blind spot a Ready condition cannot show.

It does not see the streaming job: quotes in Kafka that Spark has not committed yet count as
fresh. A stopped stream shows in Ready (SparkApplication state) instead. A restarted producer
reports nothing until its first acknowledgement, which reads as NoQuotesYet for a poll or two.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from coinfeed_operator.health import ProducerReport

NEWEST_METRIC = "coinstream_last_source_timestamp_seconds"
#: Per pod; the drift timer calls this for every feed, so a hung pod must not hold a worker long.
TIMEOUT_SECONDS = 2.0
#: Prometheus text of a producer is a few kB; anything far larger is not a producer.
MAX_BYTES = 1 << 20


def running_addresses(pods: Iterable[dict[str, Any]], label: str, value: str) -> list[tuple[str, str]]:
    """(pod name, IP) of the running, not terminating pods whose `label` is `value`: only they
    can answer on their metrics port."""
    out = []
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        if (meta.get("labels") or {}).get(label) != value:
            continue
        if meta.get("deletionTimestamp") or status.get("phase") != "Running" or not status.get("podIP"):
            continue
        out.append((str(meta["name"]), str(status["podIP"])))
    return out


def producer_addresses(pods: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """(pod name, IP) of the feed's running, not terminating producer pods."""
    return running_addresses(pods, "app.kubernetes.io/component", "producer")


def parse_newest(text: str) -> dict[tuple[str, str], float]:
    newest: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != NEWEST_METRIC:
            continue
        for sample in family.samples:
            key = (sample.labels.get("coin", ""), sample.labels.get("vs_currency", ""))
            newest[key] = max(newest.get(key, 0.0), float(sample.value))
    return newest


def fetch_metrics(session: requests.Session, ip: str, port: int) -> str:
    """One pod's Prometheus text, bounded in time and size (a hung or hostile pod costs little)."""
    host = f"[{ip}]" if ":" in ip else ip
    resp = session.get(f"http://{host}:{port}/metrics", timeout=TIMEOUT_SECONDS, stream=True)
    resp.raise_for_status()
    body = resp.raw.read(MAX_BYTES + 1, decode_content=True)
    if len(body) > MAX_BYTES:
        raise ValueError(f"answer larger than {MAX_BYTES} bytes")
    return str(body.decode("utf-8", "replace"))


def read_producers(pods: Iterable[dict[str, Any]], port: int) -> ProducerReport:
    """Ask every running producer pod; during a rollout two may answer, the newer quote wins."""
    addresses = producer_addresses(pods)
    newest: dict[tuple[str, str], float] = {}
    errors = []
    with requests.Session() as session:
        session.trust_env = False  # pod IPs are never reached through a proxy
        for name, ip in addresses:
            try:
                found = parse_newest(fetch_metrics(session, ip, port))
            except (requests.RequestException, ValueError) as exc:
                errors.append(f"producer pod {name}: /metrics on port {port} unreadable ({type(exc).__name__})")
                continue
            for key, ts in found.items():
                newest[key] = max(newest.get(key, 0.0), ts)
    return ProducerReport(newest=newest, asked=len(addresses), errors=errors)
