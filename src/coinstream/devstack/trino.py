"""A real single-node Trino 476 (coordinator + worker) with an Iceberg catalog on the metastore.

476 is the last Trino release on Maven Central (477+ are GitHub-only), so the chart
pins the same version. It needs Java 24+: it runs on Temurin 25. Installed from the
`trino-server-core` tarball plus the Iceberg plugin zip (half the size of the full
server), unpacked once into the cache.

The catalogs' file-system support follows the warehouse URI's scheme: native local
for file:// (rooted at a directory that holds only the warehouse), Hadoop for hdfs://
(extra Hadoop settings pass through as a core-site). Two catalogs over the same tables:
`lake`, read-only for everyone, and `iceberg`, writable, the admin's only
(coinstream.platform.trino_rules).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from coinstream.cache import cache_dir, fetch_maven
from coinstream.devstack.jvm import JvmService, java_bin
from coinstream.devstack.kafka_tls import ServerTLS, write_secret
from coinstream.devstack.process import Service, ServiceError, port_open, private_dir, private_files
from coinstream.platform.hdfs_config import render_xml
from coinstream.platform.trino_auth import ADMIN, ANALYST, USERS, TrinoAuth, local_ca_file, local_password_file
from coinstream.platform.trino_rules import ADMIN_CATALOG, ANALYST_CATALOG, access_rules
from coinstream.settings import get_settings
from coinstream.versions import TRINO_HDFS_VERSION, TRINO_VERSION

#: SHA-256 of the Maven Central archives, pinned here (not fetched from the same server).
ARCHIVE_SHA256 = {
    "io.trino:trino-server-core:476:tar.gz": "0f388f9967c177ae70a47c099082fc95387f0c3cb96d8000d1d41fc3a5223158",
    "io.trino:trino-iceberg:476:zip": "99edba5b491ed94d599aeb61e0794272d3569d8b563f3bb8569e8a49daa87b6c",
    "io.trino:trino-hdfs:474:zip": "ad68b961d50f5d37df0c6fc73dbd5b11d862a02aeda0107cd1428597f139b316",
}


def _archive(coords: str) -> Path:
    sha256 = ARCHIVE_SHA256.get(coords)
    if sha256 is None:
        raise ServiceError(f"no pinned sha256 for {coords}: add it to ARCHIVE_SHA256 after checking the artifact")
    return fetch_maven(coords, sha256=sha256)


def install_trino(version: str = TRINO_VERSION) -> Path:
    """Unpack trino-server-core + the Iceberg plugin into the cache once; returns the install dir."""
    root = cache_dir() / "trino" / f"trino-server-{version}"
    if (root / ".done").exists():
        return root
    core = _archive(f"io.trino:trino-server-core:{version}:tar.gz")
    plugin = _archive(f"io.trino:trino-iceberg:{version}:zip")
    tmp = root.with_name(root.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(core) as tar:
        tar.extractall(tmp, filter="data")
    with zipfile.ZipFile(plugin) as zf:
        zf.extractall(tmp)  # noqa: S202  # checksum-verified Maven Central artifact
    top = tmp / f"trino-server-core-{version}"
    (tmp / f"trino-iceberg-{version}").rename(top / "plugin" / "iceberg")
    shutil.rmtree(root, ignore_errors=True)
    top.rename(root)
    shutil.rmtree(tmp, ignore_errors=True)
    (root / ".done").touch()
    return root


#: Trino's HDFS file system (`fs.hadoop.enabled`) lives in `plugin/<connector>/hdfs/`, which the
#: Maven plugin zips leave out; `io.trino:trino-hdfs:<v>:zip` supplies it, but Maven Central
#: has it only for some releases (474, not 476). 474 is the nearest: it is loaded in its own
#: class loader behind the trino-filesystem SPI and reads hdfs:// fine (tests/system/hdfs prove it).


def install_hdfs_support(root: Path, version: str = TRINO_HDFS_VERSION) -> Path:
    """Add `plugin/iceberg/hdfs/` to an install once (only needed for hdfs:// warehouses)."""
    target = root / "plugin" / "iceberg" / "hdfs"
    if (target / ".done").exists():
        return target
    archive = _archive(f"io.trino:trino-hdfs:{version}:zip")
    tmp = root / "plugin" / ".hdfs.part"
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp)  # noqa: S202 - checksum-verified Maven Central archive
    (tmp / "hdfs" / ".done").touch()
    shutil.rmtree(target, ignore_errors=True)
    (tmp / "hdfs").rename(target)
    shutil.rmtree(tmp, ignore_errors=True)
    return target


