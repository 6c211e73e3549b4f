"""A real single-node HDFS on free ports, shared by the tests of one module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from coinstream.devstack.hdfs import LocalHDFS
from coinstream.devstack.process import free_port
from coinstream.platform.hdfs_config import HdfsPorts


def new_hdfs(home: Path) -> LocalHDFS:
    return LocalHDFS(home, HdfsPorts(*(free_port() for _ in HdfsPorts().all())))


@pytest.fixture(scope="module")
def hdfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHDFS]:
    fs = new_hdfs(tmp_path_factory.mktemp("hdfs"))
    fs.up()
    try:
        yield fs
    finally:
        fs.down()
