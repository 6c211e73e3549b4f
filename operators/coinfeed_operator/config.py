"""Operator settings (COINSTREAM_OPERATOR_*): where the platform runs, not what a feed tracks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: Image references must be pinned: a tag other than `latest`, or a digest.
_PINNED = r"^[a-z0-9][a-z0-9./_-]*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|@sha256:[0-9a-f]{64})$"


class OperatorConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COINSTREAM_OPERATOR_", frozen=True, extra="ignore")

    kubeconfig: Path | None = Field(default=None, description="Unset: in-cluster ServiceAccount")
    field_manager: str = "coinfeed-operator"
    kafka_cluster: str = Field(default="coinstream", description="Strimzi Kafka CR name (same namespace)")
    #: Strimzi's TLS listener with SCRAM-SHA-512 (the platform chart's `tls` listener).
    kafka_bootstrap: str = "coinstream-kafka-bootstrap:9093"
    #: scram-sha-512: each feed gets a KafkaUser (ACLs on its own topic) and its pods mount the
    #: user's Secret and the cluster CA. none: a plain listener (development clusters only).
    kafka_authentication: Literal["scram-sha-512", "none"] = "scram-sha-512"
    kafka_ca_secret: str | None = Field(default=None, description="Default: <kafkaCluster>-cluster-ca-cert (Strimzi)")
    #: strimzi: the platform chart's Strimzi cluster; topics and users are Strimzi objects.
    #: external: a Kafka of the user's own (MSK, Confluent, Redpanda, ...) at `kafka_bootstrap`; the
    #: operator creates and updates topics through the Kafka admin API, and every feed's pods
    #: mount the Secret `kafka_client_secret` (keys: coinstream.platform.kafka_auth.CLIENT_KEYS).
    kafka_mode: Literal["strimzi", "external"] = "strimzi"
    kafka_client_secret: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="external mode: the client Secret every feed's namespace holds (mounted into its pods)",
    )
    #: external mode: the operator's own copy of that Secret, mounted by its chart (the operator
    #: may not read Secrets through the API). Unset: PLAINTEXT without authentication.
    kafka_client_dir: Path | None = None
    #: external mode: seconds each Kafka admin request may take.
    kafka_admin_timeout_seconds: float = Field(default=15.0, gt=0)
    producer_image: str = Field(default="ghcr.io/coinstream/coinstream:0.1.0", pattern=_PINNED)
    spark_image: str = Field(default="ghcr.io/coinstream/coinstream-spark:0.1.0", pattern=_PINNED)
    spark_version: str = "4.1.3"
    spark_namespace: str | None = Field(
        default=None, description="Run every SparkApplication here; unset: in the CoinFeed's namespace"
    )
    spark_service_account: str = "coinstream-spark"
    spark_main_file: str = "local:///opt/coinstream/src/coinstream/lakehouse/jobs/stream_quotes.py"
    #: Driver and executor size. Spark sizes each pod as memory + overhead, and for PySpark the
    #: overhead defaults to max(0.4 x memory, 384 MiB); a small node needs all three set.
    spark_memory: str = Field(default="1g", pattern=r"^[0-9]+[kmgt]$")
    spark_memory_overhead: str | None = Field(default=None, pattern=r"^[0-9]+[kmgt]$")
    #: CPU each Spark pod requests (a Kubernetes quantity); Spark itself still runs `cores` tasks.
    spark_core_request: str = Field(default="1", pattern=r"^[0-9]+(\.[0-9]+)?m?$")
    spark_catalog: str = Field(default="lake", pattern=r"^[a-z_][a-z0-9_]*$")
    warehouse_uri: str = "hdfs://coinstream-hdfs-namenode:8020/warehouse"
    metastore_uri: str = "thrift://coinstream-metastore:9083"
    checkpoint_root: str | None = Field(default=None, description="Default: <warehouseUri>/_checkpoints")
    #: HDFS trusts the user a client names (simple auth): Spark must act as the warehouse owner
    #: (the platform chart's hdfs.user) or it cannot write the tables. None: leave it unset.
    hdfs_user: str | None = Field(default="coinstream", pattern=r"^[a-z_][a-z0-9_-]*$")
    #: Replicas of each file the stream writes. HDFS takes it from the client, not the NameNode,
    #: so a cluster with fewer DataNodes than the client's default of 3 (the laptop profile has
    #: one) keeps every block under-replicated unless the job is told. None: the client default.
    hdfs_replication: int | None = Field(default=None, ge=1, le=32)
    #: Hosts besides CoinGecko's that a feed's `baseUrl` may name together with an API key
    #: (an egress proxy, a mirror): the administrator's list; the coinstream-crds chart's
    #: `apiKeyHosts` must list the same hosts. Comma-separated in the environment.
    api_key_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    #: Prometheus port of the producer pods, and of the operator itself when serve_metrics is on.
    metrics_port: int = Field(default=9100, ge=1024, le=65535)
    serve_metrics: bool = Field(default=False, description="Serve the operator's own /metrics")
    #: How often every feed's children are re-applied (drift repair) and their health re-read.
    drift_interval_seconds: float = Field(default=60.0, gt=0)
    #: Handler threads. A handful: each reconcile is a chain of API round-trips, and when the
    #: API server is the bottleneck more threads only interleave feeds and delay all of them.
    max_workers: int = Field(default=4, ge=1, le=256)

    @model_validator(mode="after")
    def _external_needs_secret(self) -> OperatorConfig:
        if self.kafka_mode == "external" and not self.kafka_client_secret:
            raise ValueError(
                "COINSTREAM_OPERATOR_KAFKA_MODE=external needs COINSTREAM_OPERATOR_KAFKA_CLIENT_SECRET: the "
                "Secret with the Kafka client settings that every feed's pods mount"
            )
        return self

    @property
    def external_kafka(self) -> bool:
        return self.kafka_mode == "external"

    @field_validator("api_key_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, v: object) -> object:
        if isinstance(v, str):
            return tuple(h.strip().lower() for h in v.split(",") if h.strip())
        return v

    @field_validator("producer_image", "spark_image")
    @classmethod
    def _not_latest(cls, v: str) -> str:
        if v.endswith(":latest"):
            raise ValueError("images must be pinned to a version or digest, never :latest")
        return v

    @property
    def kafka_ca(self) -> str:
        return self.kafka_ca_secret or f"{self.kafka_cluster}-cluster-ca-cert"

    @property
    def checkpoints(self) -> str:
        return self.checkpoint_root or f"{self.warehouse_uri.rstrip('/')}/_checkpoints"
