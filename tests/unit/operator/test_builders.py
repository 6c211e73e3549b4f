"""The pure builders: every child manifest from a CoinFeed, no cluster needed."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from coinfeed_operator import builders
from coinfeed_operator.config import OperatorConfig
from coinfeed_operator.kube import RESOURCES, resource_path
from coinfeed_operator.rbac import RULES
from coinstream.lakehouse.cli_args import config_from_argv
from coinstream.models import CoinFeed, load_coinfeed, parse_coinfeed
from coinstream.settings import Settings

OWNER = builders.Owner(name="majors", namespace="markets", uid="0000-1111")
CONFIG = OperatorConfig(kafka_cluster="prod-kafka", kafka_bootstrap="kafka:9092")


def make(**spec: Any) -> CoinFeed:
    base: dict[str, Any] = {
        "coins": ["bitcoin", "ethereum"],
        "source": {"type": "coingecko", "plan": "demo", "apiKeySecretRef": {"name": "cg", "key": "apiKey"}},
        "backfill": {"from": "2024-01-01"},
    }
    base.update(spec)
    return parse_coinfeed(
        {
            "apiVersion": "coinstream.io/v1alpha1",
            "kind": "CoinFeed",
            "metadata": {"name": "majors"},
            "spec": base,
        }
    )


def test_every_child_is_owned_labelled_and_namespaced() -> None:
    children = builders.desired_children(make(), OWNER, CONFIG)
    assert [c["kind"] for c in children] == [
        "KafkaTopic",
        "KafkaTopic",
        "KafkaUser",
        "ConfigMap",
        "Deployment",
        "SparkApplication",
        "Job",
    ]
    for child in children:
        meta = child["metadata"]
        assert meta["namespace"] == "markets"
        assert meta["labels"][builders.FEED_LABEL] == "majors"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "coinfeed-operator"
        (ref,) = meta["ownerReferences"]
        assert ref == {
            "apiVersion": "coinstream.io/v1alpha1",
            "kind": "CoinFeed",
            "name": "majors",
            "uid": "0000-1111",
            "controller": True,
            "blockOwnerDeletion": True,
        }


def test_kafka_topic_names_the_cluster_and_sizes() -> None:
    topic = builders.kafka_topic(make(kafka={"partitions": 6, "replicas": 3}), OWNER, CONFIG)
    assert topic["apiVersion"] == "kafka.strimzi.io/v1"
    assert topic["metadata"]["name"] == "coinstream.quotes.majors"
    assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "prod-kafka"
    assert (topic["spec"]["partitions"], topic["spec"]["replicas"]) == (6, 3)
    explicit = builders.kafka_topic(make(kafka={"topic": "quotes.v2"}), OWNER, CONFIG)
    assert explicit["metadata"]["name"] == explicit["spec"]["topicName"] == "quotes.v2"


def test_ledger_topic_is_compacted_as_durable_as_the_feed_topic_and_allowed_to_the_user() -> None:
    feed = make(kafka={"partitions": 6, "replicas": 3})
    ledger = builders.ledger_kafka_topic(feed, OWNER, CONFIG)
    assert ledger is not None
    assert ledger["metadata"]["name"] == ledger["spec"]["topicName"] == "coinstream.ingest.coverage.majors"
    assert ledger["metadata"]["labels"]["strimzi.io/cluster"] == "prod-kafka"
    assert ledger["spec"]["partitions"] == 1
    quotes = builders.kafka_topic(feed, OWNER, CONFIG)
    assert ledger["spec"]["replicas"] == quotes["spec"]["replicas"] == 3
    assert ledger["spec"]["config"]["min.insync.replicas"] == quotes["spec"]["config"]["min.insync.replicas"] == 2
    assert ledger["spec"]["config"]["cleanup.policy"] == "compact"
    single = builders.ledger_kafka_topic(make(kafka={"replicas": 1}), OWNER, CONFIG)
    assert single is not None and single["spec"]["config"]["min.insync.replicas"] == 1
    # The topic the backfill writes is the one the KafkaUser's ACLs name.
    user = builders.kafka_user(feed, OWNER, CONFIG)
    assert user is not None
    acl_topics = {a["resource"].get("name") for a in user["spec"]["authorization"]["acls"]}
    assert ledger["spec"]["topicName"] in acl_topics
    # No backfill, no ledger.
    assert builders.ledger_kafka_topic(make(backfill=None), OWNER, CONFIG) is None
    kinds = [c["kind"] for c in builders.desired_children(make(backfill=None), OWNER, CONFIG)]
    assert kinds.count("KafkaTopic") == 1


def test_configmap_holds_a_loadable_coinfeed(tmp_path: Any) -> None:
    cm = builders.config_map(make(), OWNER)
    path = tmp_path / "feed.yaml"
    path.write_text(cm["data"]["feed.yaml"])
    loaded = load_coinfeed(path)
    assert (loaded.name, loaded.metadata.namespace, loaded.spec) == ("majors", "markets", make().spec)


def test_producer_is_restricted_single_and_reads_the_key_from_a_file() -> None:
    dep = builders.producer_deployment(make(), OWNER, CONFIG)
    spec = dep["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    (c,) = pod["containers"]
    assert c["command"] == ["coinstream", "feed", "run", "-f", "/etc/coinstream/feed.yaml", "--no-ensure-topic"]
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}
    # The kubelet resolves the key (a missing Secret surfaces as CreateContainerConfigError);
    # the manifest holds only the reference.
    assert env["COINSTREAM_COINGECKO_API_KEY"] == {"secretKeyRef": {"name": "cg", "key": "apiKey"}}
    assert env["COINSTREAM_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["COINSTREAM_METRICS_PORT"] == "9100"
    # A Secret written before the broker knows the user is waited out, not crash-looped.
    wait = env["COINSTREAM_KAFKA_ACCESS_WAIT_SECONDS"]
    assert Settings(kafka_access_wait_seconds=wait).kafka_access_wait_seconds >= 60
    assert "COINSTREAM_COINGECKO_KEY_HOSTS" not in env, "no extra key host unless the administrator allows one"
    assert c["ports"] == [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"]["port"] == c["readinessProbe"]["httpGet"]["port"] == "metrics"
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    assert ":" in c["image"] and not c["image"].endswith(":latest")


def test_simulated_feed_mounts_no_secret() -> None:
    dep = builders.producer_deployment(make(source={"type": "simulated"}), OWNER, CONFIG)
    pod = dep["spec"]["template"]["spec"]
    assert [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v] == [
        "majors-kafka",
        "prod-kafka-cluster-ca-cert",
    ]
    assert "COINSTREAM_COINGECKO_API_KEY" not in str(pod)


def test_administrator_key_hosts_reach_the_pods() -> None:
    config = CONFIG.model_copy(update={"api_key_hosts": ("proxy.example",)})
    dep = builders.producer_deployment(make(), OWNER, config)
    env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["COINSTREAM_COINGECKO_KEY_HOSTS"] == "proxy.example"


def test_suspend_scales_producer_to_zero_and_suspends_stream_and_backfill() -> None:
    feed = make(suspend=True)
    assert builders.producer_deployment(feed, OWNER, CONFIG)["spec"]["replicas"] == 0
    assert builders.spark_application(feed, OWNER, CONFIG)["spec"]["suspend"] is True
    assert builders.backfill_job(feed, OWNER, CONFIG)["spec"]["suspend"] is True  # type: ignore[index]


def _producer_hash(feed: CoinFeed) -> str:
    dep = builders.producer_deployment(feed, OWNER, CONFIG)
    return str(dep["spec"]["template"]["metadata"]["annotations"][builders.PRODUCER_HASH])


def test_producer_hash_follows_only_what_the_producer_reads() -> None:
    base = _producer_hash(make())
    assert _producer_hash(make(coins=["bitcoin"])) != base
    assert _producer_hash(make(pollIntervalSeconds=120)) != base
    assert _producer_hash(make(kafka={"topic": "other"})) != base
    assert _producer_hash(make(sink={"trigger": "1 minute"})) == base
    assert _producer_hash(make(backfill={"from": "2020-01-01"})) == base
    assert _producer_hash(make(suspend=True)) == base


def test_backfill_job_name_changes_with_everything_that_changes_what_to_load() -> None:
    name = builders.backfill_job_name(make())
    assert name is not None and name.startswith("majors-backfill-") and len(name) <= 63
    assert builders.backfill_job_name(make(coins=["ethereum", "bitcoin"])) == name, "order is not content"
    assert builders.backfill_job_name(make(pollIntervalSeconds=120)) == name
    assert builders.backfill_job_name(make(coins=["bitcoin", "ethereum", "solana"])) != name
    assert builders.backfill_job_name(make(vsCurrencies=["usd", "eur"])) != name
    assert builders.backfill_job_name(make(kafka={"topic": "other"})) != name
    assert builders.backfill_job_name(make(source={"type": "simulated", "seed": 1})) != name
    assert builders.backfill_job_name(make(backfill={"from": "2023-01-01"})) != name
    assert builders.backfill_job_name(make(backfill={"from": "2024-01-01", "granularity": "daily"})) != name
    assert builders.backfill_job_name(make(backfill=None)) is None
    assert builders.backfill_job(make(backfill=None), OWNER, CONFIG) is None
    job = builders.backfill_job(make(), OWNER, CONFIG)
    assert job is not None
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["command"] == [
        "coinstream",
        "backfill",
        "-f",
        "/etc/coinstream/feed.yaml",
        "--no-ensure-topic",
    ]


def test_executors_act_as_the_warehouse_user() -> None:
    """Executors write the checkpoint's state files: as `spark` HDFS denies them. They run their
    tasks as SPARK_USER (which spark-submit sets to its own user), not as HADOOP_USER_NAME."""
    app = builders.spark_application(make(), OWNER, OperatorConfig())
    assert app["spec"]["sparkConf"]["spark.executorEnv.SPARK_USER"] == "coinstream"
    for role in ("driver", "executor"):  # the driver passes its SPARK_USER on to the executors
        env = app["spec"][role]["env"]
        assert {"name": "HADOOP_USER_NAME", "value": "coinstream"} in env
        assert {"name": "SPARK_USER", "value": "coinstream"} in env


def test_the_stream_writes_the_replication_the_cluster_has() -> None:
    """HDFS takes replication from the writing client: without the flag a one-DataNode cluster
    gets files asking for 3 replicas, forever under-replicated."""

    def args(cfg: OperatorConfig) -> dict[str, str]:
        spec = builders.spark_application(make(), OWNER, cfg)["spec"]
        return dict(zip(spec["arguments"][::2], spec["arguments"][1::2], strict=True))

    assert "--hadoop-conf" not in args(OperatorConfig())
    given = args(OperatorConfig(hdfs_replication=1))["--hadoop-conf"]
    cfg = config_from_argv(["--hadoop-conf", given, "--bootstrap", "k:9092", "--topics", "t"], "stream")
    assert cfg.hadoop_conf == {"dfs.replication": "1"}


def test_spark_pods_get_no_service_links() -> None:
    """Service links would set COINSTREAM_METASTORE_PORT=tcp://... (the release's Services are
    named coinstream-*) in the driver, which the job's settings refuse."""
    app = builders.spark_application(make(), OWNER, OperatorConfig())
    for role in ("driver", "executor"):
        template = app["spec"][role]["template"]["spec"]
        assert template["enableServiceLinks"] is False
        # Spark refuses a template without containers ("Could not load pod from template file").
        assert template["containers"] == [{"name": f"spark-kubernetes-{role}"}]


