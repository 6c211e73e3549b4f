"""Bring-your-own Kafka: the feed's topics through the Kafka admin API, as thin as it can be.

What to change is decided by the pure `topics.plan`; this module only reads a topic, makes the
planned calls and sorts the broker's answers into three kinds the reconcile loop handles
differently: the Kafka cannot be reached (retry, it may come back), the Kafka refuses the
operator's credentials or permissions (the feed is Degraded until someone fixes the Secret or
the ACLs), and a topic call the Kafka turns down (e.g. a replication factor above its broker
count, or a policy of a managed Kafka): Degraded with the broker's reason.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import (
    AuthorizationError,
    BrokerResponseError,
    IncompatibleBrokerVersion,
    KafkaConnectionError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    SaslAuthenticationFailedError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
    UnsupportedSaslMechanismError,
    for_code,
)

from coinfeed_operator.config import OperatorConfig
from coinfeed_operator.topics import TopicPlan, TopicSpec, TopicState, plan
from coinstream.errors import OperationalError
from coinstream.ingest.kafka import KafkaAccessError, check_access
from coinstream.platform.kafka_auth import KafkaAuth, KafkaAuthError

#: DescribeConfigs' source of a setting made on the topic itself (not a broker default).
DYNAMIC_TOPIC_CONFIG = 1


class KafkaUnreachable(OperationalError):
    """No broker answered: the reconcile is retried with backoff."""


class KafkaRefused(OperationalError):
    """The Kafka answered but refused the operator: credentials, ACLs, or a topic call it rejects."""


def _auth(config: OperatorConfig) -> KafkaAuth:
    if config.kafka_client_dir is None:
        return KafkaAuth()
    try:
        return KafkaAuth.from_client_dir(config.kafka_client_dir)
    except KafkaAuthError as exc:
        raise KafkaRefused(f"the operator's Kafka client settings are unusable: {exc}") from None


def _who(config: OperatorConfig, auth: KafkaAuth) -> str:
    who = f"as {auth.username!r} ({auth.protocol}, {auth.mechanism})" if auth.username else f"({auth.protocol})"
    return f"Kafka at {config.kafka_bootstrap} {who}"


_UNREACHABLE = (NoBrokersAvailable, KafkaConnectionError, KafkaTimeoutError, IncompatibleBrokerVersion)


def _why_no_connection(config: OperatorConfig, auth: KafkaAuth, exc: Exception) -> OperationalError:
    """kafka-python hides a refused login behind "no brokers" or a failed version probe; one
    direct handshake (coinstream.ingest.kafka.check_access) tells refused from unreachable."""
    where = f" (the client Secret mounted at {config.kafka_client_dir})" if config.kafka_client_dir else ""
    try:
        check_access(config.kafka_bootstrap, **auth.kafka_python())
    except KafkaAccessError as access:
        said = str(access)
        if "refused user" in said:
            return KafkaRefused(
                f"{_who(config, auth)} refused the operator's credentials ({auth.mechanism} authentication "
                f"failed): check `username` and `password`{where}"
            )
        if "TLS handshake failed" in said:
            return KafkaRefused(f"{_who(config, auth)}: {said.split(': ', 1)[-1]} (`ca.crt`{where})")
    return KafkaUnreachable(f"{_who(config, auth)} is unreachable: {type(exc).__name__}: {exc}")


@contextlib.contextmanager
def admin_client(config: OperatorConfig) -> Iterator[KafkaAdminClient]:
    """One admin connection for one reconcile pass; the client Secret is re-read each time, so a
    rotated password (the mounted Secret updates in place) is used without a restart."""
    auth = _auth(config)
    timeout_ms = int(config.kafka_admin_timeout_seconds * 1000)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=config.kafka_bootstrap.split(","),
            client_id="coinfeed-operator",
            request_timeout_ms=timeout_ms,
            api_version_auto_timeout_ms=timeout_ms,
            **auth.kafka_python(),
        )
    except (SaslAuthenticationFailedError, UnsupportedSaslMechanismError) as exc:
        raise KafkaRefused(f"{_who(config, auth)} refused the operator's credentials: {exc}") from None
    except _UNREACHABLE as exc:
        raise _why_no_connection(config, auth, exc) from None
    try:
        yield admin
    except (SaslAuthenticationFailedError, UnsupportedSaslMechanismError) as exc:
        raise KafkaRefused(f"{_who(config, auth)} refused the operator's credentials: {exc}") from None
    except AuthorizationError as exc:
        raise KafkaRefused(
            f"{_who(config, auth)} denies the operator ({type(exc).__name__}): it needs Describe, Create, "
            "Alter, AlterConfigs and DescribeConfigs on the feeds' topics (and Delete to remove them)"
        ) from None
    except _UNREACHABLE as exc:
        raise KafkaUnreachable(f"{_who(config, auth)} is unreachable: {type(exc).__name__}: {exc}") from None
    finally:
        admin.close()


def _check(errors: list[tuple[str, int, str | None]], doing: str) -> None:
    """The admin API reports per-topic error codes in its answers instead of raising."""
    for topic, code, message in errors:
        if code != 0:
            _refused(for_code(code), topic, message, doing)


def _refused(error: type[BrokerResponseError], topic: str, message: str | None, doing: str) -> None:
    if issubclass(error, AuthorizationError):
        raise error(f"{doing} {topic}")
    if error.retriable:
        # A leader moving, a topic just created or being deleted: the next pass finds it settled.
        raise KafkaUnreachable(f"{doing} {topic}: Kafka answered {error.__name__} (retriable); retrying")
    raise KafkaRefused(f"{doing} {topic} was refused by Kafka: {error.__name__}: {message or error.description}")


def _broker_said(exc: BrokerResponseError) -> str | None:
    """The broker's own error_message from kafka-python's exception text (which repeats the request)."""
    found = re.search(r"error_message='([^']*)'", str(exc))
    return found.group(1) if found else None


@contextlib.contextmanager
def _answer(topic: str, doing: str, fine: type[BrokerResponseError] | None = None) -> Iterator[None]:
    """Calls sent to the controller raise the broker's first error instead of returning it;
    `fine` is the one error that means the call's goal is met already."""
    try:
        yield
    except BrokerResponseError as exc:
        if fine is not None and isinstance(exc, fine):
            return
        _refused(type(exc), topic, _broker_said(exc), doing)


