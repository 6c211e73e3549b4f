"""Backfill against the source's rate limit: wall time against the floor the limit allows.

A local server speaking CoinGecko's formats enforces 30 calls per minute (429 with
Retry-After beyond it, as CoinGecko does); the real backfill (`run_backfill`, the
transactional writer, the coverage ledger) loads N coins x M days of hourly history
into a real local broker. The floor is the calls the job needs divided by the rate;
the goal is wall <= 1.1x the floor with zero 429s caused by the client itself.

    PYTHONPATH=. python bench/backfill.py [--coins 20] [--days 120] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr
from tests.support.fake_coingecko import FakeCoinGecko

from coinstream.devstack.kafka import LocalKafka
from coinstream.devstack.process import free_port
from coinstream.ingest.backfill import run_backfill
from coinstream.ingest.kafka import ensure_topic
from coinstream.ingest.sources.coingecko import CoinGeckoClient
from coinstream.metrics import Metrics
from coinstream.models import parse_coinfeed

RATE = 30  # calls per minute, the demo plan's limit


def one_round(bootstrap: str, n: int, days: int, round_no: int) -> dict[str, float]:
    coins = {f"bench-coin-{i}": (f"bc{i}", f"Bench Coin {i}", 10.0 + i, None) for i in range(n)}
    with FakeCoinGecko(
        plan="demo", api_key="k", rate_limit_per_minute=RATE, enforce_rate_limit=True, extra_coins=coins
    ) as fake:
        start = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).date()
        feed = parse_coinfeed(
            {
                "apiVersion": "coinstream.io/v1alpha1",
                "kind": "CoinFeed",
                "metadata": {"name": f"bench-backfill-{round_no}-{os.getpid()}"},
                "spec": {
                    "coins": sorted(coins),
                    "vsCurrencies": ["usd"],
                    "source": {"type": "coingecko", "plan": "demo"},
                    "backfill": {"from": start.isoformat(), "granularity": "hourly"},
                    "kafka": {"partitions": 3},
                },
            }
        )
        ensure_topic(bootstrap, feed.topic, 3)
        metrics = Metrics()
        client = CoinGeckoClient(
            "demo", SecretStr("k"), fake.base_url, metrics=metrics, calls_per_minute=RATE, key_hosts=["127.0.0.1"]
        )
        t0 = time.monotonic()
        client.check_coins(sorted(coins))
        result = run_backfill(feed, client, bootstrap, metrics=metrics)
        wall = time.monotonic() - t0
        calls = len(fake.requests)
        limited = sum(1 for r in fake.requests if r.status == 429)
    floor = calls / (RATE / 60.0)
    load = os.getloadavg()[0]
    return {"wall": wall, "floor": floor, "calls": calls, "rows": result.produced, "429": limited, "load": load}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--coins", type=int, default=20)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalKafka(Path(tmp), port=free_port(), controller_port=free_port())
        broker.up()
        try:
            rounds = [one_round(broker.bootstrap, args.coins, args.days, i) for i in range(args.rounds)]
        finally:
            broker.down()
    for i, r in enumerate(rounds):
        print(
            f"round {i}: {r['calls']:.0f} calls, {r['rows']:.0f} rows, wall {r['wall']:.1f}s, "
            f"floor {r['floor']:.1f}s, ratio {r['wall'] / r['floor']:.3f}, 429s {r['429']:.0f}, load {r['load']:.1f}"
        )
    ratio = statistics.median(r["wall"] / r["floor"] for r in rounds)
    print(f"backfill {args.coins} coins x {args.days} days hourly at {RATE} calls/min")
    print(f"median wall/floor: {ratio:.3f}x (goal <= 1.1x); 429s caused: {sum(r['429'] for r in rounds):.0f}")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
