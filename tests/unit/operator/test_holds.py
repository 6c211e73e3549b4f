"""A held backfill Job is released by the Ready event of its Kafka objects, even one that arrives
while the pass that holds it is still running."""

from __future__ import annotations

from typing import Any

from coinfeed_operator.holds import Holds, owning_feed


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


def test_the_feed_is_released_once_when_the_last_object_it_waits_for_is_ready() -> None:
    holds = Holds(Clock())
    since = holds.now()
    assert holds.hold("u1", ("ns", "f"), since, [TOPIC, USER]) is False  # nothing turned Ready during the pass
    assert holds.held() == {"u1": (("ns", "f"), {TOPIC, USER})}
    assert holds.ready("u2", TOPIC) is None  # another feed's object
    assert holds.ready("u1", TOPIC) is None, "the user is not Ready yet: no pass"
    assert holds.ready("u1", USER) == ("ns", "f")
    assert holds.ready("u1", USER) is None, "released once; a release pass holds again if needed"
    assert holds.held() == {}


def test_objects_that_turn_ready_during_the_pass_make_the_pass_run_again() -> None:
    holds = Holds(Clock())
    holds.ready("u1", USER)  # Ready before the pass: the pass read it as Ready
    since = holds.now()
    assert holds.ready("u1", TOPIC) is None  # arrives mid-pass: no hold registered yet
    assert holds.hold("u1", ("ns", "f"), since, [TOPIC]) is True
    assert holds.held() == {}, "the caller runs the pass again instead of waiting for an event"
    # One turned Ready during the pass, one did not: wait for the other one only.
    since = holds.now()
    holds.ready("u1", TOPIC)
    assert holds.hold("u1", ("ns", "f"), since, [TOPIC, USER]) is False
    assert holds.held() == {"u1": (("ns", "f"), {USER})}


def test_a_ready_seen_before_the_pass_does_not_release_what_the_pass_found_not_ready() -> None:
    """Ready once, then not (a broker lost the topic): the pass that finds it not Ready waits for it."""
    holds = Holds(Clock())
    holds.ready("u1", TOPIC)
    assert holds.hold("u1", ("ns", "f"), holds.now(), [TOPIC]) is False
    assert holds.held() == {"u1": (("ns", "f"), {TOPIC})}
    assert holds.ready("u1", TOPIC) == ("ns", "f")


def test_a_pass_that_holds_nothing_and_a_deleted_feed_leave_no_entry() -> None:
    holds = Holds(Clock())
    holds.hold("u1", ("ns", "f"), holds.now(), [TOPIC])
    holds.release("u1")
    assert holds.held() == {} and holds.ready("u1", TOPIC) is None
    holds.hold("u1", ("ns", "f"), holds.now(), [USER])
    holds.forget("u1")
    assert holds.held() == {}
    assert holds.hold("u1", ("ns", "f"), 0.0, [TOPIC]) is False, "its Ready times are forgotten too"
