"""Process configuration from the environment (COINSTREAM_*), frozen once read.

The CoinFeed says *what* to track; Settings say *where this process runs*:
brokers, ports, cache and state dirs, and the CoinGecko key, which only ever
comes from the environment or a mounted Secret file.

This is the one reader of COINSTREAM_* variables. Two components have typed
settings of their own, each under its own prefix, because they also run outside
this process's configuration: the Spark jobs (`COINSTREAM_LAKE_*`, or flags:
coinstream.lakehouse.config.LakeConfig) and the operator (`COINSTREAM_OPERATOR_*`:
coinfeed_operator.config.OperatorConfig). A unit test checks that every
COINSTREAM_* name the tree mentions is one of these.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from coinstream.platform.hdfs_config import HdfsPorts
from coinstream.platform.kafka_auth import KafkaAuth
from coinstream.platform.trino_auth import TrinoAuth, local_ca_file, local_password_file
from coinstream.platform.trino_rules import ANALYST_CATALOG

_HDFS = HdfsPorts()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COINSTREAM_", frozen=True, extra="ignore", populate_by_name=True)

    #: Every download (jars, Trino, Go-built binaries) lands here, keyed by version and checksum.
    cache_dir: Path = Field(default=Path.home() / ".cache" / "coinstream", alias="COINSTREAM_CACHE")
    maven_url: str = "https://repo1.maven.org/maven2"
    state_dir: Path = Path(".state")
    kafka_bootstrap: str = "127.0.0.1:9092"
    #: How clients meet the broker: PLAINTEXT, or SASL_SSL with SCRAM-SHA-512 (the password from a
    #: mounted Secret file or the environment, the CA to trust from a PEM file).
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_sasl_password_file: Path | None = None
    kafka_ssl_ca_file: Path | None = None
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    #: A Kafka client Secret mounted as a directory (bring-your-own Kafka: the keys of
    #: coinstream.platform.kafka_auth.CLIENT_KEYS); when set, it alone says how to authenticate.
    kafka_client_dir: Path | None = None
    #: How long `coinstream feed run` keeps trying a broker that refuses its user or its ACLs before
    #: it gives up: 0 on a laptop (a wrong password fails at once); the operator sets it in pods,
    #: because Strimzi writes a KafkaUser's Secret while the broker may not yet know its password
    #: or ACLs, and a producer that exits there only crash-loops.
    kafka_access_wait_seconds: float = Field(default=0.0, ge=0)
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    metastore_port: int = 9083
    trino_host: str = "127.0.0.1"
    trino_port: int = 8443
    #: Trino answers over https to users of its password file only. Clients read the password from
    #: a mounted Secret file or the environment; without either, from the local stack's state dir
    #: (written at its Trino's first start), and trust that stack's CA.
    trino_user: str = "analyst"
    #: The catalog clients query: the read-only view of the lake (coinstream.platform.trino_rules).
    trino_catalog: str = ANALYST_CATALOG
    trino_password: SecretStr | None = None
    trino_password_file: Path | None = None
    trino_ca_file: Path | None = None
    #: Trino 476 needs Java 24+; the JDK it runs on locally.
    trino_java_home: Path = Path("/usr/lib/jvm/temurin-25-jdk-amd64")
    #: The local Trino's JVM: `fast-start` (serial GC, C1 only: starts quickly on a loaded laptop, what
    #: the test suites use) or `throughput` (G1 and the C2 JIT: long scans run at full speed, for
    #: benchmarks and heavy use).
    trino_jvm: Literal["fast-start", "throughput"] = "fast-start"
    #: The local Trino's heap (-Xmx); its query memory limits are derived from it.
    trino_heap: str = Field(default="1G", pattern=r"^[1-9][0-9]*[MG]$")
    hdfs_namenode_port: int = _HDFS.namenode_rpc
    hdfs_namenode_http_port: int = _HDFS.namenode_http
    hdfs_datanode_port: int = _HDFS.datanode_data
    hdfs_datanode_ipc_port: int = _HDFS.datanode_ipc
    hdfs_datanode_http_port: int = _HDFS.datanode_http
    metrics_port: int = 0
    #: Where /metrics listens: loopback on a laptop; the operator sets 0.0.0.0 in pods.
    metrics_host: str = "127.0.0.1"
    log_level: str = "INFO"
    #: console (key=value, for people) or json (for log collectors; the charts set it).
    log_format: Literal["console", "json"] = "console"
    coingecko_api_key: SecretStr | None = None
    coingecko_api_key_file: Path | None = None
    coingecko_base_url: str | None = None
    #: Hosts besides CoinGecko's that may receive the API key, comma-separated: an administrator's
    #: choice (a proxy, a test server), never a CoinFeed's.
    coingecko_key_hosts: str = ""
    http_connect_timeout: float = 3.05
    http_read_timeout: float = 10.0
    http_deadline: float = 120.0
    #: How long a stopping producer may spend delivering what it queued (below the pod's grace period).
    shutdown_grace_seconds: float = 25.0

    def hdfs_ports(self) -> HdfsPorts:
        return HdfsPorts(
            namenode_rpc=self.hdfs_namenode_port,
            namenode_http=self.hdfs_namenode_http_port,
            datanode_data=self.hdfs_datanode_port,
            datanode_ipc=self.hdfs_datanode_ipc_port,
            datanode_http=self.hdfs_datanode_http_port,
        )

    def api_key(self) -> SecretStr | None:
        """The key from the env, else from the Secret file the operator mounts."""
        if self.coingecko_api_key is not None:
            return self.coingecko_api_key
        if self.coingecko_api_key_file is not None:
            return SecretStr(self.coingecko_api_key_file.read_text().strip())
        return None

    def kafka_auth(self) -> KafkaAuth:
        if self.kafka_client_dir is not None:
            return KafkaAuth.from_client_dir(self.kafka_client_dir)
        return KafkaAuth.from_parts(
            self.kafka_security_protocol,
            self.kafka_sasl_username,
            self.kafka_sasl_password,
            self.kafka_sasl_password_file,
            self.kafka_ssl_ca_file,
            self.kafka_sasl_mechanism,
        )

    def trino_auth(self, user: str | None = None) -> TrinoAuth:
        """`user` (default COINSTREAM_TRINO_USER) of Trino. COINSTREAM_TRINO_PASSWORD(_FILE) belong to
        COINSTREAM_TRINO_USER; without them, the local stack's password file for the user, if any."""
        user = user or self.trino_user
        local = self.state_dir.resolve() / "trino"
        mine = user == self.trino_user
        password, password_file = (self.trino_password, self.trino_password_file) if mine else (None, None)
        if password is None and password_file is None and local_password_file(local, user).exists():
            password_file = local_password_file(local, user)
        ca_file = self.trino_ca_file
        if ca_file is None and local_ca_file(local).exists():
            ca_file = local_ca_file(local)
        return TrinoAuth.from_parts(user, password, password_file, ca_file)

    def key_hosts(self) -> tuple[str, ...]:
        return tuple(h.strip().lower() for h in self.coingecko_key_hosts.split(",") if h.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once (tests that change the environment call cache_clear)."""
    return Settings()
