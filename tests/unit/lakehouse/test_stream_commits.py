"""Pure pieces of the stream's exactly-once scheme: checkpoint identity, replay skips, writer registry."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from coinstream.lakehouse import commits
from coinstream.lakehouse.checkpoint import checkpoint_location, writer_id
from coinstream.lakehouse.config import LakeConfig
from coinstream.lakehouse.writers import Entry


def test_checkpoint_changes_with_feed_uid_and_topic_identity_only() -> None:
    cfg = LakeConfig(checkpoint="hdfs://nn/ck/ns/feed/", feed_uid="uid-1", jars=[])
    here = checkpoint_location(cfg, {"coinstream.quotes.feed": "AAA"})
    assert here.startswith("hdfs://nn/ck/ns/feed/uid-1/")
    assert checkpoint_location(cfg, {"coinstream.quotes.feed": "AAA"}) == here  # a restart finds it again
    recreated_topic = checkpoint_location(cfg, {"coinstream.quotes.feed": "BBB"})
    other_topic = checkpoint_location(cfg, {"coinstream.quotes.other": "AAA"})
    recreated_feed = checkpoint_location(
        cfg.model_copy(update={"feed_uid": "uid-2"}), {"coinstream.quotes.feed": "AAA"}
    )
    assert len({here, recreated_topic, other_topic, recreated_feed}) == 4
    assert len({writer_id(x) for x in (here, recreated_topic, other_topic, recreated_feed)}) == 4


def test_feed_uid_is_validated() -> None:
    with pytest.raises(ValidationError):
        LakeConfig(feed_uid="../../etc", jars=[])


@pytest.mark.parametrize(
    ("last", "batch", "rows", "skip"),
    [
        (None, 0, "fresh", False),
        ((4, "done"), 5, "fresh", False),
        ((4, "done"), 5, "late", False),
        # fresh rows first, late rows after their check against the table
        ((5, "live"), 5, "fresh", True),
        ((5, "live"), 5, "late", False),
        ((5, "done"), 5, "late", True),
        ((5, "done"), 5, "fresh", True),
        ((7, "live"), 5, "late", True),
        # commits of the earlier order (late rows first) replayed by this version
        ((5, "late"), 5, "late", True),
        ((5, "late"), 5, "fresh", False),
        ((5, "fresh"), 5, "late", True),
        ((5, "fresh"), 5, "fresh", True),
        ((7, "late"), 5, "fresh", True),
        ((5, "unknown"), 5, "fresh", False),
    ],
)
def test_replayed_parts_already_committed_are_skipped(
    last: tuple[int, str] | None, batch: int, rows: str, skip: bool
) -> None:
    assert commits.done(last, batch, rows) is skip


def test_snapshot_properties_travel_as_write_options() -> None:
    props = commits.snapshot_properties("w1", 3, "late")
    assert commits.write_options(props) == {
        "snapshot-property.coinstream.writer": "w1",
        "snapshot-property.coinstream.batch": "3",
        "snapshot-property.coinstream.part": "late",
    }


def test_registry_entries_round_trip_and_garbage_is_ignored() -> None:
    e = Entry(since=1, beat=2, acks=frozenset({"b", "a"}), running=False)
    assert Entry.parse(e.to_json()) == e
    assert Entry.parse("not json") is None
    assert Entry.parse('{"since": 1}') is None


def test_dedup_window_is_an_interval() -> None:
    assert LakeConfig(dedup_window="10 minutes", jars=[]).dedup_window_seconds == 600
    with pytest.raises(ValidationError, match="dedup_window"):
        LakeConfig(dedup_window="ten minutes", jars=[])