def read_topic(admin: KafkaAdminClient, name: str) -> TopicState | None:
    [meta] = admin.describe_topics([name])
    code = meta.get("error_code", 0)
    if code == UnknownTopicOrPartitionError.errno:
        return None
    _check([(name, code, None)], "describing topic")
    partitions = meta["partitions"]
    replicas = max((len(p["replicas"]) for p in partitions), default=0)
    [answer] = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    config: dict[str, str] = {}
    for _code, _message, _type, _name, entries in answer.resources:
        _check([(name, _code, _message)], "reading the config of topic")
        for entry in entries:
            key, value, source = entry[0], entry[1], entry[3]
            if source == DYNAMIC_TOPIC_CONFIG and value is not None:
                config[key] = value
    return TopicState(name=name, partitions=len(partitions), replicas=replicas, config=config)


def apply(admin: KafkaAdminClient, change: TopicPlan, timeout_ms: int) -> None:
    if change.create is not None:
        spec = change.create
        new = NewTopic(spec.name, spec.partitions, spec.replicas, topic_configs=spec.kafka_config())
        # Another pass (or an earlier one that timed out) created it: the next pass converges.
        with _answer(spec.name, "creating topic", fine=TopicAlreadyExistsError):
            admin.create_topics([new], timeout_ms=timeout_ms)
        return
    if change.grow_to is not None:
        with _answer(change.name, "adding partitions to topic"):
            admin.create_partitions({change.name: NewPartitions(change.grow_to)}, timeout_ms=timeout_ms)
    if change.set_config is not None:
        answer: Any = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, change.name, change.set_config)])
        _check([(r[3], r[0], r[1]) for r in answer.resources], "setting the config of topic")


def sync_topics(config: OperatorConfig, wanted: list[TopicSpec]) -> list[str]:
    """Bring every wanted topic to its spec; returns what no admin call can fix (Degraded)."""
    problems: list[str] = []
    timeout_ms = int(config.kafka_admin_timeout_seconds * 1000)
    with admin_client(config) as admin:
        for spec in wanted:
            change = plan(spec, read_topic(admin, spec.name))
            problems += change.problems
            if change.changes:
                apply(admin, change, timeout_ms)
    return problems


def delete_topics(config: OperatorConfig, names: list[str]) -> None:
    """As the Strimzi mode does when the feed's KafkaTopics go with the feed: the topics go too."""
    timeout_ms = int(config.kafka_admin_timeout_seconds * 1000)
    with admin_client(config) as admin:
        for name in names:
            with _answer(name, "deleting topic", fine=UnknownTopicOrPartitionError):
                admin.delete_topics([name], timeout_ms=timeout_ms)
