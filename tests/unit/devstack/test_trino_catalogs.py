"""The local Trino's catalogs: file-system support from the warehouse scheme, a local root that
holds nothing but the warehouse, and the analyst's catalog read-only in the connector."""

from __future__ import annotations

from pathlib import Path

import pytest

from coinstream.devstack.process import ServiceError
from coinstream.devstack.trino import catalog_properties, warehouse_root
from coinstream.platform.trino_rules import ADMIN_CATALOG, ANALYST_CATALOG, access_rules
from coinstream.settings import Settings


def test_catalog_follows_the_warehouse_scheme(tmp_path: Path) -> None:
    local = catalog_properties("thrift://h:1", "file:///tmp/wh", None, local_root=tmp_path)
    assert local["fs.native-local.enabled"] == "true" and "fs.hadoop.enabled" not in local
    assert local["local.location"] == str(tmp_path)
    hdfs = catalog_properties("thrift://h:1", "hdfs://nn:8020/wh", None)
    assert hdfs["fs.hadoop.enabled"] == "true" and hdfs["hive.metastore.uri"] == "thrift://h:1"
    assert "local.location" not in hdfs
    with pytest.raises(ServiceError, match="needs the root"):  # never the machine's root by default
        catalog_properties("thrift://h:1", "file:///tmp/wh", None)


def test_only_the_analysts_catalog_is_read_only_and_the_analyst_sees_only_it() -> None:
    ro = catalog_properties("thrift://h:1", "hdfs://nn:8020/wh", None, read_only=True)
    rw = catalog_properties("thrift://h:1", "hdfs://nn:8020/wh", None)
    assert ro.pop("iceberg.security") == "READ_ONLY" and ro == rw
    rules = access_rules()
    for section in ("catalogs", "schemas", "tables"):
        analyst = [r for r in rules[section] if r["user"] == "analyst"]
        assert analyst and all(r["catalog"] == ANALYST_CATALOG for r in analyst), section
    assert ADMIN_CATALOG != ANALYST_CATALOG
    assert Settings(_env_file=None).trino_catalog == ANALYST_CATALOG  # type: ignore[call-arg]


def test_the_local_root_holds_the_warehouse_at_its_own_path_and_nothing_else(tmp_path: Path) -> None:
    warehouse = tmp_path / "state" / "warehouse"
    (warehouse / "coinstream.db" / "quotes").mkdir(parents=True)
    (warehouse / "coinstream.db" / "quotes" / "v1.metadata.json").write_text("{}")
    secret = tmp_path / "state" / "trino" / "users" / "admin.password"
    secret.parent.mkdir(parents=True)
    secret.write_text("x")
    root = warehouse_root(tmp_path / "state" / "trino" / "fs", warehouse.as_uri())
    assert root.stat().st_mode & 0o777 == 0o700

    def trino_path(location: str) -> Path:
        """What Trino 476's LocalFileSystem.toPath makes of a `file:` location under `root`."""
        path = location.split(":", 1)[1].lstrip("/")
        return root / path

    assert trino_path(f"file:{warehouse}/coinstream.db/quotes/v1.metadata.json").read_text() == "{}"  # Spark's form
    assert trino_path(f"{warehouse.as_uri()}/coinstream.db/quotes").is_dir()
    for outside in (secret, Path("/etc/passwd"), warehouse.parent / "metastore"):
        assert not trino_path(outside.as_uri()).exists(), outside
    # Idempotent; another warehouse gets its own link.
    assert warehouse_root(root, warehouse.as_uri()) == root
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    warehouse_root(root, (moved / "warehouse").as_uri())
    assert (root / str(moved / "warehouse").lstrip("/")).readlink() == moved / "warehouse"


def test_the_local_root_refuses_a_warehouse_at_the_machines_root(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="below /"):
        warehouse_root(tmp_path / "fs", "file:///")


def test_trino_jvm_profile_and_heap_come_from_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from coinstream.devstack.trino import LocalTrino, jvm_options, memory_properties
    from coinstream.settings import get_settings

    assert "-XX:TieredStopAtLevel=1" in jvm_options("fast-start")  # the suites' quick start
    assert not any("TieredStopAtLevel" in o for o in jvm_options("throughput"))  # C2 allowed
    with pytest.raises(ValueError, match="profile"):
        jvm_options("turbo")
    assert memory_properties("1G")["query.max-memory-per-node"] == "384MB"
    assert memory_properties("4G")["memory.heap-headroom-per-node"] == "768MB"
    monkeypatch.setenv("COINSTREAM_TRINO_JVM", "throughput")
    monkeypatch.setenv("COINSTREAM_TRINO_HEAP", "3G")
    get_settings.cache_clear()
    try:
        assert Settings().trino_jvm == "throughput"
        trino = LocalTrino(tmp_path, "thrift://h:1", "file:///tmp/wh")
        assert trino._heap == "3G"
        assert LocalTrino(tmp_path, "thrift://h:1", "file:///tmp/wh", heap="2G")._heap == "2G"
    finally:
        get_settings.cache_clear()
    monkeypatch.setenv("COINSTREAM_TRINO_HEAP", "lots")
    with pytest.raises(ValueError):
        Settings()
