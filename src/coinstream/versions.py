"""The pinned versions, read from versions.env (the file the Makefile and the scripts read too)."""

from __future__ import annotations

from importlib import resources


def _read() -> dict[str, str]:
    text = resources.files("coinstream").joinpath("versions.env").read_text()
    pairs = (line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


_PINNED = _read()

KAFKA_VERSION = _PINNED["KAFKA_VERSION"]
SPARK_VERSION = _PINNED["SPARK_VERSION"]
ICEBERG_VERSION = _PINNED["ICEBERG_VERSION"]
HADOOP_VERSION = _PINNED["HADOOP_VERSION"]
HIVE_METASTORE_VERSION = _PINNED["HIVE_METASTORE_VERSION"]
TRINO_VERSION = _PINNED["TRINO_VERSION"]
TRINO_HDFS_VERSION = _PINNED["TRINO_HDFS_VERSION"]
KUBE_VERSION = _PINNED["KUBE_VERSION"]
