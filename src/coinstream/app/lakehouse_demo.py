"""The lakehouse half of `coinstream demo`: stream what was produced into Iceberg, wait
until it is queryable, render the investor report and summarise it per coin.

Called by the lead's `coinstream.app.demo` after producing. Starts the metastore unless
one is given, runs the streaming job as its own process (as in the cluster) with an
`availableNow` trigger, and reads the answers through the embedded engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from coinstream.devstack.metastore import LocalMetastore
from coinstream.devstack.process import free_port
from coinstream.lakehouse.config import LakeConfig
from coinstream.lakehouse.job import start_stream_job


@dataclass
class CoinSummary:
    coin_id: str
    latest_price: float
    return_24h: float | None
    return_total: float | None
    volatility_30d: float | None


@dataclass
class LakehouseSummary:
    rows: int
    quarantined: int
    seconds: float
    report: Path | None
    coins: list[CoinSummary] = field(default_factory=list)


def table_rows(metastore_uri: str, warehouse: str, ident: str) -> int:
    """Rows in the current snapshot, from Iceberg metadata alone (no scan)."""
    from pyiceberg.catalog.hive import HiveCatalog
    from pyiceberg.exceptions import NoSuchTableError

    try:
        table = HiveCatalog("lake", uri=metastore_uri, warehouse=warehouse).load_table(ident)
    except NoSuchTableError:
        return 0
    snap = table.current_snapshot()
    total = snap.summary.get("total-records") if snap and snap.summary else None
    return int(total) if total is not None else 0


def run_lakehouse_demo(bootstrap: str, topics: str, *, home: Path, vs_currency: str = "usd",
                       metastore: LocalMetastore | None = None, report: Path | None = None,
                       progress: Callable[[int, float], None] | None = None,
                       timeout: float = 480.0) -> LakehouseSummary:  # fmt: skip
    """`topics` is a regex (e.g. re.escape(feed.topic)); `progress(rows, elapsed_s)` is called while waiting."""
    began = time.monotonic()
    home = home.resolve()
    own_metastore = metastore is None
    if metastore is None:
        metastore = LocalMetastore(home / "metastore", (home / "warehouse").as_uri(), port=free_port())
        metastore.up()
    cfg = LakeConfig(
        bootstrap=bootstrap, topics=topics, warehouse=metastore.warehouse, metastore_uri=metastore.uri,
        checkpoint=(home / "checkpoints" / "quotes").as_uri(), trigger="availableNow", master="local[2]",
    )  # fmt: skip
    try:
        job = start_stream_job(cfg, home / "jobs")
        ident = f"{cfg.namespace}.{cfg.table}"
        while job.running():
            if time.monotonic() - began > timeout:
                job.stop()
                raise TimeoutError(f"streaming job still running after {timeout:.0f}s:\n{job.log_tail()}")
            if progress:
                progress(table_rows(metastore.uri, metastore.warehouse, ident), time.monotonic() - began)
            time.sleep(1.0)
        rows = table_rows(metastore.uri, metastore.warehouse, ident)
        if rows == 0:
            raise RuntimeError(f"the streaming job wrote no rows:\n{job.log_tail()}")
        if progress:
            progress(rows, time.monotonic() - began)
        bad = table_rows(metastore.uri, metastore.warehouse, f"{cfg.namespace}.{cfg.quarantine_table}")
        summary = LakehouseSummary(rows=rows, quarantined=bad, seconds=0.0, report=None)
        summary.coins = _summarise(cfg, vs_currency)
        if report is not None:
            from coinstream.report import render

            env = {"COINSTREAM_LAKE_METASTORE_URI": metastore.uri, "COINSTREAM_LAKE_WAREHOUSE": metastore.warehouse}
            summary.report = render(report, engine="duckdb", vs_currency=vs_currency, env=env)
        summary.seconds = time.monotonic() - began
        return summary
    finally:
        if own_metastore:
            metastore.down()


def _summarise(cfg: LakeConfig, vs_currency: str) -> list[CoinSummary]:
    from coinstream.sql import DuckDBEngine, Investor

    engine = DuckDBEngine(cfg.metastore_uri, cfg.warehouse, namespace=cfg.namespace, tables={"quotes": cfg.table})
    try:
        inv = Investor(engine)
        latest = inv.latest(vs_currency).set_index("coin_id")["price"]
        rets = inv.returns(vs_currency, windows=["24h", "all"]).pivot(
            index="coin_id", columns="window_name", values="pct_return"
        )
        vol = inv.volatility(vs_currency).dropna().groupby("coin_id")["volatility_30d"].last()
        return [
            CoinSummary(
                coin_id=str(coin),
                latest_price=float(latest[coin]),
                return_24h=_num(rets.loc[coin, "24h"]) if coin in rets.index else None,
                return_total=_num(rets.loc[coin, "all"]) if coin in rets.index else None,
                volatility_30d=_num(vol.get(coin)),
            )
            for coin in latest.index
        ]
    finally:
        engine.close()


def _num(value: object) -> float | None:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if f != f else f
