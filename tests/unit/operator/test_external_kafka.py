"""Bring-your-own Kafka, the pure parts: the topics a feed wants, the plan from what a Kafka has,
the pods wired to the client Secret (mounted, never inlined), and that Secret read as files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kafka.errors import InvalidReplicationFactorError, LeaderNotAvailableError, TopicAuthorizationFailedError
from pydantic import ValidationError

from coinfeed_operator import builders, kafka_admin
from coinfeed_operator.config import OperatorConfig
from coinfeed_operator.topics import (
    Claim,
    TopicSpec,
    TopicState,
    claimed_topics,
    desired_topics,
    plan,
    topic_conflicts,
    topic_names,
    unclaimed,
)
from coinstream.lakehouse.cli_args import config_from_argv
from coinstream.models import CoinFeed, parse_coinfeed
from coinstream.platform.kafka_auth import CLIENT_KEYS, KafkaAuth, KafkaAuthError

OWNER = builders.Owner(name="majors", namespace="markets", uid="0000-1111")
SECRET = "msk-client"  # noqa: S105 (a Secret's name)
PASSWORD = "s3cret"  # noqa: S105 (a test value)
EXTERNAL = OperatorConfig(
    kafka_mode="external", kafka_bootstrap="b-1.msk.example:9096,b-2.msk.example:9096", kafka_client_secret=SECRET
)


def make(**spec: Any) -> CoinFeed:
    base: dict[str, Any] = {"coins": ["bitcoin"], "source": {"type": "simulated"}, "backfill": {"from": "2024-01-01"}}
    base.update(spec)
    return parse_coinfeed(
        {"apiVersion": "coinstream.io/v1alpha1", "kind": "CoinFeed", "metadata": {"name": "majors"}, "spec": base}
    )


def state(spec: TopicSpec, **changes: Any) -> TopicState:
    fields = {
        "name": spec.name,
        "partitions": spec.partitions,
        "replicas": spec.replicas,
        "config": spec.kafka_config(),
    }
    return TopicState(**(fields | changes))


def test_both_topics_follow_the_spec_and_match_the_strimzi_mode() -> None:
    feed = make(kafka={"partitions": 6, "replicas": 3})
    quotes, ledger = desired_topics(feed)
    assert (quotes.name, quotes.partitions, quotes.replicas) == ("coinstream.quotes.majors", 6, 3)
    assert quotes.kafka_config() == {
        "retention.ms": "604800000",
        "cleanup.policy": "delete",
        "min.insync.replicas": "2",
    }
    assert (ledger.name, ledger.partitions, ledger.replicas) == ("coinstream.ingest.coverage.majors", 1, 3)
    assert ledger.kafka_config()["cleanup.policy"] == "compact"
    # One description for both modes: the KafkaTopics carry exactly the same settings.
    strimzi = OperatorConfig()
    assert builders.kafka_topic(feed, OWNER, strimzi)["spec"]["config"] == quotes.config
    ledger_object = builders.ledger_kafka_topic(feed, OWNER, strimzi)
    assert ledger_object is not None and ledger_object["spec"]["config"] == ledger.config
    # No backfill, no ledger.
    assert [t.name for t in desired_topics(make(backfill=None))] == ["coinstream.quotes.majors"]


def test_plan_creates_a_missing_topic() -> None:
    want = desired_topics(make())[0]
    change = plan(want, None)
    assert change.create == want and change.problems == [] and change.changes


def test_plan_leaves_a_topic_in_sync_alone() -> None:
    want = desired_topics(make())[0]
    change = plan(want, state(want))
    assert not change.changes and change.problems == []


def test_plan_grows_partitions_but_never_shrinks_them() -> None:
    want = desired_topics(make(kafka={"partitions": 5}))[0]
    grow = plan(want, state(want, partitions=3))
    assert grow.grow_to == 5 and grow.problems == []
    shrink = plan(want, state(want, partitions=8))
    assert shrink.grow_to is None and not shrink.changes
    assert shrink.problems == [
        "topic coinstream.quotes.majors has 8 partitions and spec.kafka.partitions asks for 5: Kafka cannot "
        "remove partitions; set spec.kafka.partitions >= 8"
    ]


def test_plan_fixes_drifted_configs_and_keeps_settings_it_does_not_own() -> None:
    want = desired_topics(make())[0]
    have = state(want, config={"retention.ms": "1000", "cleanup.policy": "delete", "max.message.bytes": "2000000"})
    change = plan(want, have)
    assert change.set_config == {
        "retention.ms": "604800000",
        "cleanup.policy": "delete",
        "min.insync.replicas": "1",
        "max.message.bytes": "2000000",  # an administrator's setting survives AlterConfigs
    }


def test_plan_says_a_replication_factor_cannot_change() -> None:
    want = desired_topics(make(kafka={"replicas": 1}))[0]
    change = plan(want, state(want, replicas=3))
    assert len(change.problems) == 1 and "replication factor 3" in change.problems[0]
    assert "spec.kafka.replicas: 3" in change.problems[0]


def test_external_mode_applies_no_strimzi_objects() -> None:
    kinds = [c["kind"] for c in builders.desired_children(make(), OWNER, EXTERNAL)]
    assert kinds == ["ConfigMap", "Deployment", "SparkApplication", "Job"]


def test_external_mode_needs_the_client_secret() -> None:
    with pytest.raises(ValidationError, match="COINSTREAM_OPERATOR_KAFKA_CLIENT_SECRET"):
        OperatorConfig(kafka_mode="external")


@pytest.mark.parametrize("builder", [builders.producer_deployment, builders.backfill_job])
def test_pods_mount_the_client_secret_and_inline_no_credential(builder: Any) -> None:
    obj = builder(make(), OWNER, EXTERNAL)
    pod = obj["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["COINSTREAM_KAFKA_BOOTSTRAP"] == "b-1.msk.example:9096,b-2.msk.example:9096"
    assert env["COINSTREAM_KAFKA_CLIENT_DIR"] == builders.KAFKA_CLIENT_DIR
    assert not {"COINSTREAM_KAFKA_SASL_USERNAME", "COINSTREAM_KAFKA_SASL_PASSWORD_FILE"} & set(env)
    volume = next(v for v in pod["volumes"] if v["name"] == "kafka-client")
    assert volume["secret"] == {"secretName": SECRET, "defaultMode": 0o440}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "kafka-client")
    assert mount == {"name": "kafka-client", "mountPath": builders.KAFKA_CLIENT_DIR, "readOnly": True}
    # No KafkaUser Secret or Strimzi CA in this mode.
    assert not {"kafka-user", "kafka-ca"} & {v["name"] for v in pod["volumes"]}


def test_stream_reads_the_client_secret_on_driver_and_executors() -> None:
    app = builders.spark_application(make(), OWNER, EXTERNAL)
    for role in ("driver", "executor"):
        assert app["spec"][role]["secrets"] == [
            {"name": SECRET, "path": builders.KAFKA_CLIENT_DIR, "secretType": "Generic"}
        ]
    cfg = config_from_argv(app["spec"]["arguments"], "stream")
    assert cfg.kafka_client_dir == builders.KAFKA_CLIENT_DIR
    assert cfg.bootstrap == EXTERNAL.kafka_bootstrap
    assert "password" not in json.dumps(app["spec"]["arguments"]).lower()


def client_dir(tmp_path: Path, **keys: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    for key, value in keys.items():
        (tmp_path / key).write_text(value + "\n")
    return tmp_path


def test_client_secret_keys_are_documented_once() -> None:
    assert CLIENT_KEYS == ("security.protocol", "sasl.mechanism", "username", "password", "ca.crt")


def test_client_dir_defaults_to_sasl_ssl_scram_512_and_system_trust(tmp_path: Path) -> None:
    auth = KafkaAuth.from_client_dir(client_dir(tmp_path, username="feeds", password=PASSWORD))
    assert (auth.protocol, auth.mechanism, auth.username, auth.ca_file) == ("SASL_SSL", "SCRAM-SHA-512", "feeds", None)
    kw = auth.kafka_python()
    assert kw["sasl_mechanism"] == "SCRAM-SHA-512" and "ssl_cafile" not in kw
    assert kw["sasl_plain_password"] == PASSWORD


def test_the_librdkafka_dialect_verifies_the_host_and_carries_the_secret(tmp_path: Path) -> None:
    """The live producer's properties (confluent-kafka): TLS with hostname checks, the CA, SCRAM."""
    d = client_dir(tmp_path, username="feeds", password=PASSWORD)
    (d / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    props = KafkaAuth.from_client_dir(d).librdkafka()
    assert props == {
        "security.protocol": "SASL_SSL",
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": str(d / "ca.crt"),
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "feeds",
        "sasl.password": PASSWORD,
    }
    assert KafkaAuth().librdkafka() == {}
    tls_only = KafkaAuth.from_parts("SSL", None, None, None, None).librdkafka()
    assert tls_only == {"security.protocol": "SSL", "ssl.endpoint.identification.algorithm": "https"}


def test_client_dir_for_confluent_uses_plain_in_both_dialects(tmp_path: Path) -> None:
    d = client_dir(tmp_path, **{"sasl.mechanism": "PLAIN", "username": "APIKEY", "password": "API-SECRET"})
    (d / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    auth = KafkaAuth.from_client_dir(d)
    assert auth.kafka_python()["sasl_mechanism"] == "PLAIN"
    assert auth.kafka_python()["ssl_cafile"] == str(d / "ca.crt")
    spark = auth.spark_options()
    assert spark["kafka.sasl.mechanism"] == "PLAIN"
    assert spark["kafka.sasl.jaas.config"].startswith(
        "org.apache.kafka.common.security.plain.PlainLoginModule required"
    )


def test_client_dir_scram_256_for_redpanda(tmp_path: Path) -> None:
    d = client_dir(tmp_path, **{"sasl.mechanism": "SCRAM-SHA-256", "username": "u", "password": "p"})
    spark = KafkaAuth.from_client_dir(d).spark_options()
    assert spark["kafka.sasl.mechanism"] == "SCRAM-SHA-256"
    assert "ScramLoginModule" in spark["kafka.sasl.jaas.config"]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"username": "u"}, "needs a user and a password"),
        ({"sasl.mechanism": "GSSAPI", "username": "u", "password": "p"}, "unsupported Kafka SASL mechanism 'GSSAPI'"),
        ({"security.protocol": "SASL_PLAINTEXT"}, "unknown Kafka security protocol"),
    ],
)
def test_client_dir_refuses_what_cannot_work(tmp_path: Path, keys: dict[str, str], message: str) -> None:
    with pytest.raises(KafkaAuthError, match=message):
        KafkaAuth.from_client_dir(client_dir(tmp_path, **keys))


