"""The embedded engine's path to hdfs://: pyiceberg FileIO over WebHDFS against the real HDFS."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from coinstream.devstack.hdfs import LocalHDFS
from coinstream.lakehouse.webhdfs_io import WebHdfsFileIO, webhdfs_properties

pytestmark = pytest.mark.integration


def test_fileio_round_trips_parquet_on_hdfs(hdfs: LocalHDFS) -> None:
    hdfs.ensure_dir("/coinstream/fileio", mode="777")
    fileio = WebHdfsFileIO(webhdfs_properties(hdfs.webhdfs_url))
    location = f"{hdfs.uri}/coinstream/fileio/prices.parquet"
    table = pa.table({"coin_id": ["bitcoin", "ethereum"], "price": [97000.5, 3500.25]})
    buf = io.BytesIO()
    pq.write_table(table, buf)

    with fileio.new_output(location).create(overwrite=True) as out:
        out.write(buf.getvalue())

    infile = fileio.new_input(location)
    assert infile.exists()
    assert len(infile) == len(buf.getvalue())
    with infile.open() as f:
        assert pq.read_table(f).equals(table)
    # The Java client sees the very same file: one storage, two transports.
    assert "prices.parquet" in hdfs.dfs("-ls", "/coinstream/fileio").stdout

    fileio.delete(location)
    assert not fileio.new_input(location).exists()


def test_fileio_without_webhdfs_url_fails_clearly() -> None:
    with pytest.raises(ValueError, match=r"webhdfs\.url"):
        WebHdfsFileIO({}).new_input("hdfs://127.0.0.1:1/x").exists()
