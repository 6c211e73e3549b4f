"""A real Hive metastore thrift service on 127.0.0.1, with an embedded Derby backend.

Version choice (recorded for the chart): Hive **2.3.10**, the metastore server that
pyspark 4.1.3 already ships (hive-metastore-2.3.10.jar + DataNucleus + Derby) — no
extra download, runs on Java 17, and it is the exact client version Spark's and
Iceberg's HiveCatalog speak. Hive 4.1.x's standalone server is not on Maven Central
(its POM 404s; the metadata lists only 4.0.0/4.0.1) and 4.0.x does not support Java 17.
Trino 476 and pyiceberg both speak the 2.3 thrift API.

Derby allows one JVM per database, so every `LocalMetastore` home has its own
`metastore_db`; the warehouse is any Hadoop URI (file:// now, hdfs:// later) and
extra Hadoop settings pass straight through to hive-site.xml.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from coinstream.devstack.jvm import JvmService, java_bin, log4j2_file_config
from coinstream.devstack.process import Service, port_open
from coinstream.platform.hdfs_config import render_xml
from coinstream.versions import HIVE_METASTORE_VERSION

#: Single-file Java launcher (run from source by `java`): prepares the lock tables, then
#: hands over to org.apache.hadoop.hive.metastore.HiveMetaStore.
_LAUNCHER = Path(__file__).parent / "java" / "MetastoreMain.java"


def pyspark_jars() -> Path:
    """pyspark's bundled jar dir: Spark, Hadoop client, Hive 2.3.10 and Derby."""
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


@dataclass
class LocalMetastore(JvmService):
    """A JvmService; `uri` is what Spark, Trino and pyiceberg use."""

    home: Path
    warehouse: str
    port: int = 9083
    heap: str = "384m"
    #: Loopback unless told otherwise: a laptop's metastore has no authentication.
    bind_host: str = "127.0.0.1"
    hadoop_conf: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"thrift://127.0.0.1:{self.port}"

    @property
    def service(self) -> Service:
        return Service("metastore", self.home, [self.port], env={"HADOOP_USER_NAME": _user()})

    def _write_config(self) -> Path:
        conf = self.home / "conf"
        logs = self.home / "logs"
        conf.mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)
        props = {
            "javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={self.home / 'metastore_db'};create=true",
            "javax.jdo.option.ConnectionDriverName": "org.apache.derby.jdbc.EmbeddedDriver",
            "datanucleus.schema.autoCreateAll": "true",
            # BoneCP (Hive 2.3's default pool) is not in pyspark's jars; commons-dbcp is.
            "datanucleus.connectionPoolingType": "DBCP",
            "datanucleus.autoCreateSchema": "true",
            "hive.metastore.schema.verification": "false",
            "hive.metastore.warehouse.dir": self.warehouse,
            "hive.metastore.event.db.notification.api.auth": "false",
            # Iceberg commits take a table lock through the metastore; keep them snappy.
            "hive.metastore.client.socket.timeout": "60",
            # Locks of a killed writer expire quickly instead of blocking the restart for 5 min.
            "hive.txn.timeout": "20",
            "hive.txn.manager": "org.apache.hadoop.hive.ql.lockmgr.DbTxnManager",
            "hive.support.concurrency": "true",
            **self.hadoop_conf,
        }
        (conf / "hive-site.xml").write_text(render_xml(props))
        (conf / "log4j2.properties").write_text(
            log4j2_file_config(logs / "metastore.log", "warn", {"org.apache.hadoop.hive.metastore": "info"})
        )
        return conf

    def argv(self) -> list[str]:
        first_run = not (self.home / "metastore_db").exists()
        conf = self._write_config()
        cp = f"{conf}:{pyspark_jars()}/*"
        return [
            java_bin(),
            f"-Xmx{self.heap}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dderby.system.home={self.home}",
            f"-Dlog4j2.configurationFile={conf / 'log4j2.properties'}",
            "-Dlog4j2.contextSelector=org.apache.logging.log4j.core.selector.ClassLoaderContextSelector",
            # DataNucleus/Hive 2.3 reflect into java.base on JDK 17.
            "--add-opens=java.base/java.lang=ALL-UNNAMED",
            "--add-opens=java.base/java.net=ALL-UNNAMED",
            "--add-opens=java.base/java.util=ALL-UNNAMED",
            f"-Dcoinstream.prepTxnTables={str(first_run).lower()}",
            f"-Dcoinstream.bindHost={self.bind_host}",
            "-cp",
            cp,
            str(_LAUNCHER),
            "-p",
            str(self.port),
        ]

    def _ready(self) -> bool:
        if not port_open(self.port):
            return False
        try:
            return "default" in self.databases()
        except Exception:
            return False

    def databases(self) -> list[str]:
        """A real thrift round trip (get_all_databases), not just an open port."""
        from pyiceberg.catalog.hive import _HiveClient

        with _HiveClient(self.uri) as client:
            return list(client.get_all_databases())

    def describe(self) -> dict[str, object]:
        return {"uri": self.uri, "warehouse": self.warehouse, "version": HIVE_METASTORE_VERSION}

    def probe(self) -> dict[str, object]:
        return {"databases": self.databases()}


def _user() -> str:
    return os.environ.get("HADOOP_USER_NAME") or os.environ.get("USER") or "coinstream"
