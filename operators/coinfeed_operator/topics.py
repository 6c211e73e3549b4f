"""Pure topic logic: what a feed's topics should be, and what it takes to get there from what is.

One description serves both Kafka modes: the Strimzi mode writes it into `KafkaTopic` objects
(builders.kafka_topic), the bring-your-own-Kafka mode hands it to the Kafka admin API
(coinfeed_operator.kafka_admin). `plan` decides the admin calls without making any, so every
rule (create, grow, never shrink, fix drifted configs) is unit-tested.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from coinstream.ingest.coverage import LEDGER_TOPIC_CONFIG, ledger_topic
from coinstream.models import CoinFeed

#: Quotes are facts keyed per coin: keep a week; the lakehouse holds history.
RETENTION_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """A topic as the feed wants it."""

    name: str
    partitions: int
    replicas: int
    config: dict[str, str | int]

    def kafka_config(self) -> dict[str, str]:
        """The config as the admin API takes and returns it (strings)."""
        return {k: str(v) for k, v in self.config.items()}


@dataclass(frozen=True)
class TopicState:
    """A topic as the Kafka cluster has it; `config` holds only the topic's own settings
    (those set on the topic, not inherited from the broker's defaults)."""

    name: str
    partitions: int
    replicas: int
    config: dict[str, str]


@dataclass(frozen=True)
class TopicPlan:
    """The admin calls that bring a topic to its spec, and what no call can fix."""

    name: str
    create: TopicSpec | None = None
    #: The new total partition count (only ever above the current one).
    grow_to: int | None = None
    #: The topic's whole config after the change (AlterConfigs replaces a topic's settings).
    set_config: dict[str, str] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return self.create is not None or self.grow_to is not None or self.set_config is not None


def min_insync_replicas(replicas: int) -> int:
    """One replica may be down while writes go on; never more than two must acknowledge."""
    return max(1, min(2, replicas - 1))


def feed_topic(feed: CoinFeed) -> TopicSpec:
    replicas = feed.spec.kafka.replicas
    return TopicSpec(
        name=feed.topic,
        partitions=feed.spec.kafka.partitions,
        replicas=replicas,
        # min.insync.replicas follows the topic's own replicas (RF-1, at most 2): a broker
        # default above the replicas would refuse every acks=all write.
        config={
            "retention.ms": RETENTION_MS,
            "cleanup.policy": "delete",
            "min.insync.replicas": min_insync_replicas(replicas),
        },
    )


def ledger_topic_spec(feed: CoinFeed) -> TopicSpec | None:
    """The backfill's coverage ledger (coinstream.ingest.coverage): compacted, one partition (the
    newest record per series is the whole ledger), as durable as the feed's topic: a lost ledger
    would make the next backfill fetch everything again. Only a feed with a backfill has one."""
    if feed.spec.backfill is None:
        return None
    replicas = feed.spec.kafka.replicas
    return TopicSpec(
        name=ledger_topic(feed.name),
        partitions=1,
        replicas=replicas,
        config={**LEDGER_TOPIC_CONFIG, "min.insync.replicas": min_insync_replicas(replicas)},
    )


def desired_topics(feed: CoinFeed) -> list[TopicSpec]:
    ledger = ledger_topic_spec(feed)
    return [feed_topic(feed)] + ([ledger] if ledger is not None else [])


def plan(want: TopicSpec, have: TopicState | None) -> TopicPlan:
    """Create a missing topic; add partitions, never remove them (Kafka cannot, and keyed
    records would move); set drifted configs while keeping settings the feed does not own.
    A replication factor cannot change through the admin API's topic calls: say so."""
    if have is None:
        return TopicPlan(name=want.name, create=want)
    problems = []
    grow_to = None
    if want.partitions > have.partitions:
        grow_to = want.partitions
    elif want.partitions < have.partitions:
        problems.append(
            f"topic {want.name} has {have.partitions} partitions and spec.kafka.partitions asks for "
            f"{want.partitions}: Kafka cannot remove partitions; set spec.kafka.partitions >= {have.partitions}"
        )
    if want.replicas != have.replicas:
        problems.append(
            f"topic {want.name} has replication factor {have.replicas} and spec.kafka.replicas asks for "
            f"{want.replicas}: the operator cannot change it (reassign the partitions with your Kafka's "
            f"tools, or set spec.kafka.replicas: {have.replicas})"
        )
    wanted = want.kafka_config()
    drifted = {k: v for k, v in wanted.items() if have.config.get(k) != v}
    set_config = {**have.config, **wanted} if drifted else None
    return TopicPlan(name=want.name, grow_to=grow_to, set_config=set_config, problems=problems)


# -- one Kafka, many namespaces ------------------------------------------------------------------
# With Strimzi each namespace has its own Kafka; an external Kafka serves every namespace, so two
# feeds (same name in two namespaces, or the same spec.kafka.topic) could share a topic, and
# deleting one would delete the other's. The first feed keeps the topic; the later one is told.


@dataclass(frozen=True, order=True)
class Claim:
    """A CoinFeed's claim on a topic. A feed that has made its topics comes first (status
    `topicsHeld`, never unset); among the others the oldest, then namespace and name. Age alone
    cannot decide: creation times are kept to the second, and two feeds applied within one second
    would be ordered by their namespaces' names, taking the topic from the feed that made it."""

    rank: int  # 0: holds its topics already; 1: does not yet
    created: str  # metadata.creationTimestamp: RFC 3339 in UTC, so it sorts by time
    namespace: str
    name: str
    uid: str

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Claim:
        meta = body["metadata"]
        rank = 0 if (body.get("status") or {}).get("topicsHeld") is True else 1
        return cls(rank, str(meta.get("creationTimestamp") or ""), meta["namespace"], meta["name"], meta["uid"])


def topic_names(name: str, spec: Mapping[str, Any]) -> list[str]:
    """Every topic a feed may have made, from the raw object (its spec may not parse)."""
    topic = (spec.get("kafka") or {}).get("topic")
    return [topic or f"coinstream.quotes.{name}", ledger_topic(name)]


def claimed_topics(name: str, spec: Mapping[str, Any]) -> list[str]:
    """The topics a feed uses now: its topic, and its ledger only while it has a backfill."""
    names = topic_names(name, spec)
    return names if spec.get("backfill") else names[:1]


def topic_conflicts(mine: Claim, names: Iterable[str], claims: Mapping[str, Iterable[Claim]]) -> list[str]:
    """A problem for each topic an older feed claims already."""
    problems = []
    for topic in names:
        older = sorted(c for c in claims.get(topic, ()) if c.uid != mine.uid and c < mine)
        if older:
            fix = (
                "rename this CoinFeed (the backfill's coverage ledger is named after the feed)"
                if topic == ledger_topic(mine.name)
                else "set another spec.kafka.topic"
            )
            problems.append(
                f"topic {topic} belongs to CoinFeed {older[0].namespace}/{older[0].name}, "
                f"{'which made it' if older[0].rank == 0 else 'created first'}: one "
                f"Kafka serves every namespace, so topics cannot be shared; {fix}"
            )
    return problems


def unclaimed(mine: Claim, names: Iterable[str], claims: Mapping[str, Iterable[Claim]]) -> list[str]:
    """The topics no other feed claims: those a deleted feed may delete."""
    return [t for t in names if not any(c.uid != mine.uid for c in claims.get(t, ()))]
