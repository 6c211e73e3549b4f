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


def test_a_ready_event_releases_the_held_feed_once() -> None:
    holds = Holds(Clock())
    since = holds.now()
    assert holds.hold("u1", ("ns", "f"), since) is False  # nothing turned Ready during the pass
    assert holds.held() == {"u1": ("ns", "f")}
    assert holds.ready("u2") is None  # another feed's object
    assert holds.ready("u1") == ("ns", "f")
    assert holds.ready("u1") is None, "released once; the release pass registers a new hold if needed"
    assert holds.held() == {}


def test_a_ready_event_during_the_pass_makes_the_pass_run_again() -> None:
    holds = Holds(Clock())
    since = holds.now()
    assert holds.ready("u1") is None  # arrives mid-pass: no hold registered yet
    assert holds.hold("u1", ("ns", "f"), since) is True
    assert holds.held() == {}, "the caller runs the pass again instead of waiting"
    # A Ready event from before the pass started was seen by the pass itself.
    later = holds.now()
    assert holds.hold("u1", ("ns", "f"), later) is False


def test_a_pass_that_holds_nothing_and_a_deleted_feed_leave_no_entry() -> None:
    holds = Holds(Clock())
    holds.hold("u1", ("ns", "f"), holds.now())
    holds.release("u1")
    assert holds.held() == {} and holds.ready("u1") is None
    holds.hold("u1", ("ns", "f"), holds.now())
    holds.forget("u1")
    assert holds.held() == {}
    assert holds.hold("u1", ("ns", "f"), 0.0) is False, "its Ready time is forgotten too"
