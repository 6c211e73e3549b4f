"""The secure local broker (SASL_SSL + SCRAM-SHA-512, ACLs): the producer, the backfill (both as
the CLI runs them) and the Spark stream get through as the app user; a wrong password, a user
without ACLs and a plaintext client are refused, the CLI saying which and why."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.errors import NoBrokersAvailable

from coinstream.devstack.kafka import LocalKafka
from coinstream.devstack.process import free_port
from coinstream.ingest.kafka import AUTHORIZATION_ERRORS, reader
from coinstream.ingest.producer import DeliveryError, QuoteProducer
from coinstream.ingest.sources.simulated import SimulatedMarket

from .conftest import Lake

TOPIC = "coinstream.quotes.secure"
FEED = f"""apiVersion: coinstream.io/v1alpha1
kind: CoinFeed
metadata: {{name: secure}}
spec:
  coins: [bitcoin, ethereum]
  source: {{type: simulated, seed: 3}}
  backfill: {{from: "2026-10-01", granularity: daily}}
  kafka: {{topic: {TOPIC}, partitions: 1}}
"""
GUEST_PASSWORD = "guest-password-for-tests"  # noqa: S105 (a throwaway test user)
LATE_PASSWORD = "late-password-for-tests"  # noqa: S105 (a user whose ACLs come after it starts)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    home = tmp_path_factory.mktemp("secure-kafka")
    users = {"guest": GUEST_PASSWORD, "late": LATE_PASSWORD}
    kafka = LocalKafka(home, port=free_port(), controller_port=free_port(), secure=True, extra_users=users)
    kafka.up(timeout=400)
    yield kafka
    kafka.down()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coinstream", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def count(broker: LocalKafka) -> int:
    consumer = reader(broker.bootstrap, TOPIC, consumer_timeout_ms=20000, auto_offset_reset="earliest",
                      **broker.client_auth().kafka_python())  # fmt: skip
    try:
        return sum(1 for _ in consumer)
    finally:
        consumer.close()


def test_producer_and_backfill_write_as_the_app_user(broker: LocalKafka, tmp_path: Path) -> None:
    feed = tmp_path / "feed.yaml"
    feed.write_text(FEED)
    env = broker.client_env()
    backfill = cli(env, "backfill", "-f", str(feed))
    assert backfill.returncode == 0, backfill.stderr
    once = cli(env, "feed", "run", "-f", str(feed), "--once")
    assert once.returncode == 0, once.stderr
    assert count(broker) >= 2 * 30 + 2  # a month of daily history for two coins, plus one live tick each


def test_wrong_password_is_refused_with_a_clear_error(broker: LocalKafka, tmp_path: Path) -> None:
    feed = tmp_path / "feed.yaml"
    feed.write_text(FEED)
    wrong = tmp_path / "password"
    wrong.write_text("not-the-password\n")
    env = {**broker.client_env(), "COINSTREAM_KAFKA_SASL_PASSWORD_FILE": str(wrong)}
    res = cli(env, "feed", "run", "-f", str(feed), "--once")
    assert res.returncode == 1, res.stderr
    said = " ".join(res.stderr.split())  # rich wraps long lines
    assert "error: Kafka at" in said and "refused user 'coinstream' (SCRAM-SHA-512 authentication failed)" in said
    assert "Traceback" not in said


def test_a_user_without_acls_is_refused(broker: LocalKafka, tmp_path: Path) -> None:
    feed = tmp_path / "feed.yaml"
    feed.write_text(FEED)
    password = tmp_path / "guest"
    password.write_text(GUEST_PASSWORD)
    env = {**broker.client_env(), "COINSTREAM_KAFKA_SASL_USERNAME": "guest",
           "COINSTREAM_KAFKA_SASL_PASSWORD_FILE": str(password)}  # fmt: skip
    before = count(broker)
    res = cli(env, "feed", "run", "-f", str(feed), "--once", "--no-ensure-topic")
    assert res.returncode == 1, res.stderr
    said = " ".join(res.stderr.split())
    assert "error: Kafka denied user 'guest'" in said and "TopicAuthorizationFailedError" in said, said
    assert count(broker) == before


def test_a_producer_started_before_its_acls_waits_for_them(broker: LocalKafka, tmp_path: Path) -> None:
    """In a pod the user's Secret can exist before the broker has its ACLs (Strimzi writes both at
    once): with an access wait the producer retries the refusal and produces once it is allowed."""
    feed = tmp_path / "feed.yaml"
    feed.write_text(FEED)
    password = tmp_path / "late"
    password.write_text(LATE_PASSWORD)
    env = {**os.environ, **broker.client_env(), "COINSTREAM_KAFKA_SASL_USERNAME": "late",
           "COINSTREAM_KAFKA_SASL_PASSWORD_FILE": str(password),
           "COINSTREAM_KAFKA_ACCESS_WAIT_SECONDS": "120"}  # fmt: skip
    before = count(broker)
    proc = subprocess.Popen(
        [sys.executable, "-m", "coinstream", "feed", "run", "-f", str(feed), "--once", "--no-ensure-topic"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    said = []
    for line in proc.stdout:  # refused first: nothing is granted yet
        said.append(line)
        if "kafka.access_pending" in line:
            break
    assert "kafka.access_pending" in said[-1], "".join(said)
    broker.grant_app_acls("late")
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, "".join(said) + out
    assert count(broker) == before + 2  # one live tick of each coin


def test_a_fatal_client_error_keeps_every_quote_and_starts_a_new_client(
    broker: LocalKafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker refuses a user without ACLs the idempotent producer's id, which is fatal to a
    librdkafka client: the producer names the denial, keeps what it accepted, starts a new client."""
    password = tmp_path / "guest"
    password.write_text(GUEST_PASSWORD)
    env = {**broker.client_env(), "COINSTREAM_KAFKA_SASL_USERNAME": "guest",
           "COINSTREAM_KAFKA_SASL_PASSWORD_FILE": str(password)}  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    before = count(broker)
    producer = QuoteProducer(broker.bootstrap, TOPIC, max_block_ms=2000)
    with pytest.raises(AUTHORIZATION_ERRORS):
        producer.check_topic()
    first = producer._producer
    assert producer.send_many(SimulatedMarket(3).markets(["bitcoin", "ethereum"], "usd", "secure")) == 2
    deadline = time.monotonic() + 60
    while producer._producer is first and time.monotonic() < deadline:
        producer.flush(timeout=1)
    assert producer._producer is not first, "the fatal error was not seen"
    assert (producer.buffered, producer.acked) == (2, 0)
    with pytest.raises(DeliveryError, match="2 quote"):
        producer.close(timeout=3)
    assert count(broker) == before


def test_a_plaintext_client_gets_nothing(broker: LocalKafka) -> None:
    with pytest.raises(NoBrokersAvailable):
        KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=3000)


def test_the_spark_stream_reads_as_the_app_user(broker: LocalKafka, lake: Lake, run_stream: Any, spark: Any) -> None:
    produced = count(broker)
    assert produced > 0, "run after the producer test"
    auth = {
        "kafka_security_protocol": "SASL_SSL",
        "kafka_username": "coinstream",
        "kafka_password_file": str(broker.password_file("coinstream")),
        "kafka_ca_file": str(broker.tls.ca_file),
    }
    cfg = lake.config("secure", bootstrap=broker.bootstrap, topics=r"coinstream\.quotes\.secure", **auth)
    run_stream(cfg)
    rows = spark.table(cfg.quotes).count()
    assert rows == produced
