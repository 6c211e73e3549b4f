"""Pure builders: (CoinFeed, owner, config) -> the desired manifest of every child.

No I/O here, so every child can be unit-tested without a cluster, and the reconcile loop is just
"apply what the builders say". Hash annotations make a spec change touch only the children that
read the changed fields: coins roll the producer, a new backfill spec makes a new Job, a new
trigger only updates the SparkApplication.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from coinfeed_operator.config import OperatorConfig
from coinfeed_operator.topics import TopicSpec, feed_topic, ledger_topic_spec
from coinfeed_operator.topics import min_insync_replicas as min_insync_replicas
from coinstream.ingest.coverage import ledger_topic
from coinstream.lakehouse.config import LakeConfig
from coinstream.models import API_GROUP, API_VERSION, KIND, CoinFeed

MANAGED_BY = "coinfeed-operator"
FEED_LABEL = f"{API_GROUP}/feed"
FEED_NAMESPACE_LABEL = f"{API_GROUP}/feed-namespace"
FEED_FILE = "/etc/coinstream/feed.yaml"
API_KEY_ENV = "COINSTREAM_COINGECKO_API_KEY"
KAFKA_USER_DIR = "/etc/coinstream/kafka-user"
KAFKA_CA_DIR = "/etc/coinstream/kafka-ca"
#: Bring-your-own Kafka: the client Secret (coinstream.platform.kafka_auth.CLIENT_KEYS) as files.
KAFKA_CLIENT_DIR = "/etc/coinstream/kafka-client"
PRODUCER_HASH = f"{API_GROUP}/producer-config-hash"
BACKFILL_HASH = f"{API_GROUP}/backfill-hash"
RUN_AS = 10001  # the coinstream image's non-root user
SPARK_UID = 185  # apache/spark images run as `spark` (185)

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Owner:
    """The CoinFeed object as Kubernetes knows it: children point back at it."""

    name: str
    namespace: str
    uid: str

    def reference(self) -> dict[str, Any]:
        # controller=True: one owner manages it; blockOwnerDeletion: foreground deletes wait.
        return {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def short_hash(data: Any, n: int = 10) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:n]


def labels(feed: CoinFeed, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "coinstream",
        "app.kubernetes.io/instance": feed.name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        FEED_LABEL: feed.name,
    }


def _meta(feed: CoinFeed, owner: Owner, name: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": labels(feed, component),
        "ownerReferences": [owner.reference()],
    }


# -- names ------------------------------------------------------------------------------------------


def configmap_name(feed: CoinFeed) -> str:
    return f"{feed.name}-feed"


def deployment_name(feed: CoinFeed) -> str:
    return f"{feed.name}-producer"


def spark_namespace(owner: Owner, config: OperatorConfig) -> str:
    return config.spark_namespace or owner.namespace


def spark_app_name(feed_name: str, owner: Owner, config: OperatorConfig) -> str:
    """`<feed>-stream`; in a shared Spark namespace the feed's namespace is hashed in, so feeds of
    the same name in two namespaces cannot collide (and `<app>-driver` stays a valid name)."""
    if spark_namespace(owner, config) == owner.namespace:
        return f"{feed_name}-stream"
    return f"{feed_name}-{short_hash(owner.namespace, 6)}-stream"


def kafka_user_name(feed: CoinFeed) -> str:
    """The feed's Kafka principal; Strimzi names the user's Secret the same."""
    return f"{feed.name}-kafka"


def group_prefix(feed: CoinFeed) -> str:
    """Consumer groups of the feed's stream (Spark appends a unique suffix to the prefix)."""
    return f"{feed.name}-stream"


def backfill_hash(feed: CoinFeed) -> str | None:
    """Everything that changes what a backfill must load: the range and granularity, the coins
    and currencies, the source (and its seed or plan), and the topic it loads into. A new coin
    is a new Job; the coverage ledger makes that Job fetch only what is missing."""
    if feed.spec.backfill is None:
        return None
    src = feed.spec.source
    return short_hash(
        {
            "backfill": feed.spec.backfill.model_dump(by_alias=True, mode="json"),
            "coins": sorted(feed.spec.coins),
            "vsCurrencies": sorted(feed.spec.vs_currencies),
            "source": {"type": src.type, "plan": src.plan, "seed": src.seed},
            "topic": feed.topic,
        }
    )


def backfill_job_name(feed: CoinFeed) -> str | None:
    h = backfill_hash(feed)
    return None if h is None else f"{feed.name}-backfill-{h}"


