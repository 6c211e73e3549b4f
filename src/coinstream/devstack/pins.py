"""`make pin-jars`: resolve every Java component coinstream uses and pin its jars' SHA-256 sums.

A maintainer's step on a connected machine; the written poms/*.lock files are reviewed like code.
"""

from __future__ import annotations

from pathlib import Path

from coinstream.devstack.jars import pin_jars
from coinstream.devstack.kafka import KAFKA_VERSION
from coinstream.lakehouse.jars import ICEBERG_VERSION, SPARK_VERSION
from coinstream.platform.hdfs_config import HADOOP_VERSION


def pin_all() -> list[Path]:
    return [
        pin_jars("kafka", KAFKA_VERSION),
        pin_jars("hdfs", HADOOP_VERSION),
        pin_jars("spark-lakehouse", SPARK_VERSION, package="coinstream.lakehouse", iceberg=ICEBERG_VERSION),
    ]


if __name__ == "__main__":
    for lock in pin_all():
        print(f"wrote {lock}")
