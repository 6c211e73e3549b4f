"""Snapshot -> page components: tables and Plotly figures, no I/O.

Every number cell carries its exact value in `data-value` next to the rounded text,
so what the page shows can be checked against the SQL answer it came from.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from dash import html

from coinstream.dashboard.snapshot import Flag, Snapshot, _utc


def fmt_price(value: Any) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value):,.6g}"


def fmt_pct(value: Any) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value) * 100:+.2f}%"


def fmt_amount(value: Any) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    v = float(value)
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= size:
            return f"{v / size:,.2f}{unit}"
    return f"{v:,.2f}"


def fmt_age(seconds: Any) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "n/a"
    s = float(seconds)
    if abs(s) < 120:
        return f"{s:,.0f} s"
    if abs(s) < 7200:
        return f"{s / 60:,.1f} min"
    if abs(s) < 172800:
        return f"{s / 3600:,.1f} h"
    return f"{s / 86400:,.1f} d"


def fmt_ts(value: Any) -> str:
    ts = _utc(value)
    return "n/a" if ts is None else ts.strftime("%Y-%m-%d %H:%M:%S UTC")


def _raw(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, bool | int):
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    ts = _utc(value)
    return ts.isoformat() if ts is not None else repr(float(value))


def data_attrs(**values: Any) -> dict[str, Any]:
    """`data-*` attributes (Dash passes them through to the DOM)."""
    return {f"data-{k}": str(v) for k, v in values.items()}


def cell(text: str, value: Any = None, cls: str = "") -> html.Td:
    attrs: dict[str, Any] = {"data-value": _raw(value)} if value is not None else {}
    return html.Td(text, className=cls, **attrs)


def table(tid: str, header: list[str], rows: list[html.Tr]) -> html.Table:
    return html.Table([html.Thead(html.Tr([html.Th(h) for h in header])), html.Tbody(rows)], id=tid, className="grid")


def latest_table(s: Snapshot) -> html.Table:
    market = s.market.set_index("coin_id") if len(s.market) else pd.DataFrame()
    rows = []
    for r in s.latest.itertuples(index=False):
        m = market.loc[r.coin_id] if r.coin_id in market.index else None
        rows.append(
            html.Tr(
                [
                    html.Td(r.coin_id, className="coin"),
                    cell(fmt_price(r.price), r.price, "price"),
                    cell(fmt_ts(r.source_ts), r.source_ts, "ts"),
                    cell(fmt_age(r.age_s), r.age_s, "age"),
                    cell(
                        fmt_amount(None if m is None else m["total_volume"]), None if m is None else m["total_volume"]
                    ),
                    cell(fmt_amount(None if m is None else m["market_cap"]), None if m is None else m["market_cap"]),
                ],
                **data_attrs(coin=r.coin_id),
            )
        )
    header = ["coin", f"price ({s.params.vs_currency})", "quote time", "age", "24 h volume", "market cap"]
    return table("latest", header, rows)


def returns_table(s: Snapshot) -> html.Table:
    rows = []
    for r in s.returns.itertuples(index=False):
        quotes = None if r.quotes is None or pd.isna(r.quotes) else int(r.quotes)
        rows.append(
            html.Tr(
                [
                    html.Td(r.coin_id, className="coin"),
                    html.Td(r.window_name),
                    cell(fmt_pct(r.pct_return), r.pct_return, "return"),
                    cell(fmt_ts(r.start_ts), r.start_ts, "ref"),
                    cell(fmt_age(r.elapsed_s), r.elapsed_s, "elapsed"),
                    cell("n/a" if quotes is None else f"{quotes:,}", quotes, "quotes"),
                    html.Td(str(r.reason) if r.stale else "ok", className="stale" if r.stale else "fresh"),
                ],
                **data_attrs(coin=r.coin_id, window=r.window_name),
            )
        )
    header = ["coin", "window", "return", "reference quote", "elapsed", "quotes", "staleness"]
    return table("returns", header, rows)


def freshness_table(s: Snapshot) -> html.Table:
    rows = [
        html.Tr(
            [
                html.Td(r.feed),
                html.Td(r.source),
                html.Td(r.vs_currency),
                cell(f"{int(r.rows):,}", int(r.rows), "rows"),
                cell(fmt_ts(r.newest_quote), r.newest_quote, "newest"),
                cell(fmt_ts(r.newest_commit), r.newest_commit, "commit"),
                cell(fmt_age(r.lag_s), r.lag_s, "lag"),
            ],
            **data_attrs(feed=r.feed),
        )
        for r in s.freshness.itertuples(index=False)
    ]
    return table("freshness", ["feed", "source", "currency", "rows", "newest quote", "newest commit", "lag"], rows)


def flags_list(flags: list[Flag]) -> html.Ul:
    if not flags:
        return html.Ul([html.Li("no data-quality flags", className="ok")], id="flags")
    return html.Ul([html.Li(f"{f.subject}: {f.message}", className=f.level) for f in flags], id="flags")


Figure = dict[str, Any]


def _layout(title: str, **kw: Any) -> dict[str, Any]:
    grid = {"gridcolor": "#eee", "zerolinecolor": "#ccc"}
    return {
        "title": {"text": title, "font": {"size": 14}},
        "margin": {"l": 60, "r": 60, "t": 40, "b": 40},
        "height": 320,
        "uirevision": title,  # keep the user's zoom across refreshes
        "plot_bgcolor": "white",
        "xaxis": grid,
        **{k: {**grid, **v} if k.startswith(("xaxis", "yaxis")) else v for k, v in kw.items()},
    }


def _times(values: Any) -> list[str | None]:
    """ISO text plotly.js parses as UTC wall time (it has no time zones)."""
    out = []
    for v in values:
        ts = _utc(v)
        out.append(None if ts is None else ts.strftime("%Y-%m-%d %H:%M:%S"))
    return out


def _floats(values: Any) -> list[float | None]:
    return [None if v is None or pd.isna(v) else float(v) for v in values]


# Plain dicts, not plotly.graph_objects: the page is re-drawn every few seconds and
# graph_objects' validation costs more than the queries behind it.


def last_hour_figure(s: Snapshot) -> Figure:
    """Percent change since each coin's first quote of the hour: coins priced 1e-4 and 1e5 share one axis."""
    traces = []
    for coin, g in s.last_hour.groupby("coin_id", sort=True):
        base = float(g["price"].iloc[0])
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": str(coin),
                "x": _times(g["source_ts"]),
                "y": [(float(p) / base - 1) * 100 for p in g["price"]],
                "customdata": _floats(g["price"]),
                "marker": {"size": 4},
                "hovertemplate": "%{x}<br>%{customdata:,.6g} " + s.params.vs_currency + " (%{y:+.3f}%)<extra></extra>",
            }
        )
    title = "Last hour of quotes (% change since each coin's first quote of the hour, UTC)"
    return {"data": traces, "layout": _layout(title, yaxis={"ticksuffix": "%"})}


