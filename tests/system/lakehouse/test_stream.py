"""Kafka → Iceberg: counts, dedup, quarantine, idempotent replays (real Kafka, Spark, metastore)."""

# ruff: noqa: S608  # table identifiers come from validated LakeConfig fields, not user input

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
from tests.support.lake import Lake, Loaded
from tests.support.lake_data import market_history, produce

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
        f"SELECT raw_value, reason, kafka_topic, kafka_partition, kafka_offset FROM {cfg.quarantine}"
    ).collect()
    assert len(rows) == len(loaded.bad) > 0
    assert Counter(r.reason for r in rows) == Counter(reason for _, reason in loaded.bad)
    assert {r.raw_value.encode() for r in rows} == {v for v, _ in loaded.bad}
    assert all(r.kafka_topic == "coinstream.quotes.main" and r.kafka_offset >= 0 for r in rows)
    positions = {(r.kafka_partition, r.kafka_offset) for r in rows}
    assert len(positions) == len(rows)


def test_table_is_partitioned_by_day(spark: Any, loaded: Loaded) -> None:
    spec = spark.sql(f"SELECT * FROM {loaded.cfg.quotes}.partitions").columns
    assert "partition" in spec
    days = spark.sql(f"SELECT count(*) FROM {loaded.cfg.quotes}.partitions").collect()[0][0]
    assert days == len({q.source_ts.date() for q in loaded.quotes})


def test_resent_snapshot_and_backfill_rerun_add_nothing(
    lake: Lake, spark: Any, loaded: Loaded, run_stream: Any, now: dt.datetime
) -> None:
    cfg = loaded.cfg
    before = spark.sql(f"SELECT count(*) FROM {cfg.quotes}").collect()[0][0]
    bad_before = spark.sql(f"SELECT count(*) FROM {cfg.quarantine}").collect()[0][0]
    # The same history produced again (a re-run backfill), with fresh ingest times.
    again = [q.model_copy(update={"ingest_ts": now + dt.timedelta(minutes=1)}) for q in market_history(now)]
    produce(lake.kafka.bootstrap, "coinstream.quotes.main", again)
    run_stream(cfg)
    assert spark.sql(f"SELECT count(*) FROM {cfg.quotes}").collect()[0][0] == before
    # A brand-new checkpoint re-reads the topic from the start: the MERGE still adds nothing.
    run_stream(cfg.model_copy(update={"checkpoint": (lake.home / "checkpoints" / "main-replay").as_uri()}))
    assert spark.sql(f"SELECT count(*) FROM {cfg.quotes}").collect()[0][0] == before
    assert spark.sql(f"SELECT count(*) FROM {cfg.quarantine}").collect()[0][0] == bad_before
    assert max(_identities(spark, cfg.quotes).values()) == 1
