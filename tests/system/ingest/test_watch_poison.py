"""`coinstream watch` on a topic full of poison: every record printed, with its reason; no crash, no markup."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from kafka import KafkaProducer

from coinstream.ingest.kafka import ensure_topic
from coinstream.models import Quote, wire

GOOD = {
    "coin_id": "[/x]",
    "symbol": "[bold]x",
    "name": "[/]",
    "vs_currency": "usd",
    "price": 1.5,
    "source": "simulated",
    "source_ts": "2026-01-01T00:00:00.000Z",
    "ingest_ts": "2026-01-01T00:00:01.000Z",
    "feed": "poison",
    "origin": "live",
    "granularity": "tick",
    "schema_version": 1,
}


def test_watch_prints_poison_records_and_user_text_verbatim(kafka):
    topic = "coinstream.quotes.poison-watch"
    ensure_topic(kafka.bootstrap, topic, 1)
    records = [
        b"not json [/x]",
        b"{}",
        json.dumps({**GOOD, "price": "abc"}).encode(),
        None,
        b"x" * 1_000_000,
        json.dumps({**GOOD, "schema_version": 99}).encode(),
        json.dumps({k: v for k, v in GOOD.items() if k != "coin_id"}).encode(),
        wire.encode(Quote.model_validate(GOOD))[:20],
        wire.encode(Quote.model_validate(GOOD))[:1] + b"\x09",
        json.dumps(GOOD).encode(),
        wire.encode(Quote.model_validate(GOOD)),
    ]
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, max_request_size=2_000_000)
    for value in records:
        producer.send(topic, key=b"usd:x", value=value)
    producer.flush()
    producer.close()
    env = {**os.environ, "COINSTREAM_KAFKA_BOOTSTRAP": kafka.bootstrap}
    out = subprocess.run(
        [sys.executable, "-m", "coinstream", "watch", "--topic", topic, "--from-beginning", "--max", "11"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 11, lines
    reasons = ["not JSON", "coin_id: Field required", "price: Input should be a valid number", "null value",
               "larger than any quote", "schema_version: Input should be 1", "coin_id: Field required",
               "malformed binary quote", "unknown binary schema version 9"]  # fmt: skip
    for line, reason in zip(lines[:9], reasons, strict=True):
        assert "poison" in line and reason in line, (line, reason)
    assert "[/x]" in lines[0], "raw bytes shown as they are"
    for good in lines[9:]:  # the same quote, as JSON and in the binary encoding
        assert "poison" not in good and "[/x]" in good and "1.5" in good
