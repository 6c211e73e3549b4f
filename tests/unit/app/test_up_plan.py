"""What `coinstream up` runs for a feed, and how its status reads (no services started here)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from coinstream.app.supervisor import Kind, UnitState
from coinstream.app.up import FeedStatus, Pipeline, UpOptions, UpStatus
from coinstream.cli.up import line, render
from coinstream.models import load_coinfeed
from coinstream.settings import Settings

REPO = Path(__file__).resolve().parents[3]


def test_backfill_then_producer_one_stream_and_scheduled_maintenance(tmp_path: Path) -> None:
    path = REPO / "examples/coinfeed-simulated.yaml"
    feed = load_coinfeed(path)
    settings = Settings(state_dir=tmp_path, kafka_port=19092, metastore_port=19083)
    units = {u.name: u for u in Pipeline([(path, feed)], settings, UpOptions(maintain_every=600)).units()}
    assert list(units) == [f"backfill-{feed.name}", f"producer-{feed.name}", "stream", "maintain"]
    backfill, producer = units[f"backfill-{feed.name}"], units[f"producer-{feed.name}"]
    assert backfill.kind is Kind.ONESHOT and backfill.argv[3:5] == ["backfill", "-f"]
    assert producer.kind is Kind.SERVICE and producer.after == backfill.name
    assert producer.argv[3:6] == ["feed", "run", "-f"] and "127.0.0.1:19092" in producer.argv
    stream = " ".join(units["stream"].argv)
    assert "coinstream.lakehouse.jobs.stream_quotes" in stream and "thrift://127.0.0.1:19083" in stream
    assert f"--trigger {feed.spec.sink.trigger}" in stream and str(tmp_path) in stream  # checkpoint in the state
    assert units["maintain"].kind is Kind.PERIODIC and units["maintain"].every == 600
    assert "maintain" not in {u.name for u in Pipeline([(path, feed)], settings, UpOptions(maintain_every=0)).units()}


def test_status_shows_each_feed_and_process() -> None:
    status = UpStatus(
        at="2026-11-30T08:00:00+00:00",
        units=[UnitState("stream", "service", state="running", pid=4242, restarts=2, last_error="boom")],
        feeds=[
            FeedStatus(
                "majors",
                "simulated",
                "coinstream.quotes.majors",
                "bitcoin 91,234.5 usd",
                "2026-11-30T07:59:55+00:00",
                12345,
                5.0,
                1,
                "poll failed",
            )
        ],
    )
    console = Console(record=True, width=200)
    console.print(render(status))
    text = console.export_text()
    for expected in ("majors", "bitcoin 91,234.5 usd", "07:59:55", "12,345", "5 s", "poll failed", "4242", "boom"):
        assert expected in text, expected
    assert line(status).startswith("2026-11-30T08:00:00+00:00 majors: rows=12345 lag=5 s")
