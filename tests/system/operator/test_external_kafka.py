"""Bring-your-own Kafka: the operator (real kube-apiserver, in external mode) against a real broker
that asks for SASL_SSL + SCRAM-SHA-512 (the devstack's secure broker, standing in for MSK,
Confluent or Redpanda). Topics come and go through the Kafka admin API, read back with a client
of our own; no Strimzi object is applied; pods mount the client Secret; a wrong password, an
unreachable Kafka and a missing Secret each leave the feed with a clear condition."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from tests.support.operator_env import Env, condition, feed, run_operator

from coinfeed_operator import kafka_admin
from coinfeed_operator.builders import KAFKA_CLIENT_DIR
from coinfeed_operator.config import OperatorConfig
from coinfeed_operator.topics import desired_topics
from coinstream.devstack.kafka import ADMIN_USER, APP_USER, LocalKafka
from coinstream.devstack.process import free_port
from coinstream.ingest.kafka import reader
from coinstream.models import parse_coinfeed

from .conftest import fresh_namespace

SECRET = "byo-kafka-client"  # noqa: S105 (a Secret's name)
WRONG = "not-the-password"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    kafka = LocalKafka(tmp_path_factory.mktemp("byo-kafka"), port=free_port(), controller_port=free_port(), secure=True)
    kafka.up(timeout=400)
    yield kafka
    kafka.down()


def client_dir(broker: LocalKafka, where: Path, password: str | None = None, user: str = ADMIN_USER) -> Path:
    """The client Secret as the chart mounts it into the operator: one file per key."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "security.protocol").write_text("SASL_SSL\n")
    (where / "sasl.mechanism").write_text("SCRAM-SHA-512\n")
    (where / "username").write_text(user + "\n")
    (where / "password").write_text(password or broker.password_file(user).read_text())
    (where / "ca.crt").write_text(broker.tls.ca_file.read_text())
    return where


