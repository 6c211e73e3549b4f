"""Local stack and chart share one HDFS configuration source: prove they agree."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from coinstream.devstack.hdfs import LocalHDFS
from coinstream.lakehouse.config import LakeConfig
from coinstream.lakehouse.session import spark_conf
from coinstream.platform.hdfs_config import (
    HADOOP_VERSION,
    HDFS_CLIENT_SITE,
    SHARED_CORE_SITE,
    SHARED_HDFS_SITE,
    chart_yaml,
)

ROOT = Path(__file__).resolve().parents[3]
GENERATED = ROOT / "charts" / "coinstream" / "files" / "hdfs-site.yaml"
VALUES = ROOT / "charts" / "coinstream" / "values.yaml"


def test_generated_chart_file_is_current() -> None:
    assert GENERATED.read_text() == chart_yaml(), "run `make generate` and commit the result"


def test_local_stack_renders_every_shared_key_unchanged(tmp_path: Path) -> None:
    site = LocalHDFS(tmp_path).site()
    for key, value in {**SHARED_CORE_SITE, **SHARED_HDFS_SITE}.items():
        assert site[key] == value, key
    assert site["fs.defaultFS"].startswith("hdfs://127.0.0.1:")


def test_chart_runs_the_same_hadoop_and_does_not_contradict_shared_keys() -> None:
    if not VALUES.exists():
        pytest.skip("charts/coinstream/values.yaml not in this checkout yet (charts branch not merged)")
    hdfs = yaml.safe_load(VALUES.read_text())["hdfs"]
    assert str(hdfs["image"]["tag"]) == HADOOP_VERSION
    chart = {**hdfs["config"].get("coreSite", {}), **hdfs["config"].get("hdfsSite", {})}
    shared = {**SHARED_CORE_SITE, **SHARED_HDFS_SITE}
    clashes = {k: (v, shared[k]) for k, v in chart.items() if k in shared and str(v) != shared[k]}
    assert not clashes, f"chart values override shared HDFS keys: {clashes}"


def test_every_spark_session_gets_the_shared_hdfs_client_settings() -> None:
    """The cluster's SparkApplication mounts no Hadoop config: the session recipe carries them."""
    assert HDFS_CLIENT_SITE.items() <= SHARED_HDFS_SITE.items()
    conf = spark_conf(LakeConfig(warehouse="hdfs://nn:8020/wh", jars=[]))
    for key, value in HDFS_CLIENT_SITE.items():
        assert conf[f"spark.hadoop.{key}"] == value, key
    # The short first back-off keeps at least the default's total patience (~12 s) for a slow DataNode.
    first = int(HDFS_CLIENT_SITE["dfs.client.block.write.locateFollowingBlock.initial.delay.ms"])
    retries = int(HDFS_CLIENT_SITE["dfs.client.block.write.locateFollowingBlock.retries"])
    assert first * (2**retries - 1) >= 400 * (2**5 - 1)


def test_a_jobs_own_hadoop_conf_overrides_the_shared_client_settings() -> None:
    key = "dfs.client.block.write.locateFollowingBlock.initial.delay.ms"
    conf = spark_conf(LakeConfig(hadoop_conf={key: "400"}, jars=[]))
    assert conf[f"spark.hadoop.{key}"] == "400"
