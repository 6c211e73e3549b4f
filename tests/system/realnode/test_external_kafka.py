"""Bring your own Kafka, end to end on the real node: a Kafka broker OUTSIDE the cluster (a real
broker process on the host, the devstack's secure broker: SASL_SSL + SCRAM-SHA-512, ACLs
enforced), listening on the node's address only, which pods reach. The platform chart with its
laptop profile and without Strimzi (`values-external-kafka.yaml`), the operator in external
mode; the client settings, credentials and CA reach both from Secrets (docs/byo-kafka.md).

A simulated CoinFeed applied with kubectl: the operator creates its topic and coverage ledger on
the external broker through the Kafka admin API (checked with an admin client of our own); the
producer and the backfill write to it as the feeds' principal, which holds exactly the ACLs a
Strimzi KafkaUser of the feed would; the Spark stream commits to Iceberg on HDFS; the CoinFeed
turns Ready; the rows read through Trino as the analyst are the records Kafka committed, none
twice. No Pending pod, no restart. The short run: no notebook, no roll, no delete + re-apply
(test_platform.py runs those against Strimzi).
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ConfigResource,
    ConfigResourceType,
    ResourcePattern,
    ResourceType,
)
from tests.support import cluster_flow
from tests.support.cluster_flow import (
    FEED,
    NS,
    REPO,
    TOPIC,
    Timings,
    check_pods,
    feed_file,
    stream_ready_after_first_commit,
    wait_for_rows,
)
from tests.support.kafka_topics import read_committed
from tests.support.realnode import NODE_IP, RealNode

from coinstream.devstack.kafka import ADMIN_USER, LocalKafka
from coinstream.devstack.process import free_port, port_open
from coinstream.models.quote import Quote

# Node, images and the lakehouse on a shared 2-core machine: far beyond the suite's 900 s.
pytestmark = pytest.mark.timeout(2400)

TIMINGS = Timings()
LEDGER = f"coinstream.ingest.coverage.{FEED}"
#: The feeds' principal (producer, backfill, stream) and its Secret; the operator's admin
#: connection has a Secret of its own (the chart's kafka.external.operatorSecret).
FEED_USER = "coinfeeds"
CLIENT_SECRET = "kafka-client"  # noqa: S105 (a Secret's name)
OPERATOR_SECRET = "kafka-operator"  # noqa: S105 (a Secret's name)


def feed_acls() -> list[ACL]:
    """What the Kafka's owner grants the feeds' principal: exactly the ACLs of the KafkaUser the
    Strimzi mode makes for the feed (coinfeed_operator.builders.kafka_user)."""
    literal, prefixed = ACLResourcePatternType.LITERAL, ACLResourcePatternType.PREFIXED
    grants = [
        (ResourceType.TOPIC, TOPIC, literal, (ACLOperation.DESCRIBE, ACLOperation.READ, ACLOperation.WRITE)),
        (ResourceType.TOPIC, LEDGER, literal, (ACLOperation.DESCRIBE, ACLOperation.READ, ACLOperation.WRITE)),
        (ResourceType.TRANSACTIONAL_ID, f"coinstream-backfill-{FEED}", literal,
         (ACLOperation.DESCRIBE, ACLOperation.WRITE)),
        (ResourceType.GROUP, f"{FEED}-stream", prefixed, (ACLOperation.READ,)),
        (ResourceType.CLUSTER, "kafka-cluster", literal, (ACLOperation.IDEMPOTENT_WRITE,)),
    ]  # fmt: skip
    return [
        ACL(f"User:{FEED_USER}", "*", op, ACLPermissionType.ALLOW, ResourcePattern(rtype, name, pattern))
        for rtype, name, pattern, ops in grants
        for op in ops
    ]


def client_dir(kafka: LocalKafka, where: Path, user: str, password: str) -> Path:
    """The client Secret's keys (coinstream.platform.kafka_auth.CLIENT_KEYS), one file each."""
    where.mkdir(mode=0o700, parents=True)
    for key, value in {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "username": user,
        "password": password,
        "ca.crt": kafka.tls.ca_file.read_text(),
    }.items():
        (where / key).write_text(value)
        (where / key).chmod(0o600)
    return where


def admin(kafka: LocalKafka) -> KafkaAdminClient:
    """Our own admin view of the broker, independent of the operator's code."""
    return KafkaAdminClient(
        bootstrap_servers=kafka.bootstrap, request_timeout_ms=15000, **kafka.client_auth(ADMIN_USER).kafka_python()
    )


