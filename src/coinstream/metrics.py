"""Prometheus metrics of the ingestion path and of the streaming job, one registry each.

A registry per object (not the global default) lets tests and the benchmark run
several producers or streams in one process without name clashes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


@dataclass
class _Exported:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose /metrics on `port` (0 = don't), on loopback unless told otherwise (a pod says
        0.0.0.0 so Prometheus and the kubelet's probes reach it)."""
        if port:
            start_http_server(port, addr=host, registry=self.registry)

    def value(self, name: str, **labels: str) -> float:
        """Current value of a sample, for tests and summaries."""
        v = self.registry.get_sample_value(name, labels)
        return 0.0 if v is None else v


@dataclass
class StreamMetrics(_Exported):
    """The streaming job's: what it quarantined, so `CoinstreamQuarantineGrowing` has a series,
    and how many micro-batches it committed, so the operator calls a feed Ready only once rows
    land (a RUNNING application whose executor never starts commits nothing)."""

    def __post_init__(self) -> None:
        self.batches_committed = Counter(
            "coinstream_stream_batches_committed",
            "Micro-batches whose table writes this driver committed (since it started)",
            registry=self.registry,
        )
        self.quarantined = Counter(
            "coinstream_quarantined_records",
            "Kafka records written to the quarantine table, by reason (coinstream.lakehouse.parse.REASONS)",
            ["topic", "reason"],
            registry=self.registry,
        )


@dataclass
class Metrics(_Exported):
    def __post_init__(self) -> None:
        r = self.registry
        self.quotes_fetched = Counter(
            "coinstream_quotes_fetched", "Quotes read from the source", ["source", "origin"], registry=r
        )
        self.quotes_produced = Counter(
            "coinstream_quotes_produced", "Quotes acknowledged by Kafka", ["topic"], registry=r
        )
        self.quotes_deduplicated = Counter(
            "coinstream_quotes_deduplicated",
            "Quotes dropped as repeats of an already produced snapshot",
            ["origin"],
            registry=r,
        )
        self.quotes_invalid = Counter(
            "coinstream_quotes_invalid",
            "Source entries rejected (reason: type, shape, invalid, future, unrequested, duplicate)",
            ["source", "reason"],
            registry=r,
        )
        self.delivery_errors = Counter(
            "coinstream_delivery_errors", "Records Kafka failed to acknowledge", ["topic"], registry=r
        )
        self.delivery_buffered = Gauge(
            "coinstream_delivery_buffered",
            "Quotes accepted but not yet acknowledged by Kafka (retry queue included)",
            ["topic"],
            registry=r,
        )
        self.polls_skipped = Counter(
            "coinstream_polls_skipped",
            "Source polls skipped because Kafka was not acknowledging (backpressure)",
            ["feed"],
            registry=r,
        )
        self.gaps_detected = Counter(
            "coinstream_gaps_detected",
            "Holes found in a live series (outage, pause, source failure)",
            ["feed"],
            registry=r,
        )
        self.gapfill_quotes = Counter(
            "coinstream_gapfill_quotes", "History quotes sent to fill holes in live series", ["feed"], registry=r
        )
        self.api_calls = Counter(
            "coinstream_api_calls", "HTTP calls to the market data API", ["endpoint", "status"], registry=r
        )
        self.api_rate_limited = Counter(
            "coinstream_api_rate_limited", "HTTP 429 answers from the market data API", registry=r
        )
        self.api_errors = Counter(
            "coinstream_api_errors", "Failed or unusable API answers", ["endpoint", "kind"], registry=r
        )
        self.last_source_ts = Gauge(
            "coinstream_last_source_timestamp_seconds",
            "source_ts of the newest produced quote",
            ["coin", "vs_currency"],
            registry=r,
        )
