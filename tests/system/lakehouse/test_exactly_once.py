"""Exactly-once beyond one clean run: poison, two writers at once, a re-created topic, a new column.

Real Kafka, Spark, Hive metastore and Iceberg (the session stack of conftest.py).
The kill -9 case is test_crash.py.
"""

# ruff: noqa: S608  # table identifiers come from validated LakeConfig fields, not user input

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import Counter
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from tests.support.lake_data import market_history, produce
from tests.system.lakehouse.conftest import Lake

from coinstream.lakehouse.stream import start_stream
from coinstream.lakehouse.tables import quote_columns
from coinstream.lakehouse.writers import PREFIX
from coinstream.models.quote import Quote

pytestmark = pytest.mark.integration


def _identities(spark: Any, table: str) -> Counter[tuple[Any, ...]]:
    rows = spark.sql(f"SELECT vs_currency, coin_id, source, source_ts FROM {table}").collect()
    return Counter(tuple(r) for r in rows)


def _send_raw(bootstrap: str, topic: str, records: list[tuple[bytes, bytes | None]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=2 * 1024 * 1024)
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def _live(now: dt.datetime, n: int, feed: str, offset_s: float = 0.0) -> list[Quote]:
    """`n` live ticks of two coins in the last minutes (inside the dedup horizon: the append path)."""
    base = Quote(
        coin_id="bitcoin", symbol="btc", name="Bitcoin", vs_currency="usd", price=1.0, source="simulated",
        source_ts=now, ingest_ts=now, feed=feed, origin="live", granularity="tick",
    )  # fmt: skip
    out = []
    for i in range(n):
        ts = now - dt.timedelta(seconds=120) + dt.timedelta(milliseconds=int((i + offset_s) * 50))
        coin = ("bitcoin", "ethereum")[i % 2]
        out.append(base.model_copy(update={"coin_id": coin, "price": 100.0 + i, "source_ts": ts, "ingest_ts": ts}))
    return out


def test_poison_records_are_quarantined_once_while_good_rows_commit(lake: Lake, spark: Any, run_stream: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    topic = "coinstream.quotes.poison"
    lake.kafka.ensure_topic(topic, 1)  # one partition: the poison and the good rows share micro-batches
    good = _live(now, 40, "poison")
    template = json.loads(good[0].to_json())
    poison: list[tuple[bytes | None, str]] = [
        (b"this is not json", "malformed_json"),
        (b"{}", "missing_field"),
        (json.dumps({**template, "price": "abc"}).encode(), "invalid_type"),
        (None, "empty_value"),
        (json.dumps({**template, "pad": "x" * 1_000_000}).encode(), "oversized_value"),
        (json.dumps({**template, "schema_version": 2}).encode(), "unknown_schema_version"),
        (json.dumps({**template, "source_ts": "2099-01-01T00:00:00.000Z"}).encode(), "future_timestamp"),
    ]
    records: list[tuple[bytes, bytes | None]] = [(q.key, q.to_json()) for q in good[:20]]
    records += [(b"usd:bitcoin", value) for value, _ in poison]
    records += [(q.key, q.to_json()) for q in good[20:]]
    _send_raw(lake.kafka.bootstrap, topic, records)

    cfg = lake.config("poison")
    run_stream(cfg)
    # A replay of the whole topic from a new checkpoint adds nothing anywhere.
    run_stream(cfg.model_copy(update={"checkpoint": (lake.home / "checkpoints" / "poison-replay").as_uri()}))

    got = _identities(spark, cfg.quotes)
    assert sum(got.values()) == len(good) and max(got.values()) == 1
    rows = spark.sql(f"SELECT reason, raw_value, kafka_offset FROM {cfg.quarantine}").collect()
    assert Counter(r.reason for r in rows) == Counter(reason for _, reason in poison), "each poison once, own reason"
    assert len({r.kafka_offset for r in rows}) == len(poison), "one quarantine row per Kafka record"
    oversized = next(r for r in rows if r.reason == "oversized_value")
    assert len(oversized.raw_value) > 1_000_000  # kept whole: nothing lost


def test_two_feeds_streaming_one_series_into_one_table_leave_no_duplicate(lake: Lake, spark: Any) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)  # quotes travel with millisecond timestamps
    topics = ("coinstream.quotes.twina", "coinstream.quotes.twinb")
    for t in topics:
        lake.kafka.ensure_topic(t, 2)
    base = lake.config("twina", trigger="1 second")
    cfgs = [
        base,
        base.model_copy(
            update={
                "topics": r"coinstream\.quotes\.twinb",
                "checkpoint": (lake.home / "checkpoints" / "twinb").as_uri(),
            }
        ),
    ]
    queries: list[Any] = [None, None]

    def start(i: int) -> None:
        queries[i] = start_stream(spark, cfgs[i])

    starters = [threading.Thread(target=start, args=(i,)) for i in range(2)]  # register at the same time
    for th in starters:
        th.start()
    for th in starters:
        th.join(timeout=600)
    assert all(queries), "a writer did not start (acks between the writers?)"
    # Both feeds see the same market: identical identities, produced into both topics in rounds
    # while both streams commit.
    want: set[tuple[Any, ...]] = set()
    try:
        for r in range(4):
            quotes = _live(now + dt.timedelta(seconds=10 * r), 150, "twin")
            want |= {(q.vs_currency, q.coin_id, q.source, q.source_ts.replace(tzinfo=None)) for q in quotes}
            for t in topics:
                produce(lake.kafka.bootstrap, t, [q.model_copy(update={"feed": t.rsplit(".", 1)[1]}) for q in quotes])
            time.sleep(2)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            progress = [q.lastProgress for q in queries]
            caught_up = all(
                p and all(s["endOffset"] == s["latestOffset"] for s in p["sources"]) and not q.status["isTriggerActive"]
                for p, q in zip(progress, queries, strict=True)
            )
            if caught_up and sum(_identities(spark, base.quotes).values()) >= len(want):
                break
            time.sleep(2)
    finally:
        for q in queries:
            q.stop()
    got = _identities(spark, base.quotes)
    dupes = {k: n for k, n in got.items() if n > 1}
    assert not dupes, f"{len(dupes)} identities twice"
    assert {(v, c, s, ts) for v, c, s, ts in got} == want
    props = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {base.quotes}").collect()}
    writers = [k for k in props if k.startswith(PREFIX)]
    assert len(writers) == 2, writers
    # Both wrote (each feed committed rows through the conflict-checked path).
    ops = spark.sql(
        f"SELECT summary['coinstream.writer'] AS w, operation FROM {base.quotes}.snapshots "
        "WHERE summary['coinstream.writer'] IS NOT NULL"
    ).collect()
    assert len({r.w for r in ops}) == 2


def test_recreated_topic_gets_a_fresh_checkpoint_and_keeps_what_it_holds(
    lake: Lake, spark: Any, run_stream: Any, now: dt.datetime
) -> None:
    topic = "coinstream.quotes.recreate"
    lake.kafka.ensure_topic(topic, 2)
    history = market_history(now, ("bitcoin",), days=10, tick_seconds=600)
    old, new = history[: len(history) // 2], history[len(history) // 2 :]
    produce(lake.kafka.bootstrap, topic, old)
    cfg = lake.config("recreate")
    run_stream(cfg)

    admin = KafkaAdminClient(bootstrap_servers=lake.kafka.bootstrap)
    try:
        admin.delete_topics([topic])
        deadline = time.monotonic() + 60
        while topic in admin.list_topics() and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        admin.close()
    lake.kafka.ensure_topic(topic, 2)
    # The new topic holds new quotes plus part of the old ones re-sent (offsets restart at 0).
    produce(lake.kafka.bootstrap, topic, [*old[-20:], *new])
    run_stream(cfg)  # the old checkpoint's offsets would be past the new topic's end

    got = _identities(spark, cfg.quotes)
    assert sum(got.values()) == len(history) and max(got.values()) == 1
    ckpts = list((lake.home / "checkpoints" / "recreate" / "local").iterdir())
    assert len(ckpts) == 2, "one checkpoint per topic identity"


def test_table_gains_a_new_quote_field_old_rows_stay_readable(
    lake: Lake, spark: Any, run_stream: Any, now: dt.datetime
) -> None:
    cfg = lake.config("evolve")
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {cfg.catalog}.{cfg.namespace}")
    old_cols = [(n, t) for n, t in quote_columns() if n != "origin"]  # a table from before `origin`
    spark.sql(
        f"CREATE TABLE {cfg.quotes} ({', '.join(f'{n} {t}' for n, t in old_cols)}) USING iceberg "
        "PARTITIONED BY (days(source_ts)) TBLPROPERTIES ('format-version'='2')"
    )
    spark.sql(
        f"INSERT INTO {cfg.quotes} ({', '.join(n for n, _ in old_cols)}) SELECT "
        + ", ".join(
            {
                "price": "1.5",
                "source_ts": "TIMESTAMP '2020-01-01 00:00:00'",
                "ingest_ts": "TIMESTAMP '2020-01-01 00:00:00'",
                "lake_ts": "current_timestamp()",
                "schema_version": "1",
                "kafka_partition": "0",
                "kafka_offset": "0",
                "source": "'simulated'",
                "vs_currency": "'usd'",
            }.get(n, "NULL" if t != "STRING" else f"'{n}-old'")
            for n, t in old_cols
        )
    )
    topic = "coinstream.quotes.evolve"
    lake.kafka.ensure_topic(topic, 1)
    quotes = market_history(now, ("bitcoin",), days=3, tick_seconds=600)
    produce(lake.kafka.bootstrap, topic, quotes)
    run_stream(cfg)

    rows = spark.sql(f"SELECT coin_id, origin FROM {cfg.quotes}").collect()
    assert len(rows) == len(quotes) + 1
    old = [r for r in rows if r.coin_id == "coin_id-old"]
    assert len(old) == 1 and old[0].origin is None, "the old row reads the new column as null"
    assert Counter(r.origin for r in rows if r.coin_id == "bitcoin") == Counter(q.origin for q in quotes)
