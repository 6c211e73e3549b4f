"""One real stack for the whole lakehouse suite, on free ports in a temp dir.

Kafka, the Hive metastore, Trino (tests/support/lake.py) and an in-process Spark
session are started once and shared by every test; each
test uses its own topic, table and checkpoint so they stay independent. Any
component failing to start fails the suite loudly — nothing is skipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.support.lake import Lake, Loaded, running_lake, spark_session
from tests.support.lake_data import bad_records, market_history, produce

from coinstream.lakehouse.config import LakeConfig

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    with running_lake(tmp_path_factory.mktemp("lake")) as lake:
        yield lake


@pytest.fixture(scope="session")
def spark(lake: Lake) -> Iterator[Any]:
    with spark_session(lake.config("main"), "coinstream-tests") as session:
        yield session


@pytest.fixture(scope="session")
def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture(scope="session")
def loaded(lake: Lake, spark: Any, now: dt.datetime) -> Loaded:
    """The main table: history + ticks, 10 % re-sent, 1 % malformed, streamed once."""
    from coinstream.lakehouse.stream import start_stream

    cfg = lake.config("main")
    topic = "coinstream.quotes.main"
    lake.kafka.ensure_topic(topic, 3)
    quotes = market_history(now)
    dupes = quotes[::10]
    bad = bad_records(now, len(quotes) // 100, quotes[0])
    produce(lake.kafka.bootstrap, topic, [*quotes, *dupes], [(b"usd:bitcoin", v) for v, _ in bad])
    start_stream(spark, cfg).awaitTermination()
    return Loaded(quotes, bad, len(dupes), cfg)


@pytest.fixture(scope="session")
def run_stream(spark: Any) -> Callable[[LakeConfig], None]:
    from coinstream.lakehouse.stream import start_stream

    def run(cfg: LakeConfig) -> None:
        start_stream(spark, cfg).awaitTermination()

    return run
