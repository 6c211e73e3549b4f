"""Kafka → Iceberg: counts, dedup, quarantine, idempotent replays (real Kafka, Spark, metastore)."""

# ruff: noqa: S608  # table identifiers come from validated LakeConfig fields, not user input

from __future__ import annotations

import datetime as dt
import urllib.request
from collections import Counter
from typing import Any

import pytest
from prometheus_client import start_http_server
from prometheus_client.parser import text_string_to_metric_families
from tests.support.lake import Lake, Loaded
from tests.support.lake_data import BAD_KINDS, bad_records, market_history, produce, raw_bytes

from coinstream.devstack.process import free_port
from coinstream.metrics import StreamMetrics

pytestmark = pytest.mark.integration


def _identities(spark: Any, table: str) -> Counter[tuple[str, str, str, dt.datetime]]:
    rows = spark.sql(f"SELECT vs_currency, coin_id, source, source_ts FROM {table}").collect()
    return Counter((r[0], r[1], r[2], r[3]) for r in rows)


def test_every_good_quote_lands_once_with_typed_columns(spark: Any, loaded: Loaded) -> None:
    cfg = loaded.cfg
    want = {q.identity for q in loaded.quotes}
    got = _identities(spark, cfg.quotes)
    assert sum(got.values()) == len(want), "row count differs from distinct quotes sent"
    assert max(got.values()) == 1, "duplicate rows in the table"
    got_set = {(v, c, s, ts.replace(tzinfo=dt.UTC)) for (v, c, s, ts) in got}
    assert got_set == want
    types = dict(spark.table(cfg.quotes).dtypes)
    assert types["price"] == "double" and types["source_ts"] == "timestamp"
    prices = {
        (r.coin_id, r.source_ts.replace(tzinfo=dt.UTC)): r.price
        for r in spark.sql(f"SELECT coin_id, source_ts, price FROM {cfg.quotes}").collect()
    }
    assert all(prices[(q.coin_id, q.source_ts)] == q.price for q in loaded.quotes), "good rows altered"


def test_malformed_records_are_quarantined_with_reason_and_position(spark: Any, loaded: Loaded) -> None:
    cfg = loaded.cfg
    rows = spark.sql(
        f"SELECT raw_value, raw_encoding, reason, kafka_topic, kafka_partition, kafka_offset FROM {cfg.quarantine}"
    ).collect()
    assert len(rows) == len(loaded.bad) > 0
    assert Counter(r.reason for r in rows) == Counter(reason for _, reason in loaded.bad)
    assert {raw_bytes(r.raw_value, r.raw_encoding) for r in rows} == {v for v, _ in loaded.bad}
    assert {r.raw_encoding for r in rows if r.reason == "malformed_binary"} == {"base64"}
    assert all(r.kafka_topic == "coinstream.quotes.main" and r.kafka_offset >= 0 for r in rows)
    positions = {(r.kafka_partition, r.kafka_offset) for r in rows}
    assert len(positions) == len(rows)


def test_table_is_partitioned_by_month(spark: Any, loaded: Loaded) -> None:
    spec = spark.sql(f"SELECT * FROM {loaded.cfg.quotes}.partitions").columns
    assert "partition" in spec
    months = spark.sql(f"SELECT count(*) FROM {loaded.cfg.quotes}.partitions").collect()[0][0]
    assert months == len({(q.source_ts.year, q.source_ts.month) for q in loaded.quotes}) > 1


def test_resent_snapshot_and_backfill_rerun_add_nothing(
    lake: Lake, spark: Any, loaded: Loaded, run_stream: Any, now: dt.datetime
) -> None:
    cfg = loaded.cfg
    before = spark.sql(f"SELECT count(*) FROM {cfg.quotes}").collect()[0][0]
    bad_before = spark.sql(f"SELECT count(*) FROM {cfg.quarantine}").collect()[0][0]
    # The same history produced again (a re-run backfill), with fresh ingest times, each quote
    # in the other encoding (binary where it was JSON): one identity, whatever the wire format.
    again = [q.model_copy(update={"ingest_ts": now + dt.timedelta(minutes=1)}) for q in market_history(now)]
    produce(lake.kafka.bootstrap, "coinstream.quotes.main", again, flip=True)
    run_stream(cfg)
    assert spark.sql(f"SELECT count(*) FROM {cfg.quotes}").collect()[0][0] == before
    # A brand-new checkpoint re-reads the topic from the start: the MERGE still adds nothing.
    run_stream(cfg.model_copy(update={"checkpoint": (lake.home / "checkpoints" / "main-replay").as_uri()}))
    assert spark.sql(f"SELECT count(*) FROM {cfg.quotes}").collect()[0][0] == before
    assert spark.sql(f"SELECT count(*) FROM {cfg.quarantine}").collect()[0][0] == bad_before
    assert max(_identities(spark, cfg.quotes).values()) == 1


def _scrape_quarantined(port: int, topic: str) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {
        sample.labels["reason"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "coinstream_quarantined_records_total" and sample.labels["topic"] == topic
    }


def test_quarantined_records_are_counted_on_the_jobs_metrics_endpoint(lake: Lake, spark: Any, now: dt.datetime) -> None:
    """The series the PrometheusRule `CoinstreamQuarantineGrowing` alerts on, from a real run."""
    from coinstream.lakehouse.stream import start_stream

    cfg = lake.config("metrics")
    topic = "coinstream.quotes.metrics"
    lake.kafka.ensure_topic(topic, 1)
    good = market_history(now)[:40]
    bad = bad_records(now, BAD_KINDS + 1, good[0])  # every reason once, malformed JSON twice
    produce(lake.kafka.bootstrap, topic, good, [(b"usd:bitcoin", v) for v, _ in bad])
    metrics = StreamMetrics()
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    try:
        start_stream(spark, cfg, metrics=metrics).awaitTermination()
        scraped = _scrape_quarantined(port, topic)
        assert scraped == Counter(reason for _, reason in bad) and scraped["malformed_json"] == 2
        stored = spark.sql(f"SELECT reason, count(*) AS n FROM {cfg.quarantine} GROUP BY reason").collect()
        assert {r.reason: r.n for r in stored} == scraped
        assert spark.sql(f"SELECT count(*) FROM {cfg.quotes}").collect()[0][0] == len({q.identity for q in good})
        # What the operator waits for before it calls the feed Ready.
        committed = metrics.value("coinstream_stream_batches_committed_total")
        assert committed >= 1

        # The next run finds nothing new in the topic: the counters stay where they were.
        start_stream(spark, cfg, metrics=metrics).awaitTermination()
        assert _scrape_quarantined(port, topic) == scraped
        assert metrics.value("coinstream_stream_batches_committed_total") == committed
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