@pytest.fixture(scope="module")
def byo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RealNode, dict[str, Any]]]:
    work = tmp_path_factory.mktemp("byo-kafka")
    port = free_port()

    @contextlib.contextmanager
    def external_broker(node: RealNode) -> Iterator[LocalKafka]:
        """The broker on the node's address (it exists once the node is up), its feeds' user
        granted, and the two client Secrets in the namespace before the charts are installed."""
        feed_password = secrets.token_urlsafe(24)
        kafka = LocalKafka(
            work / "kafka",
            port=port,
            controller_port=free_port(),
            host=NODE_IP,
            secure=True,
            extra_users={FEED_USER: feed_password},
        )
        try:
            with TIMINGS.phase("external broker up"):
                kafka.up(timeout=400)
            a = admin(kafka)
            try:
                result = a.create_acls(feed_acls())
            finally:
                a.close()
            assert not result.get("failed"), result
            admin_password = kafka.password_file(ADMIN_USER).read_text().strip()
            for secret, user, password in (
                (CLIENT_SECRET, FEED_USER, feed_password),
                (OPERATOR_SECRET, ADMIN_USER, admin_password),
            ):
                files = client_dir(kafka, work / "secrets" / secret, user, password)
                node.kubectl("create", "secret", "generic", secret, "-n", NS, f"--from-file={files}")
            yield kafka
        finally:
            kafka.down()

    platform_args = (
        "-f", str(REPO / "charts/coinstream/values-external-kafka.yaml"),
        "--set", f"kafka.external.cidrs={{{NODE_IP}/32}}",
        "--set", f"kafka.external.ports={{{port}}}",
    )  # fmt: skip
    operator_args = (
        "--set", "kafka.external.enabled=true",
        "--set", f"kafka.external.bootstrapServers={NODE_IP}:{port}",
        "--set", f"kafka.external.existingSecret={CLIENT_SECRET}",
        "--set", f"kafka.external.operatorSecret={OPERATOR_SECRET}",
    )  # fmt: skip
    with cluster_flow.platform(
        work,
        TIMINGS,
        images=("app", "spark", "standins"),
        platform_args=platform_args,
        operator_args=operator_args,
        strimzi=False,
        around=external_broker,
    ) as run:
        yield run


def _kafka(ctx: dict[str, Any]) -> LocalKafka:
    kafka: LocalKafka = ctx["extra"]
    return kafka


def test_no_strimzi_and_the_broker_is_outside_the_cluster(byo: tuple[RealNode, dict[str, Any]]) -> None:
    """Nothing of Strimzi is installed; the broker is a host process that answers on the node's
    address only (not on loopback, not on every address)."""
    node, ctx = byo
    crds = node.kubectl("get", "crds", "-o", "name")
    assert "strimzi.io" not in crds, crds
    kafka = _kafka(ctx)
    assert kafka.bootstrap == f"{NODE_IP}:{kafka.port}"
    assert port_open(kafka.port, NODE_IP) and not port_open(kafka.port, "127.0.0.1")


def test_the_feeds_topics_are_made_on_the_external_broker(byo: tuple[RealNode, dict[str, Any]]) -> None:
    """`kubectl apply` the simulated CoinFeed: the operator creates its topic and coverage ledger
    through the admin API, with the feed's partitions and the settings the Strimzi mode uses."""
    node, ctx = byo
    kafka = _kafka(ctx)
    feed = yaml.safe_load(feed_file(ctx["work"]).read_text())
    a = admin(kafka)
    try:

        def made() -> dict[str, int] | None:
            names = set(a.list_topics())
            if not {TOPIC, LEDGER} <= names:
                return None
            return {m["topic"]: len(m["partitions"]) for m in a.describe_topics([TOPIC, LEDGER])}

        with TIMINGS.phase("coinfeed applied -> topics on the external broker"):
            node.kubectl("apply", "-n", NS, "-f", str(feed_file(ctx["work"])))
            partitions = node.wait_for("the feed's topics on the external broker", made, timeout=300, interval=2)
        configs = {}
        for name in (TOPIC, LEDGER):
            [answer] = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
            [(_code, _msg, _type, _name, entries)] = answer.resources
            configs[name] = {e[0]: e[1] for e in entries}
    finally:
        a.close()
    assert partitions == {TOPIC: feed["spec"]["kafka"]["partitions"], LEDGER: 1}, partitions
    quotes = configs[TOPIC]
    assert (quotes["retention.ms"], quotes["cleanup.policy"], quotes["min.insync.replicas"]) == (
        "604800000",
        "delete",
        "1",
    )
    assert configs[LEDGER]["cleanup.policy"] == "compact"
    status = node.kubectl_json("get", "coinfeed", FEED, "-n", NS).get("status", {})
    degraded = [c for c in status.get("conditions", []) if c["type"] == "Degraded" and c["status"] == "True"]
    assert not degraded, status