def on_local_disk(warehouse: str) -> bool:
    return (urlparse(warehouse).scheme or "file") in ("file", "local")


def warehouse_root(root: Path, warehouse: str) -> Path:
    """A file-system root for the catalogs in which nothing but the warehouse exists.

    Trino's local file system resolves a location's path under `local.location` (`file:///a/b` is
    `<root>/a/b`; `..` is normalised away and a path outside the root refused:
    io.trino.filesystem.local.LocalFileSystem.toPath), while the tables' metadata, written by
    Spark, holds absolute `file:` locations. So the root is a directory with one symlink, at the
    warehouse's own absolute path, to the warehouse: every table location resolves as before, and
    every other path of the machine resolves to nothing."""
    target = Path(url2pathname(urlparse(warehouse).path))
    if not target.is_absolute() or target == Path(target.anchor):
        raise ServiceError(f"the warehouse must be an absolute directory below /, not {warehouse!r}")
    link = private_dir(root) / target.relative_to(target.anchor)
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink():
        if Path(os.readlink(link)) == target:
            return root
        link.unlink()
    elif link.exists():
        raise ServiceError(f"{link} is in the way of the warehouse link: remove it")
    link.symlink_to(target, target_is_directory=True)
    return root


def catalog_properties(metastore_uri: str, warehouse: str, hadoop_conf_file: Path | None, *,
                       local_root: Path | None = None, read_only: bool = False) -> dict[str, str]:  # fmt: skip
    """Iceberg-on-Hive-metastore catalog; file-system support chosen from the warehouse scheme.
    `read_only`: the connector refuses every write, DDL, procedure and table procedure, to anyone.
    `local_root` (file:// warehouses): the directory Trino's local file system is confined to."""
    props = {
        "connector.name": "iceberg",
        "iceberg.catalog.type": "hive_metastore",
        "hive.metastore.uri": metastore_uri,
        "iceberg.file-format": "PARQUET",
        # register_table would let a caller adopt any metadata file the server can read as a table.
        "iceberg.register-table-procedure.enabled": "false",
        # Spark's Iceberg writes the same Hive lock; Trino must not keep a stale table cache.
        "hive.metastore-cache-ttl": "0s",
    }
    if read_only:
        props["iceberg.security"] = "READ_ONLY"
    if on_local_disk(warehouse):
        if local_root is None:
            raise ServiceError("a file:// warehouse needs the root Trino's local file system is confined to")
        props["fs.native-local.enabled"] = "true"
        props["local.location"] = str(local_root)
    else:
        props["fs.hadoop.enabled"] = "true"
        if hadoop_conf_file is not None:
            props["hive.config.resources"] = str(hadoop_conf_file)
    return props


#: Single-file Java program hashing the password file's entries with the bcrypt library of
#: Trino's own password-authenticators plugin.
_BCRYPT = Path(__file__).parent / "java" / "BcryptHash.java"


def jvm_options(profile: str) -> list[str]:
    """`fast-start`: serial GC and C1 only, which keep a start under load short but forgo the C2
    compiler on long scans; `throughput`: G1 and tiered compilation up to C2."""
    if profile == "fast-start":
        return ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
    if profile == "throughput":
        return ["-XX:+UseG1GC", "-XX:+ExplicitGCInvokesConcurrent"]
    raise ValueError(f"Trino JVM profile must be 'fast-start' or 'throughput', got {profile!r}")


def memory_properties(heap: str) -> dict[str, str]:
    """Query memory from the heap: 3/8 for a query, 3/16 headroom (384/192 MB at 1 GiB, as before)."""
    mib = int(heap[:-1]) * (1024 if heap.endswith("G") else 1)
    return {
        "query.max-memory": f"{mib * 3 // 8}MB",
        "query.max-memory-per-node": f"{mib * 3 // 8}MB",
        "memory.heap-headroom-per-node": f"{mib * 3 // 16}MB",
    }


