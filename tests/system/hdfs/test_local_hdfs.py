"""HDFS alone: the real NameNode/DataNode, written and read with Hadoop's own client."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from coinstream.devstack.hdfs import LocalHDFS
from coinstream.devstack.process import port_open

pytestmark = pytest.mark.integration

PAYLOAD = "bitcoin,usd,97000.5\nethereum,usd,3500.25\n"


def test_up_write_read_and_status(hdfs: LocalHDFS, tmp_path: Path) -> None:
    src = tmp_path / "quotes.csv"
    src.write_text(PAYLOAD)
    hdfs.ensure_dir("/coinstream/smoke")
    hdfs.dfs("-put", "-f", str(src), "/coinstream/smoke/quotes.csv")

    assert hdfs.dfs("-cat", "/coinstream/smoke/quotes.csv").stdout == PAYLOAD
    listing = hdfs.dfs("-ls", "/coinstream/smoke").stdout
    assert "/coinstream/smoke/quotes.csv" in listing

    status = hdfs.status()
    assert status["running"] is True
    assert status["state"] == "Operational"
    assert status["safemode"] is False
    assert status["live_datanodes"] == 1
    assert status["missing_blocks"] == 0
    assert isinstance(status["capacity_bytes"], int) and status["capacity_bytes"] > 0
    assert isinstance(status["blocks"], int) and status["blocks"] >= 1


def test_webhdfs_serves_the_same_bytes(hdfs: LocalHDFS) -> None:
    """The REST path the embedded engine reads through redirects to our DataNode on 127.0.0.1."""
    url = f"{hdfs.webhdfs_url}/webhdfs/v1/coinstream/smoke/quotes.csv?op=OPEN&user.name=coinstream"
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - local test port
        assert resp.read().decode() == PAYLOAD
    url = f"{hdfs.webhdfs_url}/webhdfs/v1/coinstream/smoke?op=LISTSTATUS"
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310
        names = [f["pathSuffix"] for f in json.load(resp)["FileStatuses"]["FileStatus"]]
    assert names == ["quotes.csv"]


def test_datanode_stop_makes_blocks_unreadable_and_start_brings_them_back(hdfs: LocalHDFS) -> None:
    hdfs.datanode_down()
    assert not hdfs.datanode.running()
    hdfs.wait_datanodes(live=0, timeout=60)
    assert hdfs.status()["dead_datanodes"] == 1
    # Metadata is on the NameNode, the bytes are not: listing works, reading fails.
    assert "quotes.csv" in hdfs.dfs("-ls", "/coinstream/smoke").stdout
    failed = hdfs.dfs(
        "-D", "dfs.client.max.block.acquire.failures=1", "-cat", "/coinstream/smoke/quotes.csv", check=False
    )
    assert failed.returncode != 0
    assert "BlockMissingException" in failed.stderr or "Could not obtain block" in failed.stderr

    hdfs.datanode_up()
    hdfs.wait_datanodes(live=1)
    assert hdfs.dfs("-cat", "/coinstream/smoke/quotes.csv").stdout == PAYLOAD


def _still_open(ports: list[int], grace: float = 10.0) -> list[int]:
    """Ports still accepting connections after `grace` s (a listener can outlive its pid by a
    moment while the kernel tears the socket down)."""
    deadline = time.monotonic() + grace
    while (open_ := [p for p in ports if port_open(p)]) and time.monotonic() < deadline:
        time.sleep(0.5)
    return open_


def test_down_then_up_keeps_data_and_cluster(hdfs: LocalHDFS) -> None:
    cluster_id = (hdfs.home / "data" / "namenode" / "current" / "VERSION").read_text()
    assert hdfs.down() is True
    assert hdfs.status()["running"] is False
    assert not hdfs.namenode.running() and not hdfs.datanode.running()
    assert _still_open(hdfs.ports.all()) == []

    hdfs.up()
    assert (hdfs.home / "data" / "namenode" / "current" / "VERSION").read_text() == cluster_id
    assert hdfs.dfs("-cat", "/coinstream/smoke/quotes.csv").stdout == PAYLOAD
    assert hdfs.status()["live_datanodes"] == 1
    assert hdfs.down() is True
    assert hdfs.down() is False


def test_namenode_and_datanode_listen_on_loopback_only(hdfs: LocalHDFS) -> None:
    from tests.support.sockets import beyond_loopback, listening

    hdfs.up()  # idempotent: the module's earlier tests may have left the cluster down
    for service in (hdfs.namenode, hdfs.datanode):
        pid = service.pid()
        assert pid is not None and listening(pid), f"{service.name} is not listening"
        assert beyond_loopback(pid) == [], f"{service.name} listens beyond loopback: {beyond_loopback(pid)}"
