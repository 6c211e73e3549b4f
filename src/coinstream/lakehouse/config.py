"""Where the lakehouse job reads and writes: arguments or COINSTREAM_LAKE_* env, nothing else.

The same settings drive the job locally and as a SparkApplication in the cluster;
the warehouse is one URI (file:// now, hdfs:// later) and Hadoop settings pass
through untouched, so no code path depends on the storage scheme.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from coinstream.platform.kafka_auth import KafkaAuth

_INTERVAL = re.compile(r"^([1-9][0-9]*) (second|minute|hour)s?$")
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600}
_TRIGGER = re.compile(r"^(availableNow|once|[1-9][0-9]* (millisecond|second|minute)s?)$")


class LakeConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COINSTREAM_LAKE_", frozen=True, extra="ignore")

    bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers")
    kafka_security_protocol: str = Field(default="PLAINTEXT", description="PLAINTEXT, SASL_SSL (SCRAM-SHA-512) or SSL")
    kafka_username: str | None = Field(default=None, description="SCRAM user (the feed's KafkaUser)")
    kafka_password_file: str | None = Field(
        default=None, description="File holding the SCRAM password (a mounted Secret; never a flag value)"
    )
    kafka_ca_file: str | None = Field(default=None, description="PEM CA bundle the broker's certificate chains to")
    kafka_sasl_mechanism: str = Field(default="SCRAM-SHA-512", description="SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN")
    kafka_client_dir: str | None = Field(
        default=None,
        description="A Kafka client Secret mounted as a directory (bring-your-own Kafka); when set, the "
        "other kafka_* settings are not used",
    )
    group_id_prefix: str | None = Field(
        default=None, description="Consumer group prefix (the KafkaUser's ACLs allow exactly this prefix)"
    )
    topics: str = Field(default=r"coinstream\.quotes\..*", description="Kafka topic regex (subscribePattern)")
    warehouse: str = Field(default="file:///tmp/coinstream/warehouse", description="Warehouse URI")
    metastore_uri: str = Field(default="thrift://127.0.0.1:9083")
    catalog: str = Field(default="lake", pattern=r"^[a-z_][a-z0-9_]*$")
    namespace: str = Field(default="coinstream", pattern=r"^[a-z_][a-z0-9_]*$")
    table: str = Field(default="quotes", pattern=r"^[a-z_][a-z0-9_]*$")
    quarantine_table: str = Field(default="quotes_quarantine", pattern=r"^[a-z_][a-z0-9_]*$")
    checkpoint: str = Field(
        default="file:///tmp/coinstream/checkpoints/quotes",
        description="Checkpoint root; the job uses <root>/<feed uid>/<topic identity> below it",
    )
    feed_uid: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="The CoinFeed's metadata.uid: a re-created feed starts a fresh checkpoint",
    )
    trigger: str = Field(default="5 seconds", description="'N seconds', 'availableNow' or 'once'")
    max_offsets_per_trigger: int | None = Field(default=None, ge=1)
    min_partitions: int | None = Field(
        default=None,
        ge=1,
        description="Spark tasks reading one micro-batch (Kafka partitions are split into offset ranges to "
        "reach it); None: three times the cores Spark has, so that 3 partitions on 2 cores do not leave a "
        "core idle for a third of every batch",
    )
    starting_offsets: str = "earliest"
    dedup_window: str = Field(default="10 minutes", description="In-stream dedup horizon (watermark)")
    future_tolerance_seconds: int = Field(default=300, ge=0)
    shuffle_partitions: int = Field(default=2, ge=1)
    metrics_port: int = Field(
        default=0, ge=0, le=65535, description="Serve the job's Prometheus /metrics on this port (0: don't)"
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address /metrics listens on (loopback; a pod says 0.0.0.0)"
    )
    master: str | None = Field(default=None, description="local[2] locally; unset in the cluster")
    driver_memory: str = "1g"
    jvm_profile: str = Field(
        default="throughput",
        pattern=r"^(throughput|fast-start)$",
        description="Driver JIT: 'throughput' (C2: a long-running stream parses JSON ~2x faster once warm) or "
        "'fast-start' (C1 only: short jobs and test suites start sooner)",
    )
    hadoop_conf: dict[str, str] = Field(default_factory=dict, description="Passed as spark.hadoop.*")
    spark_conf: dict[str, str] = Field(default_factory=dict, description="Extra spark.* settings")
    jars: list[str] | None = Field(
        default=None,
        description="Explicit spark.jars; None: resolved into the cache when master is local[*], else "
        "left to spark-submit (the SparkApplication's image and deps)",
    )

    @field_validator("trigger")
    @classmethod
    def _trigger(cls, value: str) -> str:
        if not _TRIGGER.match(value):
            raise ValueError(f"trigger {value!r}: use 'N seconds', 'N minutes', 'availableNow' or 'once'")
        return value

    @field_validator("dedup_window")
    @classmethod
    def _dedup_window(cls, value: str) -> str:
        if not _INTERVAL.match(value):
            raise ValueError(f"dedup_window {value!r}: use 'N seconds', 'N minutes' or 'N hours'")
        return value

    @property
    def dedup_window_seconds(self) -> int:
        m = _INTERVAL.match(self.dedup_window)
        assert m is not None  # validated above
        return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]

    def kafka_auth(self) -> KafkaAuth:
        if self.kafka_client_dir:
            return KafkaAuth.from_client_dir(Path(self.kafka_client_dir))
        return KafkaAuth.from_parts(
            self.kafka_security_protocol,
            self.kafka_username,
            None,
            Path(self.kafka_password_file) if self.kafka_password_file else None,
            Path(self.kafka_ca_file) if self.kafka_ca_file else None,
            self.kafka_sasl_mechanism,
        )

    @property
    def quotes(self) -> str:
        return f"{self.catalog}.{self.namespace}.{self.table}"

    @property
    def quarantine(self) -> str:
        return f"{self.catalog}.{self.namespace}.{self.quarantine_table}"
