"""Topic administration against any broker (local or a cluster's bootstrap)."""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError


def ensure_topic(bootstrap: str, name: str, partitions: int, replicas: int = 1) -> bool:
    """Create `name` if missing; True when created. Never shrinks or alters an existing topic."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
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


def list_topics(bootstrap: str) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        return sorted(t for t in admin.list_topics() if not t.startswith("__"))
    finally:
        admin.close()
