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

from coinstream.lakehouse.job import start_stream_job
from coinstream.local.process import Service
from coinstream.sql import DuckDBEngine
from tests.lakehouse.conftest import Lake
from tests.lakehouse.data import market_history, produce

pytestmark = pytest.mark.integration


def _batches(checkpoint: Path, kind: str) -> set[int]:
    d = checkpoint / kind
    return {int(p.name) for p in d.iterdir() if p.name.isdigit()} if d.exists() else set()


def _kill_mid_batch(job: Service, checkpoint: Path, rng: random.Random, timeout: float = 300.0) -> int:
    """Let this run commit one batch, then kill -9 it at a random moment inside the next one.

    A batch replayed after a restart reuses its old offsets file, so only an offsets
    file newer than this run's first commit proves a batch is really in flight.
    """
    deadline = time.monotonic() + timeout
    done_before = _batches(checkpoint, "commits")
    while not (_batches(checkpoint, "commits") - done_before):
        assert job.running(), f"job died on its own:\n{job.log_tail()}"
        assert time.monotonic() < deadline, "no batch committed in time"
        time.sleep(0.05)
    while time.monotonic() < deadline:
        committed = _batches(checkpoint, "commits")
        in_flight = _batches(checkpoint, "offsets") - committed
        if in_flight and min(in_flight) > max(committed):
            batch = min(in_flight)
            time.sleep(rng.uniform(0.2, 3.0))
            if batch not in _batches(checkpoint, "commits"):
                job.kill()
                return batch
        time.sleep(0.02)
    raise AssertionError("no batch in flight to kill")


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
    rng = random.Random(20)
    for _ in range(3):
        job = start_stream_job(cfg, home)
        killed_in.append(_kill_mid_batch(job, checkpoint, rng))
    assert len(set(killed_in)) == 3, killed_in
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
