"""Daily bars on the real path: quotes streamed into Iceberg, bars folded by Spark (maintenance), read
by DuckDB and Trino. Every routed answer equals the answer from the quotes alone, when the bars are
current and when quotes (old days among them) arrived after the fold; a replayed topic and a re-run
fold count nothing twice."""

# ruff: noqa: S608  # table identifiers come from validated LakeConfig fields, not user input

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from tests.support.bars_questions import routed_questions, same_frames
from tests.support.lake import Lake
from tests.support.lake_data import market_history, produce

from coinstream.lakehouse.bars import QUOTES_SNAPSHOT, fold_bars
from coinstream.lakehouse.config import LakeConfig
from coinstream.lakehouse.maintain import maintain
from coinstream.platform.trino_auth import ANALYST
from coinstream.sql import DuckDBEngine, Investor, TrinoEngine
from coinstream.sql.bars import BarsView
from coinstream.sql.bars_state import trino_bars_view

pytestmark = pytest.mark.integration

COINS = ("bitcoin", "ethereum", "solana")


class TrinoOn:
    """Trino on the test's own table, under the names the queries use (`quotes`, `quotes_daily`)."""

    name = "trino"

    def __init__(self, engine: TrinoEngine, table: str) -> None:
        self.engine, self.table = engine, table

    def query(self, sql: str, params: Any = ()) -> pd.DataFrame:
        return self.engine.query(re.sub(r"\bFROM quotes\b", f"FROM {self.table}", sql), params)

    def bars_view(self) -> BarsView | None:
        return trino_bars_view(lambda sql: self.engine.query(sql).values.tolist(), self.table)


def ask_both(engine: Any, at: dt.datetime | None = None) -> int:
    """Every routed question, with and without the bars; returns how many went through the bars."""
    routed, raw = Investor(engine, source="simulated"), Investor(engine, source="simulated", bars=False)
    for name, ask in routed_questions(at, known_market=False).items():
        same_frames(f"{engine.name}: {name}", ask(routed), ask(raw))
    return 0 if routed.bars_view() is None else len(routed_questions(at, known_market=False))


@pytest.fixture(scope="module")
def setup(lake: Lake, spark: Any, run_stream: Callable[[LakeConfig], None], now: dt.datetime) -> dict[str, Any]:
    cfg = lake.config("bars", max_offsets_per_trigger=3000)
    topic = "coinstream.quotes.bars"
    lake.kafka.ensure_topic(topic, 3)
    quotes = market_history(now, COINS, days=120, tick_seconds=60)
    # Held back until after the first fold: the newest day, and every 5th hourly quote 20 days ago.
    old_day = (now - dt.timedelta(days=20)).date()
    held = [q for q in quotes if q.source_ts.date() == old_day and q.source_ts.hour % 5 == 0]
    held += [q for q in quotes if q.source_ts >= now - dt.timedelta(hours=20)]
    held_ids = {q.identity for q in held}
    produce(lake.kafka.bootstrap, topic, [q for q in quotes if q.identity not in held_ids])
    run_stream(cfg)
    return {"cfg": cfg, "topic": topic, "quotes": quotes, "held": held, "old_day": old_day}


@pytest.fixture(scope="module")
def trino(lake: Lake, setup: dict[str, Any]) -> Any:
    engine = TrinoEngine("127.0.0.1", lake.trino.port, auth=lake.trino.auth(ANALYST))
    yield TrinoOn(engine, setup["cfg"].table)
    engine.close()


def duckdb(lake: Lake, cfg: LakeConfig) -> DuckDBEngine:
    return DuckDBEngine(lake.metastore.uri, lake.warehouse, tables={"quotes": cfg.table})


def _bar_counts(spark: Any, cfg: LakeConfig) -> tuple[dict[str, int], dict[str, int]]:
    bars = spark.sql(f"SELECT coin_id, sum(quotes) AS n FROM {cfg.quotes}_daily GROUP BY coin_id").collect()
    raw = spark.sql(f"SELECT coin_id, count(*) AS n FROM {cfg.quotes} GROUP BY coin_id").collect()
    return {r.coin_id: int(r.n) for r in bars}, {r.coin_id: int(r.n) for r in raw}


def test_without_bars_every_question_reads_the_quotes(lake: Lake, setup: dict[str, Any], trino: Any) -> None:
    duck = duckdb(lake, setup["cfg"])
    assert duck.bars_view() is None and trino.bars_view() is None
    assert ask_both(duck) == 0


def test_folded_bars_answer_as_the_quotes(lake: Lake, spark: Any, setup: dict[str, Any], trino: Any) -> None:
    cfg = setup["cfg"]
    result = fold_bars(spark, cfg)
    assert result.folded and result.bars > 0
    bars, raw = _bar_counts(spark, cfg)
    assert bars == raw and result.bars * 5 < sum(raw.values())
    duck = duckdb(lake, cfg)
    view = duck.bars_view()
    assert view is not None and view.dirty_from is None
    assert trino.bars_view() is not None
    midnight = dt.datetime.combine(setup["old_day"], dt.time(), dt.UTC)
    for engine in (duck, trino):
        assert ask_both(engine) > 0
        assert ask_both(engine, at=midnight + dt.timedelta(hours=7, minutes=30)) > 0
    # Folding again without a new quote commits nothing.
    again = fold_bars(spark, cfg)
    assert not again.folded and again.quotes_snapshot == result.quotes_snapshot
    duck.close()


def test_quotes_after_the_fold_are_read_from_the_quotes(
    lake: Lake, spark: Any, run_stream: Callable[[LakeConfig], None], setup: dict[str, Any], trino: Any
) -> None:
    cfg = setup["cfg"]
    fold_bars(spark, cfg)
    produce(lake.kafka.bootstrap, setup["topic"], setup["held"])
    run_stream(cfg)
    duck = duckdb(lake, cfg)
    view = duck.bars_view()
    assert view is not None and view.dirty_from is not None
    assert view.dirty_from.date() == setup["old_day"], "the earliest changed day is the held-back old one"
    assert ask_both(duck) > 0  # bars before the old day, the quotes after it: still the same answers
    assert trino.bars_view() is None, "Trino reads the quotes while rows changed since the fold"
    assert ask_both(trino) == 0


def test_replayed_quotes_and_a_maintenance_fold_count_once(
    lake: Lake, spark: Any, run_stream: Callable[[LakeConfig], None], setup: dict[str, Any], trino: Any
) -> None:
    cfg = setup["cfg"]
    produce(lake.kafka.bootstrap, setup["topic"], setup["quotes"])  # the whole topic re-sent
    run_stream(cfg)
    result = maintain(spark, cfg, cfg.table)
    assert result.bars is not None and result.bars > 0
    bars, raw = _bar_counts(spark, cfg)
    assert bars == raw
    assert sum(raw.values()) == len({q.identity for q in setup["quotes"]})
    quotes_now = spark.sql(f"SELECT snapshot_id FROM {cfg.quotes}.snapshots ORDER BY committed_at DESC LIMIT 1")
    folded = spark.sql(f"SELECT summary FROM {cfg.quotes}_daily.snapshots ORDER BY committed_at DESC LIMIT 1")
    assert folded.collect()[0][0][QUOTES_SNAPSHOT] == str(quotes_now.collect()[0][0])
    duck = duckdb(lake, cfg)
    for engine in (duck, trino):
        assert ask_both(engine) > 0
    duck.close()