def external_mode(monkeypatch: pytest.MonkeyPatch, bootstrap: str, directory: Path) -> None:
    monkeypatch.setenv("COINSTREAM_OPERATOR_KAFKA_MODE", "external")
    monkeypatch.setenv("COINSTREAM_OPERATOR_KAFKA_BOOTSTRAP", bootstrap)
    monkeypatch.setenv("COINSTREAM_OPERATOR_KAFKA_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("COINSTREAM_OPERATOR_KAFKA_CLIENT_DIR", str(directory))
    monkeypatch.setenv("COINSTREAM_OPERATOR_KAFKA_ADMIN_TIMEOUT_SECONDS", "5")


class Topics:
    """Our own view of the broker (the admin user), independent of the operator's code."""

    def __init__(self, broker: LocalKafka) -> None:
        self.admin = KafkaAdminClient(
            bootstrap_servers=broker.bootstrap,
            request_timeout_ms=10000,
            **broker.client_auth(ADMIN_USER).kafka_python(),
        )

    def partitions(self, name: str) -> int | None:
        if name not in self.admin.list_topics():
            return None
        [meta] = self.admin.describe_topics([name])
        return len(meta["partitions"])

    def config(self, name: str) -> dict[str, str]:
        [answer] = self.admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        [(_code, _msg, _type, _name, entries)] = answer.resources
        return {e[0]: e[1] for e in entries}


@pytest.fixture
def topics(broker: LocalKafka) -> Iterator[Topics]:
    t = Topics(broker)
    yield t
    t.admin.close()


def _apply(env: Env, ns: str, name: str, **spec: Any) -> None:
    doc = feed(name, **spec)
    doc["metadata"]["namespace"] = ns
    env.apply(doc)


def _degraded(env: Env, ns: str, name: str) -> dict[str, Any] | None:
    c = condition(env.get("coinfeed", name, ns), "Degraded")
    return c if c and c["status"] == "True" else None


def test_topics_are_made_grown_and_deleted_through_the_admin_api(
    env: Env, namespace: str, broker: LocalKafka, topics: Topics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    external_mode(monkeypatch, broker.bootstrap, client_dir(broker, tmp_path / "client"))
    env.kubectl("create", "secret", "generic", SECRET, "-n", namespace, f"--from-file={tmp_path / 'client'}")
    quotes, ledger = "coinstream.quotes.byo", "coinstream.ingest.coverage.byo"
    with run_operator():
        _apply(env, namespace, "byo", kafka={"partitions": 2, "replicas": 1})
        env.wait("both topics on the broker", lambda: topics.partitions(quotes) and topics.partitions(ledger))
        assert topics.partitions(quotes) == 2 and topics.partitions(ledger) == 1
        cfg = topics.config(quotes)
        assert (cfg["retention.ms"], cfg["cleanup.policy"], cfg["min.insync.replicas"]) == ("604800000", "delete", "1")
        assert topics.config(ledger)["cleanup.policy"] == "compact"
        env.wait(
            "topicReady", lambda: ((env.get("coinfeed", "byo", namespace) or {}).get("status") or {}).get("topicReady")
        )
        assert condition(env.get("coinfeed", "byo", namespace), "Degraded")["status"] == "False"  # type: ignore[index]

        # No Strimzi object in this mode.
        for kind in ("kafkatopics", "kafkausers"):
            assert env.kubectl("get", kind, "-n", namespace, "-o", "name").stdout.strip() == ""

        # The pods (made by the real Deployment and Job controllers) mount the client Secret and
        # carry no credential of their own.
        def pods() -> list[dict[str, Any]]:
            out = env.kubectl("get", "pods", "-n", namespace, "-l", "coinstream.io/feed=byo", "-o", "json").stdout
            items: list[dict[str, Any]] = json.loads(out)["items"]
            return items if len(items) >= 2 else []

        made = env.wait("producer and backfill pods", pods, timeout=120)
        assert {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in made} == {"producer", "backfill"}
        for pod in made:
            spec = pod["spec"]
            assert {"name": "kafka-client", "secret": {"secretName": SECRET, "defaultMode": 0o440}} in spec["volumes"]
            (container,) = spec["containers"]
            env_vars = {e["name"]: e.get("value") for e in container["env"]}
            assert env_vars["COINSTREAM_KAFKA_CLIENT_DIR"] == KAFKA_CLIENT_DIR
            assert env_vars["COINSTREAM_KAFKA_BOOTSTRAP"] == broker.bootstrap
            assert broker.password_file(ADMIN_USER).read_text().strip() not in json.dumps(pod)
        app = env.get("sparkapplication", "byo-stream", namespace)
        assert app is not None
        assert app["spec"]["driver"]["secrets"] == [{"name": SECRET, "path": KAFKA_CLIENT_DIR, "secretType": "Generic"}]

        # More partitions: added on the broker.
        env.kubectl(
            "patch", "coinfeed", "byo", "-n", namespace, "--type=merge", "-p", '{"spec":{"kafka":{"partitions":4}}}'
        )
        env.wait("4 partitions", lambda: topics.partitions(quotes) == 4)

        # Fewer: Kafka cannot; the feed says so and the topic keeps its 4.
        env.kubectl(
            "patch", "coinfeed", "byo", "-n", namespace, "--type=merge", "-p", '{"spec":{"kafka":{"partitions":3}}}'
        )
        degraded = env.wait("Degraded on fewer partitions", lambda: _degraded(env, namespace, "byo"))
        assert "has 4 partitions and spec.kafka.partitions asks for 3" in degraded["message"]
        assert "cannot remove partitions" in degraded["message"]
        assert topics.partitions(quotes) == 4

        # Deleting the feed deletes its topics, as Strimzi does for the KafkaTopics it owned.
        env.kubectl("delete", "coinfeed", "byo", "-n", namespace, "--timeout=150s", timeout=180)
        env.wait("topics deleted", lambda: topics.partitions(quotes) is None and topics.partitions(ledger) is None)


def test_wrong_password_makes_the_feed_degraded_and_creates_nothing(
    env: Env, namespace: str, broker: LocalKafka, topics: Topics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    external_mode(monkeypatch, broker.bootstrap, client_dir(broker, tmp_path / "client", password=WRONG))
    with run_operator():
        _apply(env, namespace, "badpw")
        degraded = env.wait("Degraded on a refused login", lambda: _degraded(env, namespace, "badpw"))
        assert "refused the operator's credentials (SCRAM-SHA-512 authentication failed)" in degraded["message"]
        assert "check `username` and `password`" in degraded["message"]
        assert WRONG not in json.dumps(env.get("coinfeed", "badpw", namespace))
        assert topics.partitions("coinstream.quotes.badpw") is None
        # Nothing is applied while the Kafka refuses us.
        assert env.get("deployment", "badpw-producer", namespace) is None
        # A fixed Secret (the mounted files update in place) heals the feed without a restart.
        client_dir(broker, tmp_path / "client")
        env.wait("topic made after the fix", lambda: topics.partitions("coinstream.quotes.badpw") == 3, timeout=120)
        env.wait("Degraded cleared", lambda: not _degraded(env, namespace, "badpw"), timeout=90)
        env.kubectl("delete", "coinfeed", "badpw", "-n", namespace, "--timeout=150s", timeout=180)


def test_unreachable_kafka_is_retried_not_degraded(
    env: Env, namespace: str, broker: LocalKafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    external_mode(monkeypatch, nobody, client_dir(broker, tmp_path / "client"))
    with run_operator():
        _apply(env, namespace, "away")

        def not_ready() -> dict[str, Any] | None:
            c = condition(env.get("coinfeed", "away", namespace), "Ready")
            return c if c and "is unreachable" in c["message"] else None

        ready = env.wait("Ready=False saying Kafka is unreachable", not_ready, timeout=120)
        assert ready["status"] == "False" and nobody in ready["message"]
        assert not _degraded(env, namespace, "away")


FEED = """apiVersion: coinstream.io/v1alpha1
kind: CoinFeed
metadata: {name: podside}
spec:
  coins: [bitcoin, ethereum]
  source: {type: simulated, seed: 3}
  backfill: {from: "2026-10-01", granularity: daily}
  kafka: {partitions: 2}
"""


def test_the_pods_clients_write_through_the_mounted_secret_as_the_feeds_principal(
    broker: LocalKafka, tmp_path: Path
) -> None:
    """The producer and the backfill as their pods run them (`--no-ensure-topic`, the client
    Secret as files in COINSTREAM_KAFKA_CLIENT_DIR and nothing else), as the broker's app user,
    which may not create topics here: the operator's admin connection made them."""
    feed_file = tmp_path / "feed.yaml"
    feed_file.write_text(FEED)
    feed = parse_coinfeed(yaml.safe_load(FEED))
    operator = OperatorConfig(
        kafka_mode="external",
        kafka_bootstrap=broker.bootstrap,
        kafka_client_secret=SECRET,
        kafka_client_dir=client_dir(broker, tmp_path / "operator"),
    )
    assert kafka_admin.sync_topics(operator, desired_topics(feed)) == []
    mounted = client_dir(broker, tmp_path / "pod", user=APP_USER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COINSTREAM_KAFKA_")}
    env |= {"COINSTREAM_KAFKA_BOOTSTRAP": broker.bootstrap, "COINSTREAM_KAFKA_CLIENT_DIR": str(mounted)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "coinstream", *args, "-f", str(feed_file), "--no-ensure-topic"],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    backfill = cli("backfill")
    assert backfill.returncode == 0, backfill.stderr
    once = cli("feed", "run", "--once")
    assert once.returncode == 0, once.stderr
    consumer = reader(broker.bootstrap, feed.topic, consumer_timeout_ms=20000, auto_offset_reset="earliest",
                      **broker.client_auth(ADMIN_USER).kafka_python())  # fmt: skip
    try:
        records = sum(1 for _ in consumer)
    finally:
        consumer.close()
    assert records >= 2 * 30 + 2  # two months of daily history for two coins, and a live tick each

    # A wrong password in the mounted Secret: refused, and the CLI says where to look.
    (mounted / "password").write_text(WRONG)
    refused = cli("feed", "run", "--once")
    assert refused.returncode == 1
    said = " ".join(refused.stderr.split())
    assert "refused user 'coinstream' (SCRAM-SHA-512 authentication failed)" in said, said
    assert "COINSTREAM_KAFKA_CLIENT_DIR" in said and "Traceback" not in said


def test_one_kafka_for_every_namespace_keeps_a_topic_with_its_first_feed(
    env: Env, namespace: str, broker: LocalKafka, topics: Topics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two feeds of one name in two namespaces would share `coinstream.quotes.<feed>` on a shared
    Kafka: the later one is Degraded, and deleting it leaves the first one's topic alone."""
    external_mode(monkeypatch, broker.bootstrap, client_dir(broker, tmp_path / "client"))
    topic = "coinstream.quotes.dup"
    with run_operator(), fresh_namespace(env) as other:
        _apply(env, namespace, "dup", kafka={"partitions": 2})
        env.wait("the first feed's topic", lambda: topics.partitions(topic) == 2)
        # Its status says it holds the topic; the second feed may be created within the same second
        # (creation times are kept to the second), and it still must not take the topic.
        env.wait(
            "the first feed holds it",
            lambda: (env.get("coinfeed", "dup", namespace) or {}).get("status", {}).get("topicsHeld"),
        )
        _apply(env, other, "dup", kafka={"partitions": 5})
        degraded = env.wait("the second feed Degraded", lambda: _degraded(env, other, "dup"))
        assert f"topic {topic} belongs to CoinFeed {namespace}/dup, which made it" in degraded["message"]
        assert not _degraded(env, namespace, "dup")
        assert topics.partitions(topic) == 2  # the second spec never touched it
        env.kubectl("delete", "coinfeed", "dup", "-n", other, "--timeout=150s", timeout=180)
        assert topics.partitions(topic) == 2
        env.kubectl("delete", "coinfeed", "dup", "-n", namespace, "--timeout=150s", timeout=180)
        env.wait("the topic deleted with its own feed", lambda: topics.partitions(topic) is None)
