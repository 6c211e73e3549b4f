"""Topic administration and plain readers against any broker (local or a cluster's bootstrap)."""

from __future__ import annotations

import logging
import socket
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer
from kafka import errors as kafka_errors
from kafka.admin import NewTopic
from kafka.conn import BrokerConnection
from kafka.errors import TopicAlreadyExistsError
from kafka.partitioner.default import DefaultPartitioner, murmur2

from coinstream.errors import OperationalError

#: Broker answers that mean "not allowed" (ACLs), as opposed to "not reachable".
AUTHORIZATION_ERRORS = (
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.GroupAuthorizationFailedError,
    kafka_errors.ClusterAuthorizationFailedError,
    kafka_errors.TransactionalIdAuthorizationFailedError,
)


class KafkaAccessError(OperationalError):
    """The broker refused who we are or what we asked; the message says which and how to fix it."""


def check_access(bootstrap: str, **config: Any) -> None:
    """Authenticate once against the first bootstrap broker and fail with a clear message.

    kafka-python reports refused SASL credentials only as metadata timeouts after its retries,
    which says nothing about the cause; one direct handshake does."""
    cfg = client_config(**config)
    protocol = cfg.get("security_protocol", "PLAINTEXT")
    if protocol == "PLAINTEXT":
        return
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    user = cfg.get("sasl_plain_username")
    seen = _ConnLog()
    logger = logging.getLogger("kafka.conn")
    logger.addHandler(seen)
    conn = BrokerConnection(host, int(port), socket.AF_UNSPEC, **cfg)
    try:
        ok = conn.connect_blocking(timeout=15)
    except kafka_errors.SaslAuthenticationFailedError as exc:
        seen.messages.append(str(exc))
        ok = False
    except Exception as exc:
        raise KafkaAccessError(f"cannot open a {protocol} connection to Kafka at {bootstrap}: {exc}") from None
    finally:
        conn.close()
        logger.removeHandler(seen)
    if ok:
        return
    said = " ".join(seen.messages)
    if "Authenticat" in said or ("SASL" in said.upper() and "fail" in said.lower()):
        raise KafkaAccessError(
            f"Kafka at {bootstrap} refused user {user!r} ({cfg.get('sasl_mechanism')} authentication failed): "
            "check COINSTREAM_KAFKA_SASL_USERNAME and the password in COINSTREAM_KAFKA_SASL_PASSWORD_FILE "
            "(or the `username` and `password` of the client Secret in COINSTREAM_KAFKA_CLIENT_DIR)"
        )
    if "CERTIFICATE" in said.upper() or "SSL" in said.upper():
        raise KafkaAccessError(
            f"Kafka at {bootstrap}: TLS handshake failed ({said[-200:]}); is its certificate signed by the CA "
            "in COINSTREAM_KAFKA_SSL_CA_FILE?"
        )
    raise KafkaAccessError(f"cannot open a {protocol} connection to Kafka at {bootstrap}: {said[-300:] or 'timeout'}")


class _ConnLog(logging.Handler):
    """What kafka-python's connection said while failing (it raises nothing itself)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def access_denied(exc: BaseException, user: str | None, what: str) -> KafkaAccessError:
    return KafkaAccessError(
        f"Kafka denied user {user!r} {what}: {exc}. Its ACLs do not allow this; in a cluster "
        "the operator grants each CoinFeed's KafkaUser exactly its own topic"
    )


class KeyPartitioner:
    """kafka-python's default partitioner (murmur2 of the key), remembered per key: the backfill's.
    The live producer's librdkafka is set to the same murmur2 (`murmur2_random`).

    Its murmur2 is pure Python, ~15-20 µs a record; a feed has one key per series, so the same
    few hundred keys come back for every record. Same answer as the default, hence the same
    partition as any other producer of the topic: per-series order holds across producers.
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        self._index: dict[tuple[bytes, int], int] = {}
        self.max_keys = max_keys

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return int(DefaultPartitioner()(key, all_partitions, available))
        n = len(all_partitions)
        idx = self._index.get((key, n))
        if idx is None:
            if len(self._index) >= self.max_keys:
                self._index.clear()
            idx = self._index[(key, n)] = (murmur2(key) & 0x7FFFFFFF) % n
        return all_partitions[idx]


def client_config(**overrides: Any) -> dict[str, Any]:
    """The process's Kafka authentication (COINSTREAM_KAFKA_*), then what the caller says.

    kafka-python probes the broker's version once per client and gives up after 2 s by default;
    a broker that is up but busy (a Job starting beside a compaction, a loaded laptop) answers
    slower than that, and a backfill Job must not fail for it, so the probe gets 10 s.
    """
    from coinstream.settings import get_settings

    return {"api_version_auto_timeout_ms": 10_000, **get_settings().kafka_auth().kafka_python(), **overrides}


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