def test_spark_application_streams_the_topic_into_the_table_forever() -> None:
    cfg = OperatorConfig(
        spark_image="registry.example/spark:4.1.3-1",
        warehouse_uri="hdfs://nn:8020/wh",
        metastore_uri="thrift://hms:9083",
    )
    app = builders.spark_application(make(sink={"table": "coinstream.quotes", "trigger": "5 seconds"}), OWNER, cfg)
    spec = app["spec"]
    assert app["apiVersion"] == "sparkoperator.k8s.io/v1beta2"
    assert spec["image"] == "registry.example/spark:4.1.3-1"
    assert spec["mainApplicationFile"].endswith("jobs/stream_quotes.py")
    assert spec["restartPolicy"]["type"] == "Always"
    for role in ("driver", "executor"):  # HDFS simple auth: Spark acts as the warehouse owner
        assert {"name": "HADOOP_USER_NAME", "value": "coinstream"} in spec[role]["env"]
    args = dict(zip(spec["arguments"][::2], spec["arguments"][1::2], strict=True))
    assert args["--topics"] == r"coinstream\.quotes\.majors"
    assert (args["--catalog"], args["--namespace"], args["--table"]) == ("lake", "coinstream", "quotes")
    assert args["--trigger"] == "5 seconds"
    # The driver serves the quarantine counter where the PodMonitor looks (port name `metrics`).
    assert (args["--metrics-port"], args["--metrics-host"]) == ("9100", "0.0.0.0")
    assert spec["driver"]["ports"] == [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]
    assert "ports" not in spec["executor"]
    assert args["--checkpoint"] == "hdfs://nn:8020/wh/_checkpoints/markets/majors"
    assert args["--feed-uid"] == OWNER.uid  # a re-created feed (new uid) gets a fresh checkpoint
    assert (args["--warehouse"], args["--metastore-uri"]) == ("hdfs://nn:8020/wh", "thrift://hms:9083")
    # The job parses exactly these flags into its settings.
    job = config_from_argv(spec["arguments"], "test")
    assert (job.topics, job.quotes, job.checkpoint, job.feed_uid) == (
        args["--topics"],
        "lake.coinstream.quotes",
        args["--checkpoint"],
        OWNER.uid,
    )
    for role in ("driver", "executor"):
        assert spec[role]["securityContext"]["allowPrivilegeEscalation"] is False
        assert spec[role]["podSecurityContext"]["runAsNonRoot"] is True
        assert spec[role]["memory"] and spec[role]["cores"]


