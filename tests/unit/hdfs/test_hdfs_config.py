"""Local stack and chart share one HDFS configuration source: prove they agree."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from coinstream.devstack.hdfs import LocalHDFS
from coinstream.platform.hdfs_config import (
    HADOOP_VERSION,
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
