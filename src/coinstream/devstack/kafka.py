"""A real single-node Apache Kafka broker (KRaft, combined broker+controller) on 127.0.0.1.

Clients connect on `host` (loopback by default; a test may name another local address, e.g. a
bridge that pods reach, never a wildcard); the controller listener stays on loopback.

Same Kafka version as the Strimzi 1.2.0 chart deploys, from pinned Maven Central
jars. Data and logs live under the state dir, so `down` then `up` keeps topics.

`secure=True` gives the same protection as the cluster's Strimzi listener: SASL_SSL with
SCRAM-SHA-512 for clients, ACLs enforced (StandardAuthorizer, nothing allowed without an ACL),
mutual TLS between the broker and its controller; certificates and passwords are generated into
the state dir. Users are created when the storage is formatted: `admin` (the broker itself, a
super user), `coinstream` (producer, backfill, stream: the `coinstream.` topics and consumer
groups only) and any `extra_users`.
"""

from __future__ import annotations

import base64
import ipaddress
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coinstream.devstack.jars import classpath, resolve_jars
from coinstream.devstack.jvm import JvmService, java_bin, log4j2_file_config
from coinstream.devstack.kafka_tls import BROKER_PRINCIPAL, ServerTLS, write_secret
from coinstream.devstack.process import Service, ServiceError, port_open
from coinstream.ingest.kafka import ensure_topic, list_topics
from coinstream.platform.kafka_auth import KafkaAuth
from coinstream.versions import KAFKA_VERSION

ADMIN_USER = "admin"
APP_USER = "coinstream"
#: What the local app user may do: the coinstream topics (create them too, as `local up -f` and
#: `feed run` do locally) and its consumer groups (Spark's default prefix included).
APP_TOPIC_PREFIX = "coinstream."
APP_GROUP_PREFIXES = ("coinstream", "spark-kafka-source")


