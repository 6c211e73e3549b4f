"""A real single-node HDFS (one NameNode, one DataNode) on 127.0.0.1.

Same Hadoop release and configuration keys as the chart's HDFS (both come from
`coinstream.platform.hdfs_config`), from pinned Maven Central jars. Metadata and
blocks live under the state dir, so `down` then `up` keeps files. The DataNode
can be stopped and started on its own: that is how the failure tests take the
storage away from a running stream.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coinstream.devstack.jars import resolve_jars
from coinstream.devstack.jvm import java_bin
from coinstream.devstack.process import Service, ServiceError, port_open
from coinstream.platform.hdfs_config import (
    HADOOP_VERSION,
    LOCAL_HDFS_SITE,
    HdfsPorts,
    core_site,
    local_hdfs_site,
    namenode_uri,
    render_xml,
)

HOST = "127.0.0.1"
FS_STATE = "Hadoop:service=NameNode,name=FSNamesystemState"
NN_INFO = "Hadoop:service=NameNode,name=NameNodeInfo"
FS_NAMESYSTEM = "Hadoop:service=NameNode,name=FSNamesystem"
DN_INFO = "Hadoop:service=DataNode,name=DataNodeInfo"

_LOG4J = """\
log4j.rootLogger=INFO,console
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.target=System.err
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n
log4j.logger.BlockStateChange=WARN
log4j.logger.org.apache.hadoop.hdfs.StateChange=WARN
# The NameNode's audit log (one line per namespace operation: create, rename, open, ...), in a
# file of its own as in a Hadoop distribution: what to read when asking which client does what.
log4j.logger.org.apache.hadoop.hdfs.server.namenode.FSNamesystem.audit=INFO,audit
log4j.additivity.org.apache.hadoop.hdfs.server.namenode.FSNamesystem.audit=false
log4j.appender.audit=org.apache.log4j.RollingFileAppender
log4j.appender.audit.File=${hadoop.log.dir}/hdfs-audit.log
log4j.appender.audit.MaxFileSize=16MB
log4j.appender.audit.MaxBackupIndex=1
log4j.appender.audit.layout=org.apache.log4j.PatternLayout
log4j.appender.audit.layout.ConversionPattern=%d{ISO8601} %m%n
log4j.logger.org.apache.hadoop.hdfs.server.datanode.DataNode.clienttrace=WARN
log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR
log4j.logger.org.apache.hadoop.metrics2=WARN
log4j.logger.org.eclipse.jetty=WARN
"""

# Hadoop 3.5 on Java 17 reflects into these JDK packages (its own launch scripts
# pass the same flags).
_JDK17_OPENS = [
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/sun.net.dns=ALL-UNNAMED",
    "--add-opens=java.base/sun.net.util=ALL-UNNAMED",
]


@dataclass
class LocalHDFS:
    """`up()` formats on first start, starts NameNode then DataNode, waits for safe mode to end."""

    home: Path
    ports: HdfsPorts = field(default_factory=HdfsPorts)
    heap: str = "384m"
    _jars: Path | None = field(default=None, init=False, repr=False)

    @property
    def uri(self) -> str:
        """`hdfs://127.0.0.1:<rpc>`: prefix of every path the lakehouse stores here."""
        return namenode_uri(HOST, self.ports.namenode_rpc)

    @property
    def webhdfs_url(self) -> str:
        return f"http://{HOST}:{self.ports.namenode_http}"

    @property
    def audit_log(self) -> Path:
        """The NameNode's audit log: `cmd=<operation> src=<path>` per namespace operation."""
        return self.home / "logs" / "hdfs-audit.log"

    @property
    def conf_dir(self) -> Path:
        return self.home / "conf"

    @property
    def namenode(self) -> Service:
        return Service("hdfs-namenode", self.home, [self.ports.namenode_rpc, self.ports.namenode_http])

    @property
    def datanode(self) -> Service:
        return Service(
            "hdfs-datanode", self.home, [self.ports.datanode_data, self.ports.datanode_ipc, self.ports.datanode_http]
        )

    def site(self) -> dict[str, str]:
        """core-site + hdfs-site as one dict: what a client (Spark, Trino) needs to talk to us."""
        return {**self._core_site(), **self._hdfs_site()}

    def client_site(self) -> dict[str, str]:
        """What a Spark job writing here sets beyond the shared client keys (which every session
        carries): the replication one DataNode can hold. A client's own default (3) would leave
        every block it writes under-replicated for good."""
        return {"dfs.replication": LOCAL_HDFS_SITE["dfs.replication"]}

    def _core_site(self) -> dict[str, str]:
        return core_site(HOST, self.ports, tmp_dir=str(self.home / "tmp"))

    def _hdfs_site(self) -> dict[str, str]:
        return local_hdfs_site(
            host=HOST,
            ports=self.ports,
            name_dir=(self.home / "data" / "namenode").as_uri(),
            data_dir=(self.home / "data" / "datanode").as_uri(),
        )

    def jars(self) -> Path:
        if self._jars is None:
            self._jars = resolve_jars("hdfs", HADOOP_VERSION)
        return self._jars

    def _write_config(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "core-site.xml").write_text(render_xml(self._core_site()))
        (self.conf_dir / "hdfs-site.xml").write_text(render_xml(self._hdfs_site()))
        (self.conf_dir / "log4j.properties").write_text(_LOG4J)
        # HttpServer2 insists on a `webapps/<name>` resource; Maven's jars leave the
        # web UI's static files out, the servlets we use (JMX, WebHDFS) are built in.
        for app in ("hdfs", "datanode"):
            (self.conf_dir / "webapps" / app).mkdir(parents=True, exist_ok=True)

    def _java(self, main: str, *args: str, heap: str | None = None) -> list[str]:
        return [
            java_bin(),
            f"-Xmx{heap or self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            "-Djava.net.preferIPv4Stack=true",
            f"-Dhadoop.home.dir={self.home}",
            f"-Dhadoop.log.dir={self.home / 'logs'}",
            f"-Dlog4j.configuration=file:{self.conf_dir / 'log4j.properties'}",
            *_JDK17_OPENS,
            "-cp",
            f"{self.conf_dir}:{self.jars()}/*",  # the JVM expands dir/*: short, readable `ps`
            main,
            *args,
        ]

    # -- lifecycle ---------------------------------------------------------------------------

    def formatted(self) -> bool:
        return (self.home / "data" / "namenode" / "current" / "VERSION").exists()

    def format(self) -> None:
        argv = self._java("org.apache.hadoop.hdfs.server.namenode.NameNode", "-format", "-force", "-nonInteractive")
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=self.home)
        if proc.returncode != 0 or not self.formatted():
            raise ServiceError(f"formatting the NameNode failed:\n{proc.stderr[-4000:]}")

    def up(self, timeout: float = 120.0, patience: float = 600.0) -> int:
        """Start NameNode and DataNode (formatting on first run); idempotent; the NameNode pid.

        Each step gets its own `timeout` (one slow step does not eat the next one's time), and a
        daemon whose log still grows gets more, up to `patience` (see `Service.start`): at load
        50 on two cores the NameNode alone took most of two minutes.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        self.jars()
        self._write_config()
        if not self.formatted():
            self.format()
        pid = self.namenode.start(
            self._java("org.apache.hadoop.hdfs.server.namenode.NameNode"),
            self._namenode_ready,
            timeout=timeout,
            patience=patience,
        )
        self.datanode_up(timeout=timeout, patience=patience)
        self.wait_writable(timeout=timeout)
        return pid

    def datanode_up(self, timeout: float = 90.0, patience: float | None = None) -> int:
        """Start the DataNode alone (the NameNode must be up); returns once it is registered live."""
        if not self.namenode.running():
            raise ServiceError("start the NameNode first (LocalHDFS.up)")
        self._write_config()
        return self.datanode.start(
            self._java("org.apache.hadoop.hdfs.server.datanode.DataNode"),
            self._datanode_ready,
            timeout=timeout,
            patience=patience,
        )

    def _datanode_ready(self) -> bool:
        """Registered with our NameNode: its block-pool actor runs. (The NameNode's own live
        count lags by up to the heartbeat expiry after a quick restart, so ask the DataNode.)"""
        if not port_open(self.ports.datanode_data):
            return False
        info = self._jmx(DN_INFO, port=self.ports.datanode_http)
        try:
            actors = json.loads(info.get("BPServiceActorInfo") or "[]")
        except ValueError:
            return False
        registered = any(a.get("ActorState") == "RUNNING" and a.get("BlockPoolID") for a in actors)
        # Blocks count as found again only after the DataNode's block report.
        return registered and self.live_datanodes() >= 1 and self.missing_blocks() == 0

    def datanode_down(self, kill: bool = False) -> bool:
        """Stop only the DataNode (clean SIGTERM, or SIGKILL with `kill`): blocks become unreachable."""
        if kill:
            running = self.datanode.running()
            self.datanode.kill()
            return running
        return self.datanode.stop(timeout=30.0)

    def down(self) -> bool:
        """DataNode first, then NameNode, both with SIGTERM; True if anything was running."""
        dn = self.datanode.stop(timeout=30.0)
        nn = self.namenode.stop(timeout=30.0)
        return dn or nn

    def wait_writable(self, timeout: float = 60.0) -> None:
        """Until the NameNode has left safe mode with a live DataNode that reported free space."""
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = self._jmx(FS_STATE)
            # Capacity arrives with the DataNode's first storage report; before it the
            # NameNode has nowhere to put a block.
            if (
                state.get("FSState") == "Operational"
                and state.get("NumLiveDataNodes", 0) >= 1
                and state.get("CapacityRemaining", 0) > 0
            ):
                return
            time.sleep(0.5)
        raise ServiceError(
            f"HDFS still not writable after {timeout:.0f}s (state {state}):\n"
            f"{self.namenode.log_tail(20)}\n{self.datanode.log_tail(20)}"
        )

    def wait_datanodes(self, live: int, timeout: float = 60.0) -> None:
        """Until the NameNode counts exactly `live` live DataNodes (it notices a dead one in ~20 s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.live_datanodes() == live:
                return
            time.sleep(0.5)
        raise ServiceError(f"NameNode did not report {live} live DataNode(s) within {timeout:.0f}s")

    # -- observation -------------------------------------------------------------------------

    def _jmx(self, query: str, port: int | None = None) -> dict[str, Any]:
        url = f"http://{HOST}:{port or self.ports.namenode_http}/jmx?qry={query}"
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                beans = json.load(resp).get("beans", [])
        except (OSError, ValueError):
            return {}
        return beans[0] if beans else {}

    def _namenode_ready(self) -> bool:
        return port_open(self.ports.namenode_rpc) and bool(self._jmx(FS_STATE))

    def missing_blocks(self) -> int:
        return int(self._jmx(FS_NAMESYSTEM).get("MissingBlocks", -1))

    def live_datanodes(self) -> int:
        return int(self._jmx(FS_STATE).get("NumLiveDataNodes", 0))

    def status(self) -> dict[str, object]:
        """Processes, safe mode, capacity and live DataNodes, as the NameNode's JMX reports them."""
        nn_pid, dn_pid = self.namenode.pid(), self.datanode.pid()
        out: dict[str, object] = {
            "running": nn_pid is not None,
            "namenode_pid": nn_pid,
            "datanode_pid": dn_pid,
            "uri": self.uri,
            "webhdfs": self.webhdfs_url,
            "version": HADOOP_VERSION,
        }
        if nn_pid is None:
            return out
        state = self._jmx(FS_STATE)
        if not state:
            out["error"] = "NameNode JMX not answering"
            return out
        info = self._jmx(NN_INFO)
        out.update(
            {
                "state": state.get("FSState"),
                "safemode": bool(info.get("Safemode")),
                "live_datanodes": state.get("NumLiveDataNodes"),
                "dead_datanodes": state.get("NumDeadDataNodes"),
                "capacity_bytes": state.get("CapacityTotal"),
                "used_bytes": state.get("CapacityUsed"),
                "remaining_bytes": state.get("CapacityRemaining"),
                "files": state.get("FilesTotal"),
                "blocks": state.get("BlocksTotal"),
                "missing_blocks": self.missing_blocks(),
            }
        )
        return out

    # -- the real client ---------------------------------------------------------------------

    def dfs(self, *args: str, check: bool = True, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """`hdfs dfs <args>` through Hadoop's own FsShell client against this NameNode."""
        argv = self._java("org.apache.hadoop.fs.FsShell", "-fs", self.uri, *args, heap="256m")
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
        if check and proc.returncode != 0:
            cmd = " ".join(args)
            raise ServiceError(f"hdfs dfs {cmd} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return proc

    def warehouse(self, path: str = "/coinstream/warehouse") -> str:
        """The lakehouse's warehouse URI here, created world-writable with the sticky bit (like
        /tmp): the metastore, Spark and Trino may act as different HDFS users, none may delete
        another's files. The chart's init Job does the same with an owner."""
        return self.ensure_dir(path, mode="1777")

    def pyiceberg_properties(self) -> dict[str, str]:
        """Catalog properties for pyiceberg/DuckDB: hdfs:// over WebHDFS (see coinstream.lakehouse.webhdfs_io)."""
        from coinstream.lakehouse.webhdfs_io import webhdfs_properties

        return webhdfs_properties(self.webhdfs_url)

    def ensure_dir(self, path: str, mode: str = "755") -> str:
        """mkdir -p `path` (absolute, in HDFS); returns its full hdfs:// URI."""
        self.dfs("-mkdir", "-p", path)
        self.dfs("-chmod", mode, path)
        return f"{self.uri}{path}"