def test_missing_client_dir_says_to_mount_the_secret(tmp_path: Path) -> None:
    with pytest.raises(KafkaAuthError, match="is the Secret mounted"):
        KafkaAuth.from_client_dir(tmp_path / "absent")


OLD = Claim(1, "2026-11-30T10:00:00Z", "team-a", "btc", "uid-a")
NEW = Claim(1, "2026-11-30T11:00:00Z", "team-b", "btc", "uid-b")


def _feed_body(namespace: str, created: str, uid: str, held: bool | None) -> dict[str, object]:
    meta = {"name": "btc", "namespace": namespace, "creationTimestamp": created, "uid": uid}
    return {"metadata": meta, "spec": {}, "status": {"topicsHeld": held} if held is not None else {}}


def test_a_feed_claims_its_ledger_only_with_a_backfill() -> None:
    assert claimed_topics("btc", {}) == ["coinstream.quotes.btc"]
    assert claimed_topics("btc", {"kafka": {"topic": "t"}, "backfill": {"from": "2024-01-01"}}) == [
        "t",
        "coinstream.ingest.coverage.btc",
    ]
    # Deletion looks at both: the backfill may have been removed after its ledger was made.
    assert topic_names("btc", {}) == ["coinstream.quotes.btc", "coinstream.ingest.coverage.btc"]