@dataclass
class LocalKafka(JvmService):
    start_timeout = 180.0
    stop_timeout = 60.0

    home: Path
    port: int = 9092
    controller_port: int = 9093
    #: The local address of the client listener (advertised as is).
    host: str = "127.0.0.1"
    heap: str = "512m"
    secure: bool = False
    #: More SCRAM users (name -> password) to create at format time; they get no ACL.
    extra_users: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def tls(self) -> ServerTLS:
        return ServerTLS(self.home / "tls", ips=(self.host,))

    def password_file(self, user: str) -> Path:
        return self.home / "users" / f"{user}.password"

    def client_auth(self, user: str = APP_USER) -> KafkaAuth:
        """How a client of this broker authenticates (PLAINTEXT when not secure)."""
        if not self.secure:
            return KafkaAuth()
        return KafkaAuth.from_parts("SASL_SSL", user, None, self.password_file(user), self.tls.ca_file)

    def client_env(self, user: str = APP_USER) -> dict[str, str]:
        """COINSTREAM_KAFKA_* for a process that should talk to this broker as `user`."""
        env = {"COINSTREAM_KAFKA_BOOTSTRAP": self.bootstrap}
        if self.secure:
            env |= {
                "COINSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "COINSTREAM_KAFKA_SASL_USERNAME": user,
                "COINSTREAM_KAFKA_SASL_PASSWORD_FILE": str(self.password_file(user)),
                "COINSTREAM_KAFKA_SSL_CA_FILE": str(self.tls.ca_file),
            }
        return env

    def _admin(self) -> dict[str, Any]:
        return {"security_protocol": "PLAINTEXT"} if not self.secure else self.client_auth(ADMIN_USER).kafka_python()

    def _security_props(self) -> dict[str, str]:
        tls = self.tls
        admin_pw = self.password_file(ADMIN_USER).read_text().strip()
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN_USER}" password="{admin_pw}";'
        )
        return {
            "listeners": f"SASL_SSL://{self.bootstrap},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"SASL_SSL://{self.bootstrap}",
            # SCRAM cannot guard the controller listener (its credentials live in the metadata the
            # controller serves): mutual TLS with the broker's own certificate does.
            "listener.security.protocol.map": "CONTROLLER:SSL,SASL_SSL:SASL_SSL",
            "inter.broker.listener.name": "SASL_SSL",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
            "listener.name.controller.ssl.client.auth": "required",
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(tls.keystore),
            "ssl.keystore.password": tls.password,
            "ssl.key.password": tls.password,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls.ca_file),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{ADMIN_USER};{BROKER_PRINCIPAL}",
            "allow.everyone.if.no.acl.found": "false",
        }

    @property
    def service(self) -> Service:
        return Service("kafka", self.home, [self.port, self.controller_port])

    def _write_config(self) -> Path:
        if ipaddress.ip_address(self.host).is_unspecified:
            raise ServiceError(f"the local broker listens on one address, not on every one ({self.host})")
        data = self.home / "data"
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://{self.bootstrap},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.bootstrap}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": "3",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "5",
            "transaction.state.log.replication.factor": "1",
            # One partition, not 50: the first transactional producer (backfill) waits for them all.
            "transaction.state.log.num.partitions": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "log.retention.hours": "-1",
        }
        if self.secure:
            props.update(self._security_props())
        cfg = self.home / "server.properties"
        cfg.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.home / "log4j2.properties").write_text(
            log4j2_file_config(logs / "server.log", "info", {"org.apache.kafka": "warn"})
        )
        return cfg

    def _java(self, jars: Path, main: str, *args: str) -> list[str]:
        return [
            java_bin(),
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            "-cp",
            classpath(jars),
            main,
            *args,
        ]

    def argv(self) -> list[str]:
        """The broker's command line; formats the KRaft storage on the first run (with the SCRAM
        users when secure, after making the certificates and passwords)."""
        jars = resolve_jars("kafka", KAFKA_VERSION)
        formatted = (self.home / "data" / "meta.properties").exists()
        if self.secure:
            if formatted and not self.password_file(ADMIN_USER).exists():
                raise ServiceError(
                    f"the Kafka state in {self.home} was made without security: start from a fresh state dir "
                    "(`coinstream local down` and remove it) to run the broker secured"
                )
            self.tls.ensure()
            for user in (ADMIN_USER, APP_USER):
                write_secret(self.password_file(user))
        cfg = self._write_config()
        if not formatted:
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            scram = []
            if self.secure:
                users = {u: self.password_file(u).read_text().strip() for u in (ADMIN_USER, APP_USER)}
                users |= self.extra_users
                for name, password in users.items():
                    scram += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
            argv = self._java(
                jars, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(cfg), *scram
            )
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise ServiceError(f"formatting Kafka storage failed:\n{proc.stdout}\n{proc.stderr}")
        return self._java(jars, "kafka.Kafka", str(cfg))

    def up(self, timeout: float | None = None) -> int:
        pid = super().up(timeout)
        if self.secure:
            self.grant_app_acls(APP_USER)
        return pid

    def grant_app_acls(self, user: str) -> None:
        """The ACLs of the local app user, to `user` (idempotent: the broker keeps one copy of an
        identical ACL). Other users are granted them only by a caller that means to."""
        from kafka import KafkaAdminClient
        from kafka.admin import (
            ACL,
            ACLOperation,
            ACLPermissionType,
            ACLResourcePatternType,
            ResourcePattern,
            ResourceType,
        )

        def allow(rtype: Any, name: str, pattern: Any, *ops: Any) -> list[Any]:
            return [
                ACL(f"User:{user}", "*", op, ACLPermissionType.ALLOW, ResourcePattern(rtype, name, pattern))
                for op in ops
            ]

        prefixed, literal = ACLResourcePatternType.PREFIXED, ACLResourcePatternType.LITERAL
        acls = allow(ResourceType.TOPIC, APP_TOPIC_PREFIX, prefixed, ACLOperation.READ, ACLOperation.WRITE,
                     ACLOperation.DESCRIBE, ACLOperation.CREATE)  # fmt: skip
        for group in APP_GROUP_PREFIXES:
            acls += allow(ResourceType.GROUP, group, prefixed, ACLOperation.READ)
        acls += allow(ResourceType.CLUSTER, "kafka-cluster", literal, ACLOperation.IDEMPOTENT_WRITE)
        acls += allow(ResourceType.TRANSACTIONAL_ID, "coinstream-backfill-", prefixed, ACLOperation.WRITE,
                      ACLOperation.DESCRIBE)  # fmt: skip
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10000, **self._admin())
        try:
            result = admin.create_acls(acls)
        finally:
            admin.close()
        if result.get("failed"):
            raise ServiceError(f"granting the ACLs of user {user} failed: {result['failed']}")

    def _ready(self) -> bool:
        if not port_open(self.port, self.host):
            return False
        try:
            from kafka import KafkaAdminClient

            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000, **self._admin())
            try:
                return bool(admin.describe_cluster().get("brokers"))
            finally:
                admin.close()
        except Exception:
            return False

    def ensure_topic(self, name: str, partitions: int, replicas: int = 1) -> bool:
        return ensure_topic(self.bootstrap, name, partitions, replicas, **self._admin())

    def describe(self) -> dict[str, object]:
        security = "SASL_SSL/SCRAM-SHA-512 + ACLs" if self.secure else "PLAINTEXT"
        return {"bootstrap": self.bootstrap, "security": security}

    def probe(self) -> dict[str, object]:
        return {"topics": list_topics(self.bootstrap, **self._admin())}