def producer_view(feed: CoinFeed) -> dict[str, Any]:
    """Exactly the fields the live producer reads; the pod template hashes these and only these."""
    spec = feed.spec.model_dump(by_alias=True, mode="json", exclude_none=True)
    return {
        "coins": spec["coins"],
        "vsCurrencies": spec["vsCurrencies"],
        "source": spec["source"],
        "pollIntervalSeconds": spec["pollIntervalSeconds"],
        "topic": feed.topic,
    }


# -- children ---------------------------------------------------------------------------------------


def _kafka_topic_object(
    feed: CoinFeed, owner: Owner, config: OperatorConfig, topic: TopicSpec, component: str
) -> Manifest:
    meta = _meta(feed, owner, topic.name, component)
    meta["labels"]["strimzi.io/cluster"] = config.kafka_cluster
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": meta,
        "spec": {
            "topicName": topic.name,
            "partitions": topic.partitions,
            "replicas": topic.replicas,
            "config": dict(topic.config),
        },
    }


def kafka_topic(feed: CoinFeed, owner: Owner, config: OperatorConfig) -> Manifest:
    """The feed's topic as a Strimzi KafkaTopic (with an external Kafka, the operator creates the
    same topic through the admin API instead: coinfeed_operator.kafka_admin)."""
    return _kafka_topic_object(feed, owner, config, feed_topic(feed), "topic")


def ledger_kafka_topic(feed: CoinFeed, owner: Owner, config: OperatorConfig) -> Manifest | None:
    """The backfill's coverage ledger (topics.ledger_topic_spec): Strimzi creates it, because the
    Job runs with `--no-ensure-topic` and the feed's user may not create topics. It outlives spec
    changes (the next Job reads it) and goes with the feed through its owner reference."""
    spec = ledger_topic_spec(feed)
    if spec is None:
        return None
    return _kafka_topic_object(feed, owner, config, spec, "coverage-ledger")


def kafka_user(feed: CoinFeed, owner: Owner, config: OperatorConfig) -> Manifest | None:
    """The feed's SCRAM user, allowed exactly what its producer, backfill and stream do: write its
    topic idempotently, read it back (backfill dedup, the stream) with its own consumer groups.
    With an external Kafka the feeds use the client Secret's principal, whose ACLs are the
    Kafka owner's to grant (docs: bring-your-own Kafka)."""
    if config.kafka_authentication == "none" or config.external_kafka:
        return None
    meta = _meta(feed, owner, kafka_user_name(feed), "kafka-user")
    meta["labels"]["strimzi.io/cluster"] = config.kafka_cluster

    def allow(resource: dict[str, str], *operations: str) -> dict[str, Any]:
        return {"type": "allow", "resource": resource, "operations": list(operations)}

    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": meta,
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {
                "type": "simple",
                "acls": [
                    allow({"type": "topic", "name": feed.topic, "patternType": "literal"}, "Describe", "Read", "Write"),
                    # The backfill's coverage ledger and its transactions (one chunk, one commit).
                    allow(
                        {"type": "topic", "name": ledger_topic(feed.name), "patternType": "literal"},
                        "Describe",
                        "Read",
                        "Write",
                    ),
                    allow(
                        {
                            "type": "transactionalId",
                            "name": f"coinstream-backfill-{feed.name}",
                            "patternType": "literal",
                        },
                        "Describe",
                        "Write",
                    ),
                    allow({"type": "group", "name": group_prefix(feed), "patternType": "prefix"}, "Read"),
                    allow({"type": "cluster"}, "IdempotentWrite"),
                ],
            },
        },
    }


def kafka_client_env(feed: CoinFeed, config: OperatorConfig) -> list[dict[str, Any]]:
    if config.external_kafka:
        # Everything (protocol, mechanism, user, password, CA) from the mounted client Secret.
        return [{"name": "COINSTREAM_KAFKA_CLIENT_DIR", "value": KAFKA_CLIENT_DIR}]
    if config.kafka_authentication == "none":
        return []
    return [
        {"name": "COINSTREAM_KAFKA_SECURITY_PROTOCOL", "value": "SASL_SSL"},
        {"name": "COINSTREAM_KAFKA_SASL_USERNAME", "value": kafka_user_name(feed)},
        {"name": "COINSTREAM_KAFKA_SASL_PASSWORD_FILE", "value": f"{KAFKA_USER_DIR}/password"},
        {"name": "COINSTREAM_KAFKA_SSL_CA_FILE", "value": f"{KAFKA_CA_DIR}/ca.crt"},
    ]


def feed_document(feed: CoinFeed, namespace: str) -> dict[str, Any]:
    """The CoinFeed as `coinstream feed run -f` / `coinstream backfill -f` read it."""
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "metadata": {"name": feed.name, "namespace": namespace},
        "spec": feed.spec.model_dump(by_alias=True, mode="json", exclude_none=True),
    }


