"""Where a stream keeps its checkpoint: one directory per feed incarnation and topic identity.

Spark's Kafka source stores offsets per topic name. If the feed is deleted and
re-created, or its topic is deleted and re-created (new topic id, offsets from 0),
or the feed moves to another topic, the old offsets no longer describe the topic:
Spark either fails with data loss forever or skips what the new topic holds. So
the checkpoint lives under `<root>/<feed uid>/<fingerprint of topic name + id>`:
any of those changes starts a fresh checkpoint that reads the new topic from its
start, while a plain restart finds its own offsets again. Rows the fresh
checkpoint reads that are already in the table (e.g. the old topic's history
re-sent) are caught by the table-level dedup (see `coinstream.lakehouse.stream`).
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

from coinstream.lakehouse.config import LakeConfig
from coinstream.logs import get_logger

log = get_logger(__name__)


def topic_identities(spark: Any, cfg: LakeConfig, wait_seconds: float = 60.0) -> dict[str, str]:
    """{topic name: topic id} for every topic the pattern matches (waits a while for one to exist).

    Uses the Kafka admin client of the JVM (the Spark Kafka connector ships it), so the
    driver talks to Kafka exactly as the source will.
    """
    jvm = spark.sparkContext._jvm
    props = jvm.java.util.Properties()
    props.put("bootstrap.servers", cfg.bootstrap)
    props.put("request.timeout.ms", "15000")
    # The same TLS/SASL settings as the Kafka source, without its `kafka.` prefix.
    for key, value in cfg.kafka_auth().spark_options().items():
        props.put(key.removeprefix("kafka."), value)
    admin = jvm.org.apache.kafka.clients.admin.Admin.create(props)
    pattern = re.compile(cfg.topics)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            names = [n for n in admin.listTopics().names().get() if pattern.fullmatch(n)]
            if names or time.monotonic() >= deadline:
                break
            time.sleep(1.0)
        if not names:
            return {}
        described = admin.describeTopics(names).allTopicNames().get()
        return {name: str(described.get(name).topicId()) for name in names}
    finally:
        admin.close()


def checkpoint_location(cfg: LakeConfig, topics: dict[str, str]) -> str:
    """`<checkpoint>/<feed uid>/<topics fingerprint>`: stable across restarts, new on re-creation."""
    identity = ",".join(f"{name}:{tid}" for name, tid in sorted(topics.items())) or f"pattern:{cfg.topics}"
    fingerprint = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return f"{cfg.checkpoint.rstrip('/')}/{cfg.feed_uid or 'local'}/{fingerprint}"


def writer_id(location: str) -> str:
    """The table-side name of one checkpoint (one writer incarnation)."""
    return hashlib.sha256(location.encode()).hexdigest()[:16]