@pytest.mark.parametrize("image", ["coinstream:latest", "coinstream", "ghcr.io/x/coinstream"])
def test_operator_config_refuses_unpinned_images(image: str) -> None:
    with pytest.raises(ValueError, match="producer_image"):
        OperatorConfig(producer_image=image)


def test_operator_config_is_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        CONFIG.kafka_cluster = "other"  # type: ignore[misc]


def test_rbac_covers_exactly_the_resources_the_client_touches() -> None:
    granted = {(g, r) for rule in RULES for g in rule["apiGroups"] for r in rule["resources"]}
    touched = {(v.split("/")[0] if "/" in v else "", plural) for (v, _), plural in RESOURCES.items()}
    # coinfeeds/status and /finalizers are subresources of a touched resource.
    assert {(g, r) for g, r in granted if "/" not in r} == touched
    assert yaml.safe_load(yaml.safe_dump(RULES)) == RULES


def test_resource_paths() -> None:
    assert resource_path("v1", "ConfigMap", "ns", "a") == "/api/v1/namespaces/ns/configmaps/a"
    assert resource_path("apps/v1", "Deployment", "ns") == "/apis/apps/v1/namespaces/ns/deployments"


def test_shared_spark_namespace_has_no_cross_namespace_owner() -> None:
    cfg = OperatorConfig(spark_namespace="spark")
    app = builders.spark_application(make(), OWNER, cfg)
    meta = app["metadata"]
    assert meta["namespace"] == "spark" and "ownerReferences" not in meta
    assert meta["labels"][builders.FEED_NAMESPACE_LABEL] == "markets"
    other = builders.spark_application(make(), builders.Owner("majors", "other", "u2"), cfg)
    assert other["metadata"]["name"] != meta["name"], "same feed name in two namespaces must not collide"
    assert len(meta["name"]) + len("-driver") <= 63
    same = builders.spark_application(make(), OWNER, OperatorConfig(spark_namespace="markets"))
    assert same["metadata"]["name"] == "majors-stream" and same["metadata"]["ownerReferences"]