def config_map(feed: CoinFeed, owner: Owner) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(feed, owner, configmap_name(feed), "feed-config"),
        "data": {"feed.yaml": yaml.safe_dump(feed_document(feed, owner.namespace), sort_keys=False)},
    }


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict[str, Any]:
    """Pod Security Standard "restricted", plus a read-only root filesystem."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod_spec(feed: CoinFeed, config: OperatorConfig, container: dict[str, Any]) -> dict[str, Any]:
    """What the producer and the backfill share: feed file, API key file, env, hardening."""
    env: list[dict[str, Any]] = [
        {"name": "COINSTREAM_KAFKA_BOOTSTRAP", "value": config.kafka_bootstrap},
        {"name": "COINSTREAM_LOG_FORMAT", "value": "json"},
        {"name": "COINSTREAM_STATE_DIR", "value": "/tmp/coinstream"},
    ]
    mounts = [
        {"name": "feed", "mountPath": "/etc/coinstream/feed.yaml", "subPath": "feed.yaml", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "feed", "configMap": {"name": configmap_name(feed)}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
    ]
    if config.external_kafka:
        # The whole client Secret as files, read by the client (COINSTREAM_KAFKA_CLIENT_DIR): no
        # credential in the pod spec. A missing Secret stops the pod (CreateContainerConfigError).
        env += kafka_client_env(feed, config)
        mounts.append({"name": "kafka-client", "mountPath": KAFKA_CLIENT_DIR, "readOnly": True})
        volumes.append(
            {"name": "kafka-client", "secret": {"secretName": config.kafka_client_secret, "defaultMode": 0o440}}
        )
    elif config.kafka_authentication != "none":
        # The Kafka password as a file from the KafkaUser's Secret, and the cluster CA to trust.
        env += kafka_client_env(feed, config)
        mounts += [
            {"name": "kafka-user", "mountPath": KAFKA_USER_DIR, "readOnly": True},
            {"name": "kafka-ca", "mountPath": KAFKA_CA_DIR, "readOnly": True},
        ]
        volumes += [
            {
                "name": "kafka-user",
                "secret": {
                    "secretName": kafka_user_name(feed),
                    "items": [{"key": "password", "path": "password"}],
                    "defaultMode": 0o440,
                },
            },
            {
                "name": "kafka-ca",
                "secret": {"secretName": config.kafka_ca, "items": [{"key": "ca.crt", "path": "ca.crt"}]},
            },
        ]
    ref = feed.spec.source.api_key_secret_ref
    if ref is not None:
        # Resolved by the kubelet, never read by the operator (it has no access to Secrets): a
        # missing Secret or key stops the pod with CreateContainerConfigError, which the operator
        # reads from the pod's status and reports as Degraded. `kubectl describe` shows only the
        # reference.
        env.append({"name": API_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}})
        if config.api_key_hosts:
            env.append({"name": "COINSTREAM_COINGECKO_KEY_HOSTS", "value": ",".join(config.api_key_hosts)})
    return {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": _pod_security(),
        "containers": [
            {
                "image": config.producer_image,
                "imagePullPolicy": "IfNotPresent",
                "env": env,
                "volumeMounts": mounts,
                "securityContext": container_security(),
                **container,
            }
        ],
        "volumes": volumes,
    }


#: How long a producer pod waits for Kafka to accept its user before it exits (and restarts).
PRODUCER_ACCESS_WAIT_SECONDS = 300


def producer_deployment(feed: CoinFeed, owner: Owner, config: OperatorConfig) -> Manifest:
    component = "producer"
    selector = {FEED_LABEL: feed.name, "app.kubernetes.io/component": component}
    probe = {"httpGet": {"path": "/metrics", "port": "metrics"}, "timeoutSeconds": 3}
    container = {
        "name": component,
        # The operator makes the topics (a KafkaTopic, or the admin API for an external Kafka).
        "command": ["coinstream", "feed", "run", "-f", FEED_FILE, "--no-ensure-topic"],
        "ports": [{"name": "metrics", "containerPort": config.metrics_port, "protocol": "TCP"}],
        "livenessProbe": {**probe, "initialDelaySeconds": 15, "periodSeconds": 20, "failureThreshold": 3},
        "readinessProbe": {**probe, "initialDelaySeconds": 5, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
    }
    pod = _pod_spec(feed, config, container)
    pod["containers"][0]["env"] += [
        {"name": "COINSTREAM_METRICS_PORT", "value": str(config.metrics_port)},
        # The pod's network namespace is its own: listen beyond loopback for probes and scrapes.
        {"name": "COINSTREAM_METRICS_HOST", "value": "0.0.0.0"},
        # The user's Secret can exist before the broker knows its password and ACLs: wait, not crash-loop.
        {"name": "COINSTREAM_KAFKA_ACCESS_WAIT_SECONDS", "value": str(PRODUCER_ACCESS_WAIT_SECONDS)},
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(feed, owner, deployment_name(feed), component),
        "spec": {
            # One producer per feed: two would poll twice and double the API bill.
            "replicas": 0 if feed.spec.suspend else 1,
            "strategy": {"type": "Recreate"},
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": labels(feed, component),
                    "annotations": {
                        PRODUCER_HASH: short_hash([producer_view(feed), config.producer_image]),
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(config.metrics_port),
                    },
                },
                "spec": pod,
            },
        },
    }


def backfill_job(feed: CoinFeed, owner: Owner, config: OperatorConfig) -> Manifest | None:
    """One Job per backfill spec: the hash in the name makes a changed spec a new Job."""
    name, h = backfill_job_name(feed), backfill_hash(feed)
    if name is None or h is None:
        return None
    meta = _meta(feed, owner, name, "backfill")
    meta["annotations"] = {BACKFILL_HASH: h}
    container = {
        "name": "backfill",
        "command": ["coinstream", "backfill", "-f", FEED_FILE, "--no-ensure-topic"],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    }
    pod = _pod_spec(feed, config, container)
    pod["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": 4,
            "suspend": feed.spec.suspend,
            "template": {"metadata": {"labels": labels(feed, "backfill")}, "spec": pod},
        },
    }


def _spark_security() -> dict[str, Any]:
    return {
        **container_security(),
        "runAsUser": SPARK_UID,
        "runAsGroup": SPARK_UID,
        "readOnlyRootFilesystem": False,
    }


def stream_arguments(feed: CoinFeed, owner: Owner, config: OperatorConfig) -> list[str]:
    """Flags of coinstream.lakehouse.jobs.stream_quotes: one per LakeConfig field (coinstream.lakehouse.cli_args)."""
    namespace, table = feed.spec.sink.table.split(".", 1)
    given = {
        "bootstrap": config.kafka_bootstrap,
        "topics": re.escape(feed.topic),  # the job subscribes by pattern
        "warehouse": config.warehouse_uri,
        "metastore_uri": config.metastore_uri,
        "catalog": config.spark_catalog,
        "namespace": namespace,
        "table": table,
        # The job checkpoints below <root>/<feed uid>/<topic identity>: a re-created feed or
        # topic starts fresh instead of crash-looping on offsets of a topic that is gone.
        "checkpoint": f"{config.checkpoints.rstrip('/')}/{owner.namespace}/{feed.name}",
        "feed_uid": owner.uid,
        "trigger": feed.spec.sink.trigger,
        "group_id_prefix": group_prefix(feed),
        # The driver's /metrics (quarantine counts), scraped through the chart's PodMonitor.
        "metrics_port": str(config.metrics_port),
        "metrics_host": "0.0.0.0",  # inside the pod, for Prometheus
    }
    if config.hdfs_replication is not None:
        given["hadoop_conf"] = json.dumps({"dfs.replication": str(config.hdfs_replication)})
    if config.external_kafka:
        given["kafka_client_dir"] = KAFKA_CLIENT_DIR
    elif config.kafka_authentication != "none":
        given |= {
            "kafka_security_protocol": "SASL_SSL",
            "kafka_username": kafka_user_name(feed),
            "kafka_password_file": f"{KAFKA_USER_DIR}/password",
            "kafka_ca_file": f"{KAFKA_CA_DIR}/ca.crt",
        }
    unknown = set(given) - set(LakeConfig.model_fields)
    assert not unknown, f"coinstream.lakehouse.jobs.stream_quotes has no flags for {unknown}"
    return [part for name, value in given.items() for part in ("--" + name.replace("_", "-"), value)]


def _spark_template(container: str) -> dict[str, Any]:
    """A pod template without service links; Spark reads it as the base of the pod it builds and
    refuses one without a container list (its default container name keeps the rest as is)."""
    return {"spec": {"enableServiceLinks": False, "containers": [{"name": container}]}}


def spark_application(feed: CoinFeed, owner: Owner, config: OperatorConfig) -> Manifest:
    """The streaming job: Kafka topic -> Iceberg table, restarted forever (it is a stream)."""
    pod_labels = labels(feed, "stream")
    role = {
        "cores": 1,
        "coreRequest": config.spark_core_request,
        "memory": config.spark_memory,
        "labels": pod_labels,
        "podSecurityContext": {
            "runAsNonRoot": True,
            "runAsUser": SPARK_UID,
            "fsGroup": SPARK_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "securityContext": _spark_security(),
        # Kubernetes would put every Service of the namespace into the environment as
        # <NAME>_PORT=tcp://…: the release's `coinstream-metastore` and `coinstream-trino` become
        # COINSTREAM_METASTORE_PORT / COINSTREAM_TRINO_PORT, which the job's settings reject (the
        # driver exited at start on the real node). Spark's SparkPodSpec has no field for it; a
        # pod template does (Spark requires its container list; see `_spark_template`).
    }
    if config.spark_memory_overhead:
        role["memoryOverhead"] = config.spark_memory_overhead
    if config.hdfs_user:
        # The driver acts as HADOOP_USER_NAME; executors run their tasks as SPARK_USER (Spark's
        # runAsSparkUser), which spark-submit sets to its own user (`spark` in the
        # spark-operator's pod): on the real node they wrote the checkpoint's state files as
        # `spark` and HDFS refused them. The webhook appends these after Spark's own entries, and
        # the last entry of a name wins.
        role["env"] = [
            {"name": "HADOOP_USER_NAME", "value": config.hdfs_user},
            {"name": "SPARK_USER", "value": config.hdfs_user},
        ]
    if config.external_kafka:
        # The executors' Kafka consumers read the CA file too: mount it on both roles.
        role["secrets"] = [{"name": config.kafka_client_secret, "path": KAFKA_CLIENT_DIR, "secretType": "Generic"}]
    elif config.kafka_authentication != "none":
        # spark-operator mounts these Secrets into the driver and executor pods.
        role["secrets"] = [
            {"name": kafka_user_name(feed), "path": KAFKA_USER_DIR, "secretType": "Generic"},
            {"name": config.kafka_ca, "path": KAFKA_CA_DIR, "secretType": "Generic"},
        ]
    spark_conf = {}
    if config.hdfs_user:
        # The executors' SPARK_USER also comes from Spark's own conf (after the one the driver
        # passes on), should the webhook not run.
        spark_conf["spark.executorEnv.HADOOP_USER_NAME"] = config.hdfs_user
        spark_conf["spark.executorEnv.SPARK_USER"] = config.hdfs_user
    meta = _meta(feed, owner, spark_app_name(feed.name, owner, config), "stream")
    if spark_namespace(owner, config) != owner.namespace:
        # Owner references cannot cross namespaces (the GC would delete the app at once):
        # labels find it instead, and the operator deletes it with the feed (see handlers).
        del meta["ownerReferences"]
        meta["namespace"] = spark_namespace(owner, config)
        meta["labels"][FEED_NAMESPACE_LABEL] = owner.namespace
    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": meta,
        "spec": {
            "type": "Python",
            "pythonVersion": "3",
            "mode": "cluster",
            "image": config.spark_image,
            "imagePullPolicy": "IfNotPresent",
            "sparkVersion": config.spark_version,
            "mainApplicationFile": config.spark_main_file,
            # The job builds its whole Spark/Iceberg session from these (coinstream.lakehouse).
            "arguments": stream_arguments(feed, owner, config),
            "suspend": feed.spec.suspend,
            **({"sparkConf": spark_conf} if spark_conf else {}),
            # A stream should never end: restart on success and failure, backing off between tries.
            "restartPolicy": {
                "type": "Always",
                "onFailureRetryInterval": 10,
                "onSubmissionFailureRetryInterval": 30,
            },
            "driver": {
                **role,
                "template": _spark_template("spark-kubernetes-driver"),
                "serviceAccount": config.spark_service_account,
                "ports": [{"name": "metrics", "containerPort": config.metrics_port, "protocol": "TCP"}],
            },
            "executor": {**role, "instances": 1, "template": _spark_template("spark-kubernetes-executor")},
        },
    }


def desired_children(feed: CoinFeed, owner: Owner, config: OperatorConfig) -> list[Manifest]:
    """Every child object, in apply order (the ConfigMap before the pods that mount it). With an
    external Kafka there are no Strimzi objects: topics go through the admin API."""
    strimzi = (
        [] if config.external_kafka else [kafka_topic(feed, owner, config), ledger_kafka_topic(feed, owner, config)]
    )
    out = [m for m in (*strimzi, kafka_user(feed, owner, config)) if m is not None]
    out += [
        config_map(feed, owner),
        producer_deployment(feed, owner, config),
        spark_application(feed, owner, config),
    ]
    job = backfill_job(feed, owner, config)
    if job is not None:
        out.append(job)
    return out
