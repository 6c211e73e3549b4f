"""kill -9 the streaming job mid-batch three times: nothing lost, nothing doubled.

The job runs as its own process (as in the cluster). "Mid-batch" is read from the
checkpoint: Spark writes offsets/<n> when a batch starts and commits/<n> when it
is done, so a kill between the two interrupts a batch in flight (possibly inside
its Iceberg commit).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from tests.support.lake import Lake
from tests.support.lake_data import market_history, produce

from coinstream.devstack.process import Service
from coinstream.lakehouse.job import start_stream_job
from coinstream.sql import DuckDBEngine

pytestmark = pytest.mark.integration


def _batches(checkpoint: Path, kind: str) -> set[int]:
    # The job checkpoints below <checkpoint>/<feed uid>/<topic identity>/ (one topic here).
    found = list(checkpoint.glob(f"*/*/{kind}"))
    assert len(found) <= 1, found
    d = found[0] if found else checkpoint / kind
    return {int(p.name) for p in d.iterdir() if p.name.isdigit()} if d.exists() else set()


def _newest_file(root: Path) -> float:
    return max((p.stat().st_mtime for p in root.rglob("*.parquet")), default=0.0) if root.exists() else 0.0


def _kill_mid_batch(job: Service, checkpoint: Path, data: Path, rng: random.Random, timeout: float = 600.0) -> int:
    """kill -9 the job while a batch is writing: offsets/<n> logged, commits/<n> not yet,
    and a data file newer than this run exists (so the MERGE is under way, possibly committing)."""
    began = time.time()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert job.running(), f"job died on its own:\n{job.log_tail()}"
        in_flight = _batches(checkpoint, "offsets") - _batches(checkpoint, "commits")
        if in_flight and _newest_file(data) > began:
            batch = min(in_flight)
            time.sleep(rng.uniform(0.0, 0.5))
            if batch not in _batches(checkpoint, "commits"):
                job.kill()
                return batch
        time.sleep(0.02)
    raise AssertionError(f"no batch caught writing within {timeout:.0f}s:\n{job.log_tail()}")


def test_kill_9_three_times_loses_and_duplicates_nothing(lake: Lake, now: dt.datetime) -> None:
    topic = "coinstream.quotes.crash"
    lake.kafka.ensure_topic(topic, 3)
    quotes = market_history(now, ("bitcoin", "ethereum", "solana"), days=120, tick_seconds=60)
    quotes += quotes[::7]  # re-sent snapshots on top
    produce(lake.kafka.bootstrap, topic, quotes)
    want = len({q.identity for q in quotes})
    cfg = lake.config("crash", trigger="1 second", max_offsets_per_trigger=400)
    checkpoint = Path(urlparse(cfg.checkpoint).path)
    home = lake.home / "crash-job"
    killed_in = []
    data = Path(urlparse(lake.warehouse).path) / "coinstream.db" / "quotes_crash" / "data"
    rng = random.Random(20)
    for _ in range(3):
        job = start_stream_job(cfg, home)
        killed_in.append(_kill_mid_batch(job, checkpoint, data, rng))
    assert len(killed_in) == 3
    job = start_stream_job(cfg.model_copy(update={"trigger": "availableNow", "max_offsets_per_trigger": None}), home)
    deadline = time.monotonic() + 420
    while job.running() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not job.running(), f"drain run did not finish:\n{job.log_tail()}"

    table = "quotes_crash"
    sql = (
        "SELECT (SELECT count(*) FROM {t}) AS n, "
        "(SELECT count(*) FROM (SELECT DISTINCT vs_currency, coin_id, source, source_ts FROM {t}) d) AS d"
    )
    trino_total, trino_distinct = lake.trino.query(sql.format(t=table))[0]
    duck = DuckDBEngine(lake.metastore.uri, lake.warehouse, tables={"q": table})
    duck_total, duck_distinct = duck.query(sql.format(t="q")).iloc[0]
    assert (trino_total, trino_distinct) == (want, want), f"Trino sees {trino_total} rows, want {want}"
    assert (int(duck_total), int(duck_distinct)) == (want, want), f"DuckDB sees {duck_total} rows, want {want}"
