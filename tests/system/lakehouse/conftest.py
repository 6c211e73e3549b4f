"""One real stack for the whole lakehouse suite, on free ports in a temp dir.

Kafka, the Hive metastore, Trino and an in-process Spark session are started once
(Trino in the background while Spark warms up) and shared by every test; each
test uses its own topic, table and checkpoint so they stay independent. Any
component failing to start fails the suite loudly — nothing is skipped.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.support.lake_data import bad_records, market_history, produce

from coinstream.devstack.kafka import LocalKafka
from coinstream.devstack.metastore import LocalMetastore
from coinstream.devstack.process import free_port
from coinstream.devstack.trino import LocalTrino
from coinstream.lakehouse.config import LakeConfig
from coinstream.models.quote import Quote

pytestmark = pytest.mark.integration


@dataclass
class Lake:
    home: Path
    kafka: LocalKafka
    metastore: LocalMetastore
    _trino: LocalTrino
    _trino_ready: threading.Event = field(default_factory=threading.Event)
    _trino_error: list[BaseException] = field(default_factory=list)

    @property
    def warehouse(self) -> str:
        return self.metastore.warehouse

    @property
    def trino(self) -> LocalTrino:
        self._trino_ready.wait(timeout=600)
        if self._trino_error:
            raise self._trino_error[0]
        return self._trino

    def config(self, name: str, **kw: Any) -> LakeConfig:
        """A job config of its own: topic `coinstream.quotes.<name>`, table, checkpoint."""
        base = {
            "bootstrap": self.kafka.bootstrap,
            "topics": rf"coinstream\.quotes\.{name}",
            "warehouse": self.warehouse,
            "metastore_uri": self.metastore.uri,
            "table": "quotes" if name == "main" else f"quotes_{name}",
            "quarantine_table": "quotes_quarantine" if name == "main" else f"quarantine_{name}",
            "checkpoint": (self.home / "checkpoints" / name).as_uri(),
            "master": "local[2]",
            "trigger": "availableNow",
        }
        return LakeConfig(**{**base, **kw})


@pytest.fixture(scope="session")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    home = tmp_path_factory.mktemp("lake")
    kafka = LocalKafka(home / "kafka", port=free_port(), controller_port=free_port())
    metastore = LocalMetastore(home / "metastore", (home / "warehouse").as_uri(), port=free_port())
    trino = LocalTrino(home / "trino", metastore.uri, metastore.warehouse, port=free_port())
    lake = Lake(home, kafka, metastore, trino)
    kafka.up()
    metastore.up()

    def start_trino() -> None:
        try:
            trino.up()
        except BaseException as exc:
            lake._trino_error.append(exc)
        finally:
            lake._trino_ready.set()

    threading.Thread(target=start_trino, daemon=True).start()
    try:
        yield lake
    finally:
        lake._trino_ready.wait(timeout=300)
        trino.down()
        metastore.down()
        kafka.down()


@pytest.fixture(scope="session")
def spark(lake: Lake) -> Iterator[Any]:
    from coinstream.lakehouse.session import get_spark

    session = get_spark(lake.config("main"), "coinstream-tests")
    yield session
    session.stop()


@dataclass
class Loaded:
    """What was sent to the main topic, to compare with what landed."""

    quotes: list[Quote]
    bad: list[tuple[bytes, str]]
    duplicates: int
    cfg: LakeConfig


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