def test_kafka_user_allows_exactly_the_feeds_own_topic_and_groups() -> None:
    feed = make()
    user = builders.kafka_user(feed, OWNER, CONFIG)
    assert user is not None and user["metadata"]["labels"]["strimzi.io/cluster"] == "prod-kafka"
    assert user["metadata"]["name"] == "majors-kafka" and user["spec"]["authentication"] == {"type": "scram-sha-512"}
    acls = {(a["resource"]["type"], a["resource"].get("name"), a["resource"].get("patternType")): a["operations"]
            for a in user["spec"]["authorization"]["acls"]}  # fmt: skip
    assert acls == {
        ("topic", feed.topic, "literal"): ["Describe", "Read", "Write"],
        ("topic", "coinstream.ingest.coverage.majors", "literal"): ["Describe", "Read", "Write"],
        ("transactionalId", "coinstream-backfill-majors", "literal"): ["Describe", "Write"],
        ("group", "majors-stream", "prefix"): ["Read"],
        ("cluster", None, None): ["IdempotentWrite"],
    }
    assert all(a["type"] == "allow" for a in user["spec"]["authorization"]["acls"])
    # Every client of the feed uses this user: producer/backfill env and the stream's flags.
    dep = builders.producer_deployment(feed, OWNER, CONFIG)
    env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["COINSTREAM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["COINSTREAM_KAFKA_SASL_USERNAME"] == "majors-kafka"
    assert env["COINSTREAM_KAFKA_SASL_PASSWORD_FILE"] == "/etc/coinstream/kafka-user/password"  # noqa: S105 (a path)
    app = builders.spark_application(feed, OWNER, CONFIG)
    args = app["spec"]["arguments"]
    flags = dict(zip(args[::2], args[1::2], strict=True))
    assert flags["--kafka-username"] == "majors-kafka" and flags["--group-id-prefix"] == "majors-stream"
    assert flags["--kafka-password-file"] == "/etc/coinstream/kafka-user/password"
    assert "password" not in str(app["spec"]["driver"].get("env", [])), "the password is a mounted file"
    assert {s["name"] for s in app["spec"]["executor"]["secrets"]} == {"majors-kafka", "prod-kafka-cluster-ca-cert"}
    plain = CONFIG.model_copy(update={"kafka_authentication": "none"})
    assert builders.kafka_user(feed, OWNER, plain) is None
    assert "--kafka-username" not in builders.spark_application(feed, OWNER, plain)["spec"]["arguments"]
