"""A held backfill Job is released by the Ready event of its Kafka objects, even one that arrives
while the pass that holds it is still running."""

from __future__ import annotations

from typing import Any

from coinfeed_operator.holds import Holds, Released, owning_feed


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def _owned(uid: str, kind: str = "CoinFeed", controller: bool = True) -> dict[str, Any]:
    ref = {"apiVersion": "coinstream.io/v1alpha1", "kind": kind, "name": "f", "uid": uid, "controller": controller}
    return {"metadata": {"name": "t", "ownerReferences": [ref]}}


def test_only_a_controlling_coinfeed_owns_a_kafka_object() -> None:
    assert owning_feed(_owned("u1")) == "u1"
    assert owning_feed(_owned("u1", kind="Kafka")) is None
    assert owning_feed(_owned("u1", controller=False)) is None
    assert owning_feed({"metadata": {"name": "t"}}) is None


TOPIC, USER = "KafkaTopic coinstream.quotes.f", "KafkaUser f-kafka"


def _ready(key: str, uid: str = "obj-1") -> dict[str, Any]:
    kind, name = key.split(" ")
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "ns", "uid": uid, "managedFields": [{"manager": "x"}]},
        "spec": {"partitions": 3},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def test_the_feed_is_released_once_when_the_last_object_it_waits_for_is_ready() -> None:
    holds: Holds[str] = Holds(Clock())
    since = holds.now()
    assert holds.hold("u1", ("ns", "f"), since, [TOPIC, USER], "pass") is None  # nothing turned Ready during the pass
    assert holds.held() == {"u1": (("ns", "f"), {TOPIC, USER})}
    assert holds.ready("u2", _ready(TOPIC)) is None  # another feed's object
    assert holds.ready("u1", _ready(TOPIC)) is None, "the user is not Ready yet: no release"
    released = holds.ready("u1", _ready(USER))
    assert isinstance(released, Released)
    assert (released.feed, released.payload) == (("ns", "f"), "pass"), "the holding pass's observations come back"
    assert set(released.ready) == {TOPIC, USER}
    # Only the identity and the status are kept of the watch's body.
    assert released.ready[TOPIC]["status"]["conditions"][0]["status"] == "True"
    assert released.ready[TOPIC]["metadata"] == {"name": "coinstream.quotes.f", "namespace": "ns", "uid": "obj-1"}
    assert "spec" not in released.ready[TOPIC]
    assert holds.ready("u1", _ready(USER)) is None, "released once; a later pass holds again if needed"
    assert holds.held() == {}


def test_objects_that_turn_ready_during_the_pass_release_the_feed_at_once() -> None:
    holds: Holds[str] = Holds(Clock())
    holds.ready("u1", _ready(USER))  # Ready before the pass: the pass read it as Ready
    since = holds.now()
    assert holds.ready("u1", _ready(TOPIC)) is None  # arrives mid-pass: no hold registered yet
    released = holds.hold("u1", ("ns", "f"), since, [TOPIC], "pass")
    assert released is not None and released.payload == "pass" and set(released.ready) == {TOPIC}
    assert holds.held() == {}, "the caller releases the feed instead of waiting for an event"
    # One turned Ready during the pass, one did not: wait for the other one only.
    since = holds.now()
    holds.ready("u1", _ready(TOPIC))
    assert holds.hold("u1", ("ns", "f"), since, [TOPIC, USER], "pass") is None
    assert holds.held() == {"u1": (("ns", "f"), {USER})}


def test_a_pass_counts_on_a_ready_seen_after_it_started_and_of_the_same_object_only() -> None:
    holds: Holds[str] = Holds(Clock())
    applied = _ready(TOPIC, uid="obj-1")
    holds.ready("u1", _ready(TOPIC, uid="obj-1"))
    since = holds.now()
    assert holds.seen_ready("u1", applied, since) is None, "seen before the pass: it may have changed since"
    holds.ready("u1", _ready(TOPIC, uid="obj-1"))
    seen = holds.seen_ready("u1", applied, since)
    assert seen is not None and seen["status"]["conditions"][0]["type"] == "Ready"
    assert holds.seen_ready("u1", _ready(TOPIC, uid="obj-2"), since) is None, "a deleted namesake's Ready"
    assert holds.seen_ready("u2", applied, since) is None
    assert holds.seen_ready("u1", _ready(USER), since) is None


def test_a_ready_seen_before_the_pass_does_not_release_what_the_pass_found_not_ready() -> None:
    """Ready once, then not (a broker lost the topic): the pass that finds it not Ready waits for it."""
    holds: Holds[str] = Holds(Clock())
    holds.ready("u1", _ready(TOPIC))
    assert holds.hold("u1", ("ns", "f"), holds.now(), [TOPIC], "pass") is None
    assert holds.held() == {"u1": (("ns", "f"), {TOPIC})}
    released = holds.ready("u1", _ready(TOPIC))
    assert released is not None and released.feed == ("ns", "f")


def test_a_pass_that_holds_nothing_and_a_deleted_feed_leave_no_entry() -> None:
    holds: Holds[str] = Holds(Clock())
    holds.hold("u1", ("ns", "f"), holds.now(), [TOPIC], "pass")
    holds.release("u1")
    assert holds.held() == {} and holds.ready("u1", _ready(TOPIC)) is None
    holds.hold("u1", ("ns", "f"), holds.now(), [USER], "pass")
    holds.forget("u1")
    assert holds.held() == {}
    assert holds.hold("u1", ("ns", "f"), 0.0, [TOPIC], "pass") is None, "its Ready times are forgotten too"
    assert holds.seen_ready("u1", _ready(TOPIC), 0.0) is None