def candles_figure(s: Snapshot) -> Figure:
    c = s.candles
    coin = s.params.candle_coin or s.coins[0]
    trace = {
        "type": "candlestick",
        "name": coin,
        "x": _times(c["bucket_start"]),
        "open": _floats(c["open"]),
        "high": _floats(c["high"]),
        "low": _floats(c["low"]),
        "close": _floats(c["close"]),
    }
    title = f"{coin}: {s.params.interval} candles, last {s.params.candle_hours} h ({s.source}, UTC)"
    return {"data": [trace], "layout": _layout(title, xaxis={"rangeslider": {"visible": False}})}


def volume_figure(s: Snapshot) -> Figure:
    m = s.market
    coins = [str(c) for c in m["coin_id"]]
    data = [
        {"type": "bar", "name": "24 h volume", "x": coins, "y": _floats(m["total_volume"])},
        {
            "type": "scatter",
            "mode": "markers",
            "name": "market cap",
            "x": coins,
            "y": _floats(m["market_cap"]),
            "yaxis": "y2",
            "marker": {"size": 12, "symbol": "diamond"},
        },
    ]
    layout = _layout(
        f"24 h volume and market cap ({s.params.vs_currency}, newest quote)",
        yaxis={"type": "log", "title": {"text": "volume"}, "tickformat": "~s"},
        yaxis2={"type": "log", "overlaying": "y", "side": "right", "title": {"text": "market cap"}, "tickformat": "~s"},
        legend={"orientation": "h"},
    )
    return {"data": data, "layout": layout}
