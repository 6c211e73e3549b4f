"""CoinFeed and Quote models: the one source of truth for specs, events and derived schemas."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from coinstream.models import CoinFeedError, Quote, load_coinfeed, parse_coinfeed, quote_json_schema
from coinstream.models.spark import spark_columns, spark_ddl

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("coinfeed-*.yaml"))
BASE = yaml.safe_load((ROOT / "examples" / "coinfeed-coingecko.yaml").read_text())


def quote(**kw) -> Quote:
    base = dict(
        coin_id="bitcoin",
        symbol="btc",
        name="Bitcoin",
        vs_currency="usd",
        price=65000.5,
        market_cap=1.2e12,
        source="coingecko",
        source_ts="2024-03-01T12:00:00.123Z",
        ingest_ts=dt.datetime(2024, 3, 1, 12, 0, 5, tzinfo=dt.UTC),
        feed="majors",
        origin="live",
        granularity="tick",
    )
    base.update(kw)
    return Quote(**base)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_load(path):
    feed = load_coinfeed(path)
    assert feed.spec.coins and feed.topic.startswith("coinstream.quotes.")


def test_defaults_and_aliases():
    feed = parse_coinfeed(
        {
            "apiVersion": "coinstream.io/v1alpha1",
            "kind": "CoinFeed",
            "metadata": {"name": "x"},
            "spec": {"coins": ["a"]},
        }
    )
    assert feed.spec.vs_currencies == ["usd"] and feed.spec.source.type == "coingecko"
    assert feed.spec.poll_interval_seconds == 60 and feed.spec.kafka.partitions == 3
    assert feed.spec.sink.trigger_seconds == 10 and feed.topic == "coinstream.quotes.x"
    dumped = feed.spec.model_dump(by_alias=True, exclude_none=True)
    assert "vsCurrencies" in dumped and "pollIntervalSeconds" in dumped


INVALID = [
    ("spec.coins", lambda s: s.update(coins=[])),
    ("spec.coins[0]", lambda s: s.update(coins=["Bitcoin"])),
    ("spec.coins", lambda s: s.update(coins=["bitcoin", "bitcoin"])),
    ("spec.coins", lambda s: s.update(coins=[f"c{i}" for i in range(251)])),
    ("spec.vsCurrencies[0]", lambda s: s.update(vsCurrencies=["US$"])),
    ("spec.source.type", lambda s: s["source"].update(type="binance")),
    ("spec.source.plan", lambda s: s["source"].update(plan="enterprise")),
    ("spec.source.baseUrl", lambda s: s["source"].update(baseUrl="ftp://x")),
    ("spec.pollIntervalSeconds", lambda s: s.update(pollIntervalSeconds=1)),
    ("spec.pollIntervalSeconds", lambda s: s.update(pollIntervalSeconds=86400)),
    ("spec.backfill.from", lambda s: s["backfill"].update({"from": "2999-01-01"})),
    ("spec.backfill.from", lambda s: s["backfill"].update({"from": "2009-01-03"})),
    ("spec.backfill.granularity", lambda s: s["backfill"].update(granularity="minutely")),
    ("spec.kafka.partitions", lambda s: s["kafka"].update(partitions=0)),
    ("spec.kafka.topic", lambda s: s["kafka"].update(topic="Bad Topic")),
    ("spec.sink.table", lambda s: s["sink"].update(table="no-namespace")),
    ("spec.sink.trigger", lambda s: s["sink"].update(trigger="fast")),
    ("spec.pollInterval", lambda s: s.update(pollInterval=30)),
]


@pytest.mark.parametrize(("field", "mutate"), INVALID, ids=[f for f, _ in INVALID])
def test_invalid_specs_name_the_field(field, mutate):
    doc = copy.deepcopy(BASE)
    mutate(doc["spec"])
    with pytest.raises(CoinFeedError) as err:
        parse_coinfeed(doc, origin="feed.yaml")
    assert f"  {field}:" in str(err.value), str(err.value)
    assert str(err.value).startswith("feed.yaml: invalid CoinFeed")


def test_wrong_kind_and_bad_yaml(tmp_path):
    p = tmp_path / "f.yaml"
    p.write_text("apiVersion: v1\nkind: ConfigMap\n")
    with pytest.raises(CoinFeedError, match="exactly one document of kind CoinFeed"):
        load_coinfeed(p)
    p.write_text("spec: [unclosed")
    with pytest.raises(CoinFeedError, match="not valid YAML"):
        load_coinfeed(p)
    with pytest.raises(CoinFeedError, match="no such file"):
        load_coinfeed(tmp_path / "missing.yaml")
    doc = copy.deepcopy(BASE)
    doc["metadata"]["name"] = "Not_A_DNS_Name"
    with pytest.raises(CoinFeedError, match=r"metadata\.name"):
        parse_coinfeed(doc)


def test_poll_below_cache_window_warns():
    doc = copy.deepcopy(BASE)
    doc["spec"]["pollIntervalSeconds"] = 10
    assert "cache window" in parse_coinfeed(doc).spec.warnings()[0]
    doc["spec"]["source"]["type"] = "simulated"
    assert parse_coinfeed(doc).spec.warnings() == []


def test_quote_wire_format_round_trips():
    q = quote(source_ts=dt.datetime(2024, 3, 1, 14, 0, 0, 123000, tzinfo=dt.timezone(dt.timedelta(hours=2))))
    wire = json.loads(q.to_json())
    assert wire["source_ts"] == "2024-03-01T12:00:00.123Z"  # normalised to UTC, ms, Z
    assert wire["schema_version"] == 1 and wire["price"] == 65000.5 and wire["high_24h"] is None
    assert Quote.model_validate_json(q.to_json()) == q
    assert q.key == b"usd:bitcoin"
    assert q.identity == ("usd", "bitcoin", "coingecko", q.source_ts)


@pytest.mark.parametrize(
    "bad",
    [
        {"price": -1.0},
        {"price": 0.0},
        {"price": float("nan")},
        {"market_cap": -5.0},
        {"source_ts": "2024-03-01T12:00:00"},  # naive: rejected, never guessed
        {"origin": "replay"},
        {"granularity": "weekly"},
        {"schema_version": 2},
        {"extra_field": 1},
    ],
)
def test_quote_rejects_bad_values(bad):
    with pytest.raises(ValidationError):
        quote(**bad)


def test_json_schema_is_generated_and_committed():
    committed = json.loads((ROOT / "schemas" / "quote-v1.schema.json").read_text())
    assert committed == json.loads(json.dumps(quote_json_schema())), "run `make generate`"
    props = committed["properties"]
    assert set(props) == set(Quote.model_fields)
    assert props["source_ts"]["format"] == "date-time"
    assert set(committed["required"]) >= {"coin_id", "price", "source_ts", "origin"}


def test_spark_schema_follows_the_model():
    cols = {name: (t, nullable) for name, t, nullable in spark_columns(Quote)}
    assert list(cols) == list(Quote.model_fields)
    assert cols["price"] == ("DOUBLE", False) and cols["market_cap"] == ("DOUBLE", True)
    assert cols["source_ts"] == ("TIMESTAMP", False) and cols["schema_version"] == ("INT", False)
    assert "NOT NULL" not in spark_ddl(Quote, all_nullable=True)
    struct = __import__("coinstream.models.spark", fromlist=["x"]).spark_schema(Quote, all_nullable=True)
    assert struct.fieldNames() == list(Quote.model_fields)
    assert all(f.nullable for f in struct.fields)
