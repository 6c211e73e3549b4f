"""Lakehouse pieces that need no services: config, Spark settings, SQL translation, Trino catalog."""

from __future__ import annotations

import pytest
import sqlglot
from pydantic import ValidationError

from coinstream.lakehouse.cli_args import config_from_argv, config_to_argv
from coinstream.lakehouse.config import LakeConfig
from coinstream.lakehouse.jars import artifact_name
from coinstream.lakehouse.session import spark_conf
from coinstream.lakehouse.tables import IDENTITY, quote_columns, quotes_ddl
from coinstream.sql import queries
from coinstream.sql.engines import to_duckdb


def test_argv_round_trip_keeps_every_setting() -> None:
    cfg = LakeConfig(
        bootstrap="k:9092", warehouse="hdfs://nn:8020/warehouse", metastore_uri="thrift://hms:9083",
        trigger="30 seconds", max_offsets_per_trigger=5000, hadoop_conf={"dfs.replication": "1"}, jars=[],
    )  # fmt: skip
    assert config_from_argv(config_to_argv(cfg), "x") == cfg


def test_bad_trigger_is_rejected() -> None:
    with pytest.raises(ValidationError, match="trigger"):
        LakeConfig(trigger="soon")


def test_warehouse_and_hadoop_conf_pass_through_untouched() -> None:
    cfg = LakeConfig(warehouse="hdfs://nn:8020/wh", hadoop_conf={"fs.defaultFS": "hdfs://nn:8020"}, jars=[])
    conf = spark_conf(cfg)
    assert conf["spark.sql.catalog.lake.warehouse"] == "hdfs://nn:8020/wh"
    assert conf["spark.hadoop.fs.defaultFS"] == "hdfs://nn:8020"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert "spark.jars" not in conf and "spark.master" not in conf  # the cluster decides


def test_table_is_typed_and_month_partitioned() -> None:
    cols = dict(quote_columns())
    assert cols["price"] == "DOUBLE" and cols["source_ts"] == "TIMESTAMP" and cols["kafka_offset"] == "BIGINT"
    assert set(IDENTITY) <= set(cols)
    assert "PARTITIONED BY (months(source_ts))" in quotes_ddl(LakeConfig(jars=[]))


def test_jar_artifact_names_strip_versions() -> None:
    assert artifact_name("hadoop-client-api-3.4.2.jar") == "hadoop-client-api"
    assert artifact_name("spark-sql-kafka-0-10_2.13-4.1.3.jar") == "spark-sql-kafka-0-10_2.13"
    assert artifact_name("iceberg-spark-runtime-4.1_2.13-1.12.0.jar") == "iceberg-spark-runtime-4.1_2.13"
    assert artifact_name("hive-exec-2.3.10-core.jar") == "hive-exec"


def _statements() -> dict[str, str]:
    """Every complete query the SQL layer sends, with its placeholders expanded as `Investor` does."""
    fmt = {"coins": "?, ?", "windows": queries._WINDOW_ROW, "coin_rows": "(?)"}
    out = {
        name: value.format(**fmt)
        for name, value in vars(queries).items()
        if name.isupper()
        and not name.startswith("_")
        and isinstance(value, str)
        and value.lstrip().upper().startswith(("SELECT", "WITH"))
        and "{q}" not in value
    }
    for interval in queries.INTERVALS:
        out[f"CANDLES[{interval}]"] = queries.candles_sql(interval)[0].format(**fmt)
    return out


@pytest.mark.parametrize("name", sorted(_statements()))
def test_every_query_parses_as_trino_and_translates_to_duckdb(name: str) -> None:
    sql = _statements()[name]
    sqlglot.parse_one(sql, read="trino")
    duck = to_duckdb(sql)
    assert duck.count("?") == sql.count("?"), "placeholders must survive translation"


def test_cluster_mode_fetches_nothing_at_start() -> None:
    conf = spark_conf(LakeConfig())  # no master: spark-submit in the cluster provides jars
    assert "spark.jars" not in conf and "spark.master" not in conf


def test_jvm_profile_picks_the_driver_jit() -> None:
    throughput = spark_conf(LakeConfig(jars=[]))["spark.driver.extraJavaOptions"]
    fast = spark_conf(LakeConfig(jars=[], jvm_profile="fast-start"))["spark.driver.extraJavaOptions"]
    assert "TieredStopAtLevel" not in throughput and "-XX:TieredStopAtLevel=1" in fast
    with pytest.raises(ValidationError, match="jvm_profile"):
        LakeConfig(jvm_profile="fastest")