def test_the_older_feed_keeps_a_shared_topic_and_the_newer_is_told() -> None:
    claims = {"coinstream.quotes.btc": [OLD, NEW], "coinstream.ingest.coverage.btc": [OLD, NEW]}
    assert topic_conflicts(OLD, claims, claims) == []
    quotes, ledger = topic_conflicts(NEW, claims, claims)
    assert quotes.startswith("topic coinstream.quotes.btc belongs to CoinFeed team-a/btc, created first")
    assert quotes.endswith("set another spec.kafka.topic")
    assert ledger.endswith("rename this CoinFeed (the backfill's coverage ledger is named after the feed)")


def test_the_feed_that_made_the_topic_keeps_it_within_the_same_second() -> None:
    """Creation times are kept to the second: two feeds applied within one second tie, and the
    namespace names (here "team-a" < "team-z") would give the topic to the feed that did not make it."""
    same = "2026-11-30T10:00:00Z"
    maker = Claim.of(_feed_body("team-z", same, "uid-z", held=True))
    later = Claim.of(_feed_body("team-a", same, "uid-a", held=None))
    claims = {"coinstream.quotes.btc": [maker, later]}
    assert topic_conflicts(maker, ["coinstream.quotes.btc"], claims) == []
    (problem,) = topic_conflicts(later, ["coinstream.quotes.btc"], claims)
    assert problem.startswith("topic coinstream.quotes.btc belongs to CoinFeed team-z/btc")
    # Even an older feed that has not made it yet (e.g. Kafka was down when it was applied).
    older = Claim.of(_feed_body("team-a", "2026-11-30T09:00:00Z", "uid-o", held=False))
    assert topic_conflicts(older, ["coinstream.quotes.btc"], {"coinstream.quotes.btc": [maker, older]})


