"""A real single-node Apache Kafka broker (KRaft, combined broker+controller) on 127.0.0.1.

Same Kafka version as the Strimzi 1.2.0 chart deploys, from pinned Maven Central
jars. Data and logs live under the state dir, so `down` then `up` keeps topics.
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from coinstream.devstack.jars import classpath, resolve_jars
from coinstream.devstack.jvm import JvmService, java_bin, log4j2_file_config
from coinstream.devstack.process import Service, ServiceError, port_open
from coinstream.ingest.kafka import ensure_topic, list_topics
from coinstream.versions import KAFKA_VERSION


@dataclass
class LocalKafka(JvmService):
    start_timeout = 90.0
    stop_timeout = 60.0

    home: Path
    port: int = 9092
    controller_port: int = 9093
    heap: str = "512m"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def service(self) -> Service:
        return Service("kafka", self.home, [self.port, self.controller_port])

    def _write_config(self) -> Path:
        data = self.home / "data"
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
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
        """The broker's command line; formats the KRaft storage on the first run."""
        jars = resolve_jars("kafka", KAFKA_VERSION)
        cfg = self._write_config()
        if not (self.home / "data" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            argv = self._java(jars, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(cfg))
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise ServiceError(f"formatting Kafka storage failed:\n{proc.stdout}\n{proc.stderr}")
        return self._java(jars, "kafka.Kafka", str(cfg))

    def _ready(self) -> bool:
        if not port_open(self.port):
            return False
        try:
            from kafka import KafkaAdminClient

            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
            try:
                return bool(admin.describe_cluster().get("brokers"))
            finally:
                admin.close()
        except Exception:
            return False

    def ensure_topic(self, name: str, partitions: int, replicas: int = 1) -> bool:
        return ensure_topic(self.bootstrap, name, partitions, replicas)

    def describe(self) -> dict[str, object]:
        return {"bootstrap": self.bootstrap}

    def probe(self) -> dict[str, object]:
        return {"topics": list_topics(self.bootstrap)}
