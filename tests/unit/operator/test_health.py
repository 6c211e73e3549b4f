"""Status rules: observed children -> conditions, without a cluster."""

from __future__ import annotations

import datetime as dt
from typing import Any

from coinfeed_operator.health import Observed, compute_status
from coinstream.models.coinfeed_status import ChildNames

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=5)
CHILDREN = ChildNames(topic="t", config_map="c", deployment="d", backfill_job="j", spark_application="s")
TOPIC_READY = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
PRODUCER_UP = {"status": {"availableReplicas": 1}}
SPARK_RUNNING = {"status": {"applicationState": {"state": "RUNNING"}}}


def status(observed: Observed, old: Any = None, now: dt.datetime = T0, generation: int = 3) -> Any:
    return compute_status(old=old, generation=generation, children=CHILDREN, coin_count=2, observed=observed, now=now)


def conds(s: Any) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in s.conditions}


def test_all_healthy_is_ready() -> None:
    s = status(Observed(topic=TOPIC_READY, deployment=PRODUCER_UP, spark_app=SPARK_RUNNING, stream_committed=1))
    assert conds(s) == {
        "Ready": ("True", "AllChildrenReady"),
        "Progressing": ("False", "Reconciled"),
        "Degraded": ("False", "AsExpected"),
        "DataFresh": ("Unknown", "NotMeasured"),
    }
    assert s.observed_generation == 3 and all(c.observed_generation == 3 for c in s.conditions)
    assert (s.topic_ready, s.producer_available_replicas, s.spark_state) == (True, 1, "RUNNING")


def test_running_stream_is_not_ready_before_its_first_commit() -> None:
    """RUNNING says only that the driver runs; the executor may be Pending and no row landed."""
    for committed, problem in ((None, "no running Spark driver pod yet"), (0, "")):
        s = status(
            Observed(
                topic=TOPIC_READY,
                deployment=PRODUCER_UP,
                spark_app=SPARK_RUNNING,
                stream_committed=committed,
                stream_problem=problem,
            )
        )
        assert conds(s)["Ready"] == ("False", "ChildrenNotReady")
        assert conds(s)["Progressing"] == ("True", "Reconciling")
        message = s.condition("Ready").message
        assert message.startswith("stream RUNNING, no micro-batch committed to the table yet"), message
        assert problem in message


def test_not_ready_children_are_named() -> None:
    s = status(Observed(topic={}, deployment={"status": {}}, spark_app={"status": {}}))
    ready = s.condition("Ready")
    assert conds(s)["Ready"] == ("False", "ChildrenNotReady")
    assert conds(s)["Progressing"] == ("True", "Reconciling")
    assert "KafkaTopic not Ready" in ready.message
    assert "producer 0/1" in ready.message
    assert "SparkApplication state not reported yet" in ready.message


def test_suspended_feed_only_needs_its_topic() -> None:
    s = status(Observed(topic=TOPIC_READY, deployment={"status": {}}, spark_app={}, suspended=True))
    assert conds(s)["Ready"] == ("True", "Suspended")


def test_problems_make_it_degraded_with_the_message() -> None:
    s = status(Observed(problems=["Secret ns/cg not found", "Kafka cluster 'k' not found"]))
    assert conds(s)["Degraded"] == ("True", "SpecCannotWork")
    assert conds(s)["Ready"] == ("False", "SpecCannotWork")
    assert s.condition("Degraded").message == "Secret ns/cg not found; Kafka cluster 'k' not found"


def test_last_transition_time_moves_only_on_flips() -> None:
    first = status(Observed(topic={}, deployment={}, spark_app={}), now=T0)
    same = status(Observed(topic={}, deployment={}, spark_app={}), old=first, now=T1)
    assert same.condition("Ready").last_transition_time == T0
    healthy = Observed(topic=TOPIC_READY, deployment=PRODUCER_UP, spark_app=SPARK_RUNNING, stream_committed=3)
    flipped = status(healthy, old=same, now=T1)
    assert flipped.condition("Ready").last_transition_time == T1
    assert flipped.condition("Degraded").last_transition_time == T0  # stayed False


def test_completed_backfill_is_remembered_after_the_job_is_gone() -> None:
    done = {"metadata": {"name": "j"}, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    first = status(Observed(job=done))
    assert first.backfill_succeeded is True
    later = status(Observed(job=None), old=first)
    assert later.backfill_succeeded is True


def test_a_failed_backfill_job_makes_the_feed_degraded_with_its_reason() -> None:
    failed = {
        "metadata": {"name": "j"},
        "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                   "message": "Job has reached the specified backoff limit"}]},
    }  # fmt: skip
    s = status(Observed(topic=TOPIC_READY, deployment=PRODUCER_UP, spark_app=SPARK_RUNNING, job=failed))
    assert conds(s)["Degraded"] == ("True", "BackfillFailed")
    assert conds(s)["Ready"] == ("False", "BackfillFailed")
    assert "backfill Job j failed: Job has reached the specified backoff limit" in s.condition("Degraded").message
    running = {"metadata": {"name": "j"}, "status": {"active": 1}}
    s = status(Observed(topic=TOPIC_READY, deployment=PRODUCER_UP, spark_app=SPARK_RUNNING, job=running))
    assert conds(s)["Degraded"] == ("False", "AsExpected")


def test_the_backfill_waits_for_every_kafka_object_strimzi_has_not_made_ready() -> None:
    """Strimzi writes a KafkaUser's Secret before the broker has its credentials and ACLs; only
    its Ready condition says they are in. Missing objects (no ledger topic) hold nothing."""
    from coinfeed_operator.reconcile import kafka_not_ready

    def obj(kind: str, name: str, *conditions: dict[str, str]) -> dict[str, Any]:
        return {"kind": kind, "metadata": {"name": name}, "status": {"conditions": list(conditions)}}

    ready = {"type": "Ready", "status": "True"}
    user_new = {"kind": "KafkaUser", "metadata": {"name": "f-kafka"}}  # no status yet
    topic_failed = obj("KafkaTopic", "ledger", {"type": "Ready", "status": "False"})
    assert kafka_not_ready([obj("KafkaTopic", "quotes", ready), topic_failed, user_new]) == [
        "KafkaTopic ledger",
        "KafkaUser f-kafka",
    ]
    assert kafka_not_ready([obj("KafkaTopic", "quotes", ready), None, obj("KafkaUser", "f-kafka", ready)]) == []


def test_a_feed_holds_its_topics_once_made_even_while_kafka_is_unreachable() -> None:
    """`topicsHeld` decides which of two feeds sharing an external Kafka keeps a topic: once
    set it stays, or a Kafka outage would let the other feed take (and resize) the topic."""
    assert status(Observed(topics_synced=False)).topics_held is None
    made = status(Observed(topics_synced=True))
    assert made.topics_held is True
    assert made.model_dump(by_alias=True, exclude_none=True)["topicsHeld"] is True
    assert status(Observed(topics_synced=False), old=made).topics_held is True
    assert status(Observed(), old=made).topics_held is True
