"""A lake for the system tests: a `LocalStack.ephemeral` (Kafka, metastore, Trino started in the
background while Spark warms up, HDFS on demand) plus per-test job configs, each with its own
topic, table and checkpoint so tests sharing the stack stay independent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coinstream.devstack.hdfs import LocalHDFS
from coinstream.devstack.kafka import LocalKafka
from coinstream.devstack.metastore import LocalMetastore
from coinstream.devstack.stack import LocalStack
from coinstream.devstack.trino import LocalTrino
from coinstream.lakehouse.config import LakeConfig
from coinstream.models.quote import Quote


@dataclass
class Lake:
    stack: LocalStack

    @property
    def home(self) -> Path:
        return self.stack.home

    @property
    def kafka(self) -> LocalKafka:
        return self.stack.kafka

    @property
    def metastore(self) -> LocalMetastore:
        return self.stack.metastore

    @property
    def hdfs(self) -> LocalHDFS:
        return self.stack.hdfs

    @property
    def trino(self) -> LocalTrino:
        return self.stack.trino

    @property
    def warehouse(self) -> str:
        return self.stack.warehouse

    def config(self, name: str, **kw: Any) -> LakeConfig:
        """Topic `coinstream.quotes.<name>`, table `quotes_<name>` (`quotes` for `main`), own checkpoint."""
        checkpoints = f"{self.hdfs.uri}/coinstream/checkpoints" if self.stack.on_hdfs else (
            self.home / "checkpoints").as_uri()  # fmt: skip
        base = {
            "bootstrap": self.kafka.bootstrap,
            "topics": rf"coinstream\.quotes\.{name}",
            "warehouse": self.warehouse,
            "metastore_uri": self.metastore.uri,
            "table": "quotes" if name == "main" else f"quotes_{name}",
            "quarantine_table": "quotes_quarantine" if name == "main" else f"quarantine_{name}",
            "checkpoint": f"{checkpoints}/{name}",
            "master": "local[2]",
            "hadoop_conf": self.stack.hadoop_conf,
            "trigger": "availableNow",
            "jvm_profile": "fast-start",  # short runs: JIT warm-up costs more than C2 saves
        }
        return LakeConfig(**{**base, **kw})

    def duckdb(self, table: str) -> Any:
        """The embedded engine's path: HiveCatalog → pyiceberg scan (WebHDFS on hdfs://) → DuckDB."""
        from pyiceberg.catalog.hive import HiveCatalog

        catalog = HiveCatalog(
            "lake", uri=self.metastore.uri, warehouse=self.warehouse, **self.stack.pyiceberg_properties()
        )
        return catalog.load_table(("coinstream", table)).scan().to_duckdb(table_name=table)


@dataclass
class Loaded:
    """What was sent to the main topic, to compare with what landed."""

    quotes: list[Quote]
    bad: list[tuple[bytes, str]]
    duplicates: int
    cfg: LakeConfig


@contextmanager
def spark_session(cfg: LakeConfig, app: str) -> Iterator[Any]:
    """The in-process Spark session the job would build for `cfg` (stopped afterwards)."""
    from coinstream.lakehouse.session import get_spark

    session = get_spark(cfg, app)
    yield session
    session.stop()


@contextmanager
def running_lake(home: Path, *, hdfs: bool = False) -> Iterator[Lake]:
    """Everything up (fails loudly, never skips); everything down afterwards, even after a failure."""
    stack = LocalStack.ephemeral(home)
    try:
        stack.up(trino=True, hdfs=hdfs, trino_in_background=True)
        yield Lake(stack)
    finally:
        stack.down()
