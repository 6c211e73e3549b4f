"""Topic administration and plain readers against any broker (local or a cluster's bootstrap)."""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError


def client_config(**overrides: Any) -> dict[str, Any]:
    """The process's Kafka authentication (COINSTREAM_KAFKA_*), then what the caller says."""
    from coinstream.settings import get_settings

    return {**get_settings().kafka_auth().kafka_python(), **overrides}


def ensure_topic(bootstrap: str, name: str, partitions: int, replicas: int = 1, **config: Any) -> bool:
    """Create `name` if missing; True when created. Never shrinks or alters an existing topic."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000, **client_config(**config))
    try:
        if name in admin.list_topics():
            return False
        try:
            admin.create_topics([NewTopic(name, partitions, replicas)])
        except TopicAlreadyExistsError:
            return False
        return True
    finally:
        admin.close()


def list_topics(bootstrap: str, **config: Any) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **client_config(**config))
    try:
        return sorted(t for t in admin.list_topics() if not t.startswith("__"))
    finally:
        admin.close()


def reader(bootstrap: str, *topics: str, **config: Any) -> KafkaConsumer:
    """A group-less consumer that commits nothing: reading a topic never changes it.

    kafka-python caps network frames at 1 MB by default, below what one fetch of a busy
    topic returns (the broker sends fetch_max_bytes plus framing): raise the cap instead
    of tripping over "Invalid frame length" and refetching.
    """
    return KafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        receive_message_max_bytes=64 * 1024 * 1024,
        **client_config(**config),
    )
