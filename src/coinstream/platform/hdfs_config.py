"""The one source of HDFS configuration for the local stack and the Helm chart.

Both deployments run the same Hadoop release with the same core-site/hdfs-site
keys; only addresses and directories differ (127.0.0.1 and free ports locally,
0.0.0.0 and Service names in Kubernetes). The local stack renders these dicts to
XML; `make generate` writes the shared ones to `charts/coinstream/files/hdfs-site.yaml`
for the chart to include, so a key changed here changes both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from xml.sax.saxutils import escape

from coinstream.versions import HADOOP_VERSION


@dataclass(frozen=True)
class HdfsPorts:
    """Hadoop 3 default ports; the local stack and tests pass free ones."""

    namenode_rpc: int = 8020
    namenode_http: int = 9870
    datanode_data: int = 9866
    datanode_ipc: int = 9867
    datanode_http: int = 9864

    def all(self) -> list[int]:
        return list(asdict(self).values())


# Keys identical in every deployment (local stack and chart). Addresses, bind
# hosts, directories and the replication factor depend on the deployment.
SHARED_CORE_SITE: dict[str, str] = {
    "hadoop.security.authentication": "simple",
    "hadoop.security.authorization": "false",
    "fs.permissions.umask-mode": "022",
}

#: Settings of every HDFS *client* (Spark's driver and executors, the metastore, Trino, the shell).
#: Closing a file asks the NameNode to `complete` it, which it refuses until a DataNode's
#: incremental block report has confirmed the last block. That report races the client's call
#: and loses by a few milliseconds for about half the files; the client then sleeps its initial
#: back-off before asking again, 400 ms by default. A streaming micro-batch closes a dozen small
#: files, most one after another (checkpoint offsets and commits, state-store deltas, Parquet,
#: manifests, manifest list, metadata JSON): on hdfs:// that was ~2 s of extra time per batch
#: (bench/README.md, "HDFS", which also measures one small file's close by first back-off).
#: A 10 ms first wait, doubling, with 11 retries instead of 5, still waits up to ~20 s for a
#: slow DataNode (the default gives up after ~12 s); the file is closed only once the NameNode
#: has the DataNode's confirmation, as before.
HDFS_CLIENT_SITE: dict[str, str] = {
    "dfs.client.block.write.locateFollowingBlock.initial.delay.ms": "10",
    "dfs.client.block.write.locateFollowingBlock.retries": "11",
}

SHARED_HDFS_SITE: dict[str, str] = {
    **HDFS_CLIENT_SITE,
    "dfs.permissions.enabled": "true",
    "dfs.webhdfs.enabled": "true",
    "dfs.http.policy": "HTTP_ONLY",
    # Pod IPs have no reverse DNS: accept DataNodes by IP.
    "dfs.namenode.datanode.registration.ip-hostname-check": "false",
    "dfs.client.use.datanode.hostname": "false",
    # Leave safe mode only once a DataNode is in: "up" then means "writable".
    "dfs.namenode.safemode.min.datanodes": "1",
    "dfs.datanode.failed.volumes.tolerated": "0",
}

# Local only: one DataNode, so replication 1 and no safe-mode grace period; the
# NameNode notices a stopped DataNode within ~20 s instead of the default 10.5 min,
# so `status` and the failure test see it go and come back.
LOCAL_HDFS_SITE: dict[str, str] = {
    "dfs.replication": "1",
    "dfs.namenode.safemode.extension": "0",
    "dfs.heartbeat.interval": "1",
    "dfs.namenode.heartbeat.recheck-interval": "5000",
    "dfs.namenode.stale.datanode.interval": "10000",
}


def namenode_uri(host: str, port: int) -> str:
    return f"hdfs://{host}:{port}"


def core_site(namenode_host: str, ports: HdfsPorts, tmp_dir: str) -> dict[str, str]:
    return {
        **SHARED_CORE_SITE,
        "fs.defaultFS": namenode_uri(namenode_host, ports.namenode_rpc),
        "hadoop.tmp.dir": tmp_dir,
    }


def local_hdfs_site(*, host: str, ports: HdfsPorts, name_dir: str, data_dir: str) -> dict[str, str]:
    """hdfs-site of the local stack: everything on `host` (127.0.0.1) and the given ports."""
    return {
        **SHARED_HDFS_SITE,
        **LOCAL_HDFS_SITE,
        "dfs.namenode.name.dir": name_dir,
        "dfs.datanode.data.dir": data_dir,
        "dfs.namenode.rpc-bind-host": host,
        "dfs.namenode.http-bind-host": host,
        "dfs.namenode.http-address": f"{host}:{ports.namenode_http}",
        "dfs.datanode.address": f"{host}:{ports.datanode_data}",
        "dfs.datanode.ipc.address": f"{host}:{ports.datanode_ipc}",
        "dfs.datanode.http.address": f"{host}:{ports.datanode_http}",
        "dfs.datanode.hostname": host,
    }


def render_xml(props: dict[str, str]) -> str:
    """A Hadoop `*-site.xml` document, keys sorted so diffs stay readable."""
    body = "".join(
        f"  <property><name>{escape(k)}</name><value>{escape(v)}</value></property>\n" for k, v in sorted(props.items())
    )
    return f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n'


def chart_config() -> dict[str, Any]:
    """What `make generate` writes for the chart (`files/hdfs-site.yaml`).

    The chart merges its values (`hdfs.config.coreSite/hdfsSite`: replication,
    bind hosts, hadoop.tmp.dir) and fs.defaultFS/data dirs over these shared keys.
    """
    return {
        "hadoopVersion": HADOOP_VERSION,
        "coreSite": dict(sorted(SHARED_CORE_SITE.items())),
        "hdfsSite": dict(sorted(SHARED_HDFS_SITE.items())),
    }


def chart_yaml() -> str:
    import yaml

    header = (
        "# Generated by `make generate` from coinstream.platform.hdfs_config: do not edit.\n"
        "# The local stack renders the same keys; change them there and regenerate.\n"
    )
    return header + yaml.safe_dump(chart_config(), sort_keys=False, width=120)


if __name__ == "__main__":
    from coinstream.platform.generated import write_generated

    write_generated(chart_yaml)