def test_producer_and_backfill_write_to_the_external_broker(byo: tuple[RealNode, dict[str, Any]]) -> None:
    """The producer (live quotes) and the backfill Job (the last 30 days, in transactions) write
    as the feeds' principal; every committed record is a valid Quote keyed by its series."""
    node, ctx = byo
    kafka = _kafka(ctx)
    with TIMINGS.phase("producer available"):
        node.kubectl("rollout", "status", f"deployment/{FEED}-producer", "-n", NS, "--timeout=300s", timeout=330)
    selector = f"coinstream.io/feed={FEED},app.kubernetes.io/component=backfill"

    def job_done() -> dict[str, Any] | None:
        for job in node.kubectl_json("get", "jobs", "-n", NS, "-l", selector)["items"]:
            for c in job.get("status", {}).get("conditions", []):
                if c["type"] in ("Complete", "Failed") and c["status"] == "True":
                    return dict(job)
        return None

    with TIMINGS.phase("backfill Job finished"):
        job = node.wait_for("the backfill Job to finish", job_done, timeout=600, interval=5)
    logs = node.kubectl("logs", f"job/{job['metadata']['name']}", "-n", NS, "--tail=20", check=False)
    assert job["status"].get("succeeded") == 1 and not job["status"].get("failed"), (job["status"], logs)

    def live_and_history() -> list[Quote] | None:
        _, rows = read_committed(kafka.bootstrap, TOPIC, **kafka.client_auth(ADMIN_USER).kafka_python())
        quotes = [Quote.model_validate(r.value) for r in rows]
        assert all(r.key.encode() == q.key for r, q in zip(rows, quotes, strict=True)), "a record keyed wrongly"
        origins = {q.origin for q in quotes}
        return quotes if {"live", "backfill"} <= origins else None

    with TIMINGS.phase("records read back"):
        quotes = node.wait_for("live and backfilled quotes in the topic", live_and_history, timeout=300, interval=5)
    feed = yaml.safe_load(feed_file(ctx["work"]).read_text())
    assert {q.coin_id for q in quotes} == set(feed["spec"]["coins"])
    assert {q.feed for q in quotes} == {FEED}
    print(f"\nrecords in {TOPIC}: {len(quotes)}, by origin {json.dumps(Counter(q.origin for q in quotes))}")


def test_stream_commits_and_the_coinfeed_turns_ready(byo: tuple[RealNode, dict[str, Any]]) -> None:
    """The Spark stream reads the external broker (the client Secret mounted in its pods) and
    commits; the CoinFeed turns Ready, not before the first commit."""
    stream_ready_after_first_commit(*byo, TIMINGS)


def test_rows_in_trino_equal_the_records_kafka_committed(byo: tuple[RealNode, dict[str, Any]]) -> None:
    """Every record the external Kafka committed (read_committed, below the end offsets) is one
    row of the table, read through Trino as the analyst: none lost, none twice."""
    node, ctx = byo
    kafka = _kafka(ctx)
    ends, rows = read_committed(kafka.bootstrap, TOPIC, **kafka.client_auth(ADMIN_USER).kafka_python())
    acked = set()
    for r in rows:
        q = Quote.model_validate(r.value)
        acked.add((q.vs_currency, q.coin_id, q.source, round(q.source_ts.timestamp() * 1000)))
    assert acked, "no records in the topic"
    with TIMINGS.phase("rows in Iceberg cover the committed records"):
        table = wait_for_rows(node, ctx, TOPIC, acked)
    identities = [r[2:] for r in table]
    below = {r[2:] for r in table if r[1] < ends.get(r[0], 0)}
    print(
        f"\nrows read through Trino: {len(table)}, {len(below)} below the end offsets {ends}; committed: {len(acked)}"
    )
    TIMINGS["rows read through Trino"] = len(table)
    TIMINGS["records committed in Kafka (below the end offsets)"] = len(acked)
    assert len(identities) == len(set(identities)), "a quote twice in the table"
    assert below == acked, sorted(below ^ acked)[:10]


def test_no_pending_pods_and_no_restarts(byo: tuple[RealNode, dict[str, Any]]) -> None:
    peaks = check_pods(byo[0])
    TIMINGS["peak memory of the pods (MiB)"] = round(sum(peaks.values()))