def test_a_deleted_feed_leaves_topics_another_feed_claims() -> None:
    claims = {"coinstream.quotes.btc": [OLD, NEW]}
    names = topic_names("btc", {})
    assert unclaimed(NEW, names, claims) == ["coinstream.ingest.coverage.btc"]
    assert unclaimed(OLD, names, {"coinstream.quotes.btc": [OLD]}) == names


def test_the_stream_meets_a_mounted_secret_exactly_as_it_meets_explicit_flags(tmp_path: Path) -> None:
    """`--kafka-client-dir` gives the Spark Kafka source the same options as the explicit flags,
    whose path the secure-broker Spark test (tests/system/lakehouse/test_secure_kafka.py) runs."""
    d = client_dir(tmp_path / "secret", username="coinstream", password=PASSWORD)
    (d / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    from_dir = config_from_argv(["--kafka-client-dir", str(d)], "stream").kafka_auth().spark_options()
    explicit = config_from_argv(
        [
            "--kafka-security-protocol", "SASL_SSL",
            "--kafka-username", "coinstream",
            "--kafka-password-file", str(d / "password"),
            "--kafka-ca-file", str(d / "ca.crt"),
        ],
        "stream",
    ).kafka_auth().spark_options()  # fmt: skip
    assert from_dir == explicit
    assert from_dir["kafka.sasl.mechanism"] == "SCRAM-SHA-512"


def test_broker_answers_sort_into_retry_and_degraded() -> None:
    """A retriable answer (a topic just created, a leader moving) is retried, not Degraded; a
    refusal no retry can fix carries the broker's reason; ACL denials go to the ACL message."""
    with pytest.raises(kafka_admin.KafkaUnreachable, match="LeaderNotAvailableError"):
        kafka_admin._refused(LeaderNotAvailableError, "t", None, "describing topic")
    with pytest.raises(kafka_admin.KafkaRefused, match="InvalidReplicationFactorError: 3 > 1 brokers"):
        kafka_admin._refused(InvalidReplicationFactorError, "t", "3 > 1 brokers", "creating topic")
    with pytest.raises(TopicAuthorizationFailedError):
        kafka_admin._refused(TopicAuthorizationFailedError, "t", None, "creating topic")