def bcrypt_hashes(install: Path, passwords: list[str]) -> list[str]:
    """`$2y$` bcrypt hashes, as Trino's file authenticator expects (passwords go through stdin)."""
    plugin = install / "plugin" / "password-authenticators"
    cp = ":".join(str(j) for j in sorted(plugin.glob("at.favre.lib_*.jar")))
    proc = subprocess.run(
        [java_bin(str(get_settings().trino_java_home)), "-cp", cp, str(_BCRYPT)],
        input="".join(f"{p}\n" for p in passwords), capture_output=True, text=True, check=False,
    )  # fmt: skip
    hashes = proc.stdout.split()
    if proc.returncode != 0 or len(hashes) != len(passwords):
        raise ServiceError(f"hashing Trino's passwords failed: {proc.stderr.strip()[-500:]}")
    return hashes


@dataclass
class LocalTrino(JvmService):
    """A JvmService on loopback, secured like the chart's: HTTPS only (certificate from a local CA in
    the state dir), password authentication (bcrypt file; `analyst` and `admin` with random
    passwords kept 0600 in the state dir), a shared secret for internal communication, file-based
    access control (coinstream.platform.trino_rules). `connect()` is an `admin` connection on the
    writable `iceberg` catalog, for the stack itself and tests (any other user gets the read-only
    `lake`); `auth(user)` gives clients theirs."""

    #: A loaded 2-core machine needs minutes: plugins, catalogs, then the first query over TLS.
    start_timeout = 600.0

    home: Path
    metastore_uri: str
    warehouse: str
    port: int = 8443
    #: -Xmx and the JVM profile; None: the settings' (COINSTREAM_TRINO_HEAP, COINSTREAM_TRINO_JVM).
    heap: str | None = None
    jvm: str | None = None
    bind_host: str = "127.0.0.1"
    hadoop_conf: dict[str, str] = field(default_factory=dict)
    version: str = TRINO_VERSION

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def _heap(self) -> str:
        return self.heap or get_settings().trino_heap

    @property
    def service(self) -> Service:
        return Service("trino", self.home, [self.port])

    @property
    def tls(self) -> ServerTLS:
        return ServerTLS(self.home / "tls", name="trino")

    @property
    def ca_file(self) -> Path:
        return local_ca_file(self.home)

    def auth(self, user: str = ADMIN) -> TrinoAuth:
        """`user`'s credentials (after the first start): the password file and the local CA."""
        return TrinoAuth.local(self.home, user)

    def client_env(self, user: str = ANALYST) -> dict[str, str]:
        """COINSTREAM_TRINO_* for a client process (a notebook kernel) acting as `user`: file paths only."""
        return {
            "COINSTREAM_TRINO_USER": user,
            "COINSTREAM_TRINO_PASSWORD_FILE": str(local_password_file(self.home, user)),
            "COINSTREAM_TRINO_CA_FILE": str(self.ca_file),
            "COINSTREAM_TRINO_CATALOG": ADMIN_CATALOG if user == ADMIN else ANALYST_CATALOG,
        }

    def _secure(self, install: Path, etc: Path) -> dict[str, str]:
        """Key material and users, made once; the config properties that turn them on."""
        self.tls.ensure()
        passwords = {u: write_secret(local_password_file(self.home, u)) for u in USERS}
        db = etc / "password.db"
        if not db.exists():
            hashes = bcrypt_hashes(install, list(passwords.values()))
            db.write_text("".join(f"{u}:{h}\n" for u, h in zip(passwords, hashes, strict=True)))
        db.chmod(0o600)
        auth_props = etc / "password-authenticator.properties"
        auth_props.write_text(f"password-authenticator.name=file\nfile.password-file={db}\n")
        rules = etc / "rules.json"
        rules.write_text(json.dumps(access_rules(), indent=2))
        acl_props = etc / "access-control.properties"
        acl_props.write_text(f"access-control.name=file\nsecurity.config-file={rules}\n")
        return {
            # No plain HTTP at all: clients and the node's own internal calls go over TLS.
            "http-server.http.enabled": "false",
            "http-server.https.enabled": "true",
            "http-server.https.port": str(self.port),
            "http-server.https.keystore.path": str(self.tls.keystore),
            "http-server.https.keystore.key": self.tls.password,
            "http-server.authentication.type": "PASSWORD",
            "password-authenticator.config-files": str(auth_props),
            "access-control.config-files": str(acl_props),
            "internal-communication.shared-secret": write_secret(self.home / "internal.secret"),
            "internal-communication.https.required": "true",
            "internal-communication.https.truststore.path": str(self.ca_file),
            "discovery.uri": self.url,
        }

    def _write_config(self, install: Path) -> Path:
        private_dir(self.home)
        etc = private_dir(self.home / "etc")
        (etc / "catalog").mkdir(parents=True, exist_ok=True)
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = {
            "coordinator": "true",
            "node-scheduler.include-coordinator": "true",
            "plugin.dir": str(install / "plugin"),
            "catalog.config-dir": str(etc / "catalog"),
            **memory_properties(self._heap),
            "task.concurrency": "2",
            "task.max-worker-threads": "4",
            "node-scheduler.max-splits-per-node": "32",
            **self._secure(install, etc),
        }
        (etc / "config.properties").write_text("".join(f"{k}={v}\n" for k, v in config.items()))
        (etc / "config.properties").chmod(0o600)
        (etc / "log.properties").write_text("io.trino=WARN\nio.trino.server.Server=INFO\n")
        conf_file = None
        if self.hadoop_conf:
            conf_file = etc / "core-site.xml"
            conf_file.write_text(render_xml(self.hadoop_conf))
        root = warehouse_root(self.home / "fs", self.warehouse) if on_local_disk(self.warehouse) else None
        for name, read_only in ((ANALYST_CATALOG, True), (ADMIN_CATALOG, False)):
            props = catalog_properties(self.metastore_uri, self.warehouse, conf_file, local_root=root,
                                       read_only=read_only)  # fmt: skip
            (etc / "catalog" / f"{name}.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        node_id = self.home / "node.id"
        if not node_id.exists():
            node_id.write_text(uuid.uuid4().hex)
        return etc

    def argv(self) -> list[str]:
        install = install_trino(self.version)
        if not on_local_disk(self.warehouse):
            install_hdfs_support(install)
        java_home = get_settings().trino_java_home
        if not (java_home / "bin" / "java").exists():
            raise ServiceError(
                f"Trino {self.version} needs Java 24+: no JDK at {java_home} (set COINSTREAM_TRINO_JAVA_HOME)"
            )
        with private_files():
            etc = self._write_config(install)
        java = java_bin(str(java_home))
        return [
            java,
            f"-Xmx{self._heap}",
            *jvm_options(self.jvm or get_settings().trino_jvm),
            "-XX:+ExitOnOutOfMemoryError",
            "-XX:+EnableDynamicAgentLoading",
            "-Djdk.attach.allowAttachSelf=true",
            "-Dfile.encoding=UTF-8",
            "-Djava.net.preferIPv4Stack=true",
            "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--sun-misc-unsafe-memory-access=allow",
            "-Dnode.environment=coinstream",
            # Loopback only: HTTPS server, discovery and internal communication.
            f"-Dnode.bind-ip={self.bind_host}",
            f"-Dnode.internal-address={self.bind_host}",
            f"-Dnode.id={(self.home / 'node.id').read_text().strip()}",
            f"-Dnode.data-dir={self.home / 'data'}",
            f"-Dconfig={etc / 'config.properties'}",
            f"-Dlog.levels-file={etc / 'log.properties'}",
            f"-Dlog.output-file={self.home / 'logs' / 'server.log'}",
            "-cp",
            f"{install / 'lib'}/*",
            "io.trino.server.TrinoServer",
        ]

    def _ready(self) -> bool:
        if not port_open(self.port):
            return False
        try:
            info = self.auth().session().get(f"{self.url}/v1/info", timeout=2).json()
            if info.get("starting", True):
                return False
            return bool(self.query("SELECT 1"))
        except Exception:
            return False

    def connect(self, schema: str = "coinstream", user: str = ADMIN, catalog: str | None = None) -> Any:
        catalog = catalog or (ADMIN_CATALOG if user == ADMIN else ANALYST_CATALOG)
        return self.auth(user).connect("127.0.0.1", self.port, catalog=catalog, schema=schema)

    def query(self, sql: str, params: list[object] | None = None, *, user: str = ADMIN,
              catalog: str | None = None) -> list[tuple[object, ...]]:  # fmt: skip
        conn = self.connect(user=user, catalog=catalog)
        try:
            cur = conn.cursor()
            cur.execute(sql, params)
            return [tuple(r) for r in cur.fetchall()]
        finally:
            conn.close()

    def describe(self) -> dict[str, object]:
        return {"url": self.url, "version": self.version, "ca_file": str(self.ca_file)}
