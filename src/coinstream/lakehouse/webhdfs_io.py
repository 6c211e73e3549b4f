"""pyiceberg FileIO for an hdfs:// warehouse, spoken over WebHDFS (HTTP) instead of libhdfs.

Why: pyiceberg maps hdfs:// to pyarrow's HadoopFileSystem, which loads libhdfs.so
through JNI. Maven Central ships no libhdfs (it is only in the Hadoop binary
tarball) and pyarrow's wheels do not bundle it, so in this stack that path cannot
work. The NameNode's WebHDFS REST endpoint needs nothing but HTTP: metadata from
the NameNode, bytes streamed from the DataNode it redirects to. Table locations
stay `hdfs://namenode:8020/...` (as Spark and Trino wrote them); only the transport
differs.

Use it with catalog properties:
    py-io-impl   = coinstream.lakehouse.webhdfs_io.WebHdfsFileIO
    webhdfs.url  = http://<namenode>:<http port>
    hdfs.user    = <user> (optional; default: the process user)
"""

from __future__ import annotations

import getpass
from typing import Any
from urllib.parse import urlparse

from pyiceberg.io.fsspec import FsspecFileIO
from pyiceberg.typedef import Properties

WEBHDFS_URL = "webhdfs.url"
HDFS_USER = "hdfs.user"
SCHEMES = ("hdfs", "webhdfs")


def webhdfs_properties(webhdfs_url: str, user: str | None = None) -> dict[str, str]:
    """Catalog properties that route hdfs:// through WebHDFS at `webhdfs_url`."""
    props = {"py-io-impl": f"{__name__}.WebHdfsFileIO", WEBHDFS_URL: webhdfs_url}
    if user:
        props[HDFS_USER] = user
    return props


class WebHdfsFileIO(FsspecFileIO):
    """FsspecFileIO whose hdfs:// (and webhdfs://) scheme is fsspec's WebHDFS client."""

    def __init__(self, properties: Properties):
        super().__init__(properties=properties)
        for scheme in SCHEMES:
            self._scheme_to_fs[scheme] = _webhdfs


def _webhdfs(properties: Properties) -> Any:
    from fsspec.implementations.webhdfs import WebHDFS

    url = properties.get(WEBHDFS_URL)
    if not url:
        raise ValueError(f"WebHdfsFileIO needs the `{WEBHDFS_URL}` property (http://<namenode>:<http port>)")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"{WEBHDFS_URL}={url!r}: expected http(s)://host:port")
    return WebHDFS(
        host=parsed.hostname,
        port=parsed.port or (443 if parsed.scheme == "https" else 9870),
        use_https=parsed.scheme == "https",
        user=properties.get(HDFS_USER) or getpass.getuser(),
    )
