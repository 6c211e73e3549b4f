"""`coinstream demo` as a user runs it: from the wheel, in an empty venv, outside the checkout.

The whole embedded platform: local Kafka + metastore, backfill, live ticks, the streaming
job as its own process, Iceberg, the report and the per-coin summary. Every printed number
is checked against what really is in Kafka, read back independently.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from tests.support.kafka_topics import read_all
from tests.support.wheel import ROOT, build_wheel, install_wheel

from coinstream.app.demo import demo_feed
from coinstream.devstack.process import free_port

pytestmark = pytest.mark.integration


def _cell(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]


def test_demo_from_the_wheel_streams_reports_and_summarises(tmp_path: Path) -> None:
    bin_dir = install_wheel(build_wheel(tmp_path / "dist"), tmp_path / "venv")
    work = tmp_path / "elsewhere"
    work.mkdir()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("COINSTREAM_", "PYTHONPATH", "VIRTUAL_ENV"))},
        "COINSTREAM_CACHE": os.environ.get("COINSTREAM_CACHE", str(Path.home() / ".cache" / "coinstream")),
        "COINSTREAM_STATE_DIR": str(tmp_path / "state"),
        "COINSTREAM_KAFKA_PORT": str(port),
        "COINSTREAM_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
        "COINSTREAM_KAFKA_CONTROLLER_PORT": str(free_port()),
        "COINSTREAM_METASTORE_PORT": str(free_port()),
        "COINSTREAM_TRINO_PORT": str(free_port()),
        "COLUMNS": "200",
    }
    coinstream = str(bin_dir / "coinstream")
    try:
        demo = subprocess.run(
            [coinstream, "demo", "--live-seconds", "5", "--keep-running", "--report", str(tmp_path / "report.html")],
            cwd=work, env=env, capture_output=True, text=True, timeout=1500, check=False,
        )  # fmt: skip
        assert demo.returncode == 0, demo.stderr[-4000:]
        assert str(ROOT) not in demo.stdout + demo.stderr, "the installed package reached into the checkout"
        feed = demo_feed()
        quotes = [r.value for r in read_all(env["COINSTREAM_KAFKA_BOOTSTRAP"], feed.topic)]
    finally:
        subprocess.run([coinstream, "local", "down"], cwd=work, env=env, capture_output=True, timeout=300, check=False)

    out = demo.stdout
    rows = int(re.search(r"Iceberg: ([\d,]+) rows in the lakehouse, (\d+) quarantined", out)[1].replace(",", ""))
    assert re.search(r"Iceberg: [\d,]+ rows in the lakehouse, 0 quarantined", out)
    assert rows == len({(q["vs_currency"], q["coin_id"], q["source"], q["source_ts"]) for q in quotes})
    seen = [
        int(n.replace(",", "")) for n in re.findall(r"streaming into Iceberg: ([\d,]+) rows queryable", demo.stderr)
    ]
    assert seen and seen[-1] == rows
    assert (tmp_path / "report.html").stat().st_size > 10_000

    by_coin = {cells[0]: cells for line in out.splitlines() if len(cells := _cell(line)) == 7 and cells[0] != "coin"}
    assert set(by_coin) == set(feed.spec.coins)
    btc = sorted((q for q in quotes if q["coin_id"] == "bitcoin"), key=lambda q: q["source_ts"])
    first, last = float(btc[0]["price"]), float(btc[-1]["price"])
    _, price, r5m, r1h, r24, total, vol = by_coin["bitcoin"]
    assert float(price.replace(",", "")) == pytest.approx(last, rel=1e-5)
    assert float(total.split("%")[0]) == pytest.approx((last / first - 1) * 100, abs=0.006)
    assert total.endswith(f"since {btc[0]['source_ts'][:10]}")
    # Bounded returns name their reference quote and the seconds actually elapsed: the demo's
    # simulated recent hour gives the 5 m and 1 h windows a reference within the tolerance.
    for cell, window in ((r5m, 300), (r1h, 3600)):
        m = re.fullmatch(r"[+-]\d+\.\d+% from \d\d-\d\d \d\d:\d\d:\d\d \(([\d,]+) s\)", cell)
        assert m, cell
        assert abs(int(m[1].replace(",", "")) - window) <= 0.2 * window
    assert not r24.startswith("n/a") and vol != "n/a" and float(vol.rstrip("%")) > 0
