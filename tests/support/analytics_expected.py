"""The analytics' definitions computed independently, in pandas, from the quotes that were sent.

Nothing here shares code or structure with the SQL: as-of lookups, calendar windows and
candles are written the way a reviewer would check them by hand.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from coinstream.models.quote import Quote

MS = pd.Timedelta(milliseconds=1)
DAY = pd.Timedelta(days=1)


def frame(quotes: list[Quote], source: str, vs: str) -> pd.DataFrame:
    rows = {(q.coin_id, q.source_ts): q for q in quotes if q.source == source and q.vs_currency == vs}
    df = pd.DataFrame([q.model_dump() for q in rows.values()])
    df["ts"] = pd.to_datetime(df["source_ts"], utc=True)
    return df.sort_values(["coin_id", "ts"]).reset_index(drop=True)


def tol(window: float, fraction: float = 0.1, min_seconds: float = 0.0) -> float:
    return min(max(fraction * window, min_seconds), window / 2)


def _last_in(s: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.Series | None:
    x = s[(s["ts"] >= lo) & (s["ts"] <= hi)]
    return None if x.empty else x.iloc[-1]


def returns(df: pd.DataFrame, windows: dict[str, int], now: pd.Timestamp) -> pd.DataFrame:
    out = []
    for coin, s in df.groupby("coin_id"):
        for name, secs in windows.items():
            t = pd.Timedelta(seconds=tol(secs))
            start_target = now - pd.Timedelta(seconds=secs)
            end = _last_in(s, now - t, now)
            start = _last_in(s, start_target - t, start_target)
            ok = end is not None and start is not None
            out.append(
                {
                    "coin_id": coin,
                    "window_name": name,
                    "start_target": start_target,
                    "start_ts": start["ts"] if start is not None else pd.NaT,
                    "start_price": start["price"] if start is not None else np.nan,
                    "end_ts": end["ts"] if end is not None else pd.NaT,
                    "end_price": end["price"] if end is not None else np.nan,
                    "elapsed_seconds": (end["ts"] - start["ts"]).total_seconds() if ok else np.nan,
                    "quotes": int(((s["ts"] >= start["ts"]) & (s["ts"] <= end["ts"])).sum()) if ok else np.nan,
                    "pct_return": end["price"] / start["price"] - 1 if ok else np.nan,
                    "reason": None if ok else ("stale" if end is None else "start"),
                    "source_pct": end["price_change_pct_24h"] if end is not None else np.nan,
                }
            )
    return pd.DataFrame(out)


def total_return(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for coin, s in df.groupby("coin_id"):
        a, b = s.iloc[0], s.iloc[-1]
        rows.append(
            {
                "coin_id": coin,
                "start_ts": a["ts"],
                "start_price": a["price"],
                "current_ts": b["ts"],
                "current_price": b["price"],
                "days": (b["ts"] - a["ts"]) / DAY,
                "quotes": len(s),
                "pct_return": b["price"] / a["price"] - 1,
            }
        )
    return pd.DataFrame(rows)


def latest(df: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    last = df[df["ts"] <= now].groupby("coin_id").tail(1).copy()
    last["cap_share"] = last["market_cap"] / last["market_cap"].sum(skipna=True)
    last["age_seconds"] = (now - last["ts"]).dt.total_seconds()
    return last.reset_index(drop=True)


def candles(df: pd.DataFrame, width: pd.Timedelta, periods: int, now: pd.Timestamp) -> pd.DataFrame:
    rows = []
    first = (now - MS).floor(width) - (periods - 1) * width
    for coin, s in df.groupby("coin_id"):
        s = s.assign(bucket=(s["ts"] - MS).dt.floor(width))
        prev_close: dict[pd.Timestamp, float] = {}
        for bucket, b in s.groupby("bucket"):
            prev_close[bucket] = b.iloc[-1]["price"]
        for bucket, b in s.groupby("bucket"):
            if bucket < first:
                continue
            chained = (bucket - width) in prev_close
            open_ = prev_close[bucket - width] if chained else b.iloc[0]["price"]
            end = bucket + width
            close_row = b.iloc[-1]
            rows.append(
                {
                    "coin_id": coin,
                    "bucket_start": bucket,
                    "open": open_,
                    "high": max(b["price"].max(), open_),
                    "low": min(b["price"].min(), open_),
                    "close": close_row["price"],
                    "close_ts": close_row["ts"],
                    "quotes": len(b),
                    "market_cap": close_row["market_cap"],
                    "volume_24h": close_row["total_volume"],
                    "gap_before": not chained,
                    "complete": bool(
                        end <= now and (end - close_row["ts"]).total_seconds() <= tol(width.total_seconds())
                    ),
                }
            )
    return pd.DataFrame(rows)


def daily_closes(df: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """Complete days only: the day is over and its last quote is within 10 % of a day of its end."""
    rows = []
    for coin, s in df[df["ts"] <= now].groupby("coin_id"):
        for day, b in s.groupby((s["ts"] - MS).dt.floor("D")):
            last = b.iloc[-1]
            end = day + DAY
            if end <= now and (end - last["ts"]).total_seconds() <= tol(86400):
                rows.append(
                    {
                        "coin_id": coin,
                        "day": day.date(),
                        "close": last["price"],
                        "close_ts": last["ts"],
                        "market_cap": last["market_cap"],
                        "total_volume": last["total_volume"],
                        "quotes": len(b),
                    }
                )
    return pd.DataFrame(rows)


def daily_returns(closes: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for coin, s in closes.groupby("coin_id"):
        by_day = dict(zip(s["day"], s["close"], strict=True))
        for day, close in by_day.items():
            prev = by_day.get(day - dt.timedelta(days=1))
            if prev is not None:
                rows.append({"coin_id": coin, "day": day, "r": close / prev - 1, "lr": math.log(close / prev)})
    return pd.DataFrame(rows)


def volatility(closes: pd.DataFrame, min_n: int = 27) -> pd.DataFrame:
    rets = daily_returns(closes)
    rows = []
    for coin, s in rets.groupby("coin_id"):
        for day in s["day"]:
            w = s[(s["day"] >= day - dt.timedelta(days=29)) & (s["day"] <= day)]["lr"]
            vol = w.std(ddof=1) * math.sqrt(365) if len(w) >= min_n else np.nan
            rows.append({"coin_id": coin, "day": day, "volatility_30d": vol, "returns_used": len(w)})
    return pd.DataFrame(rows)


def moving_averages(closes: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for coin, s in closes.groupby("coin_id"):
        for day, close in zip(s["day"], s["close"], strict=True):
            row = {"coin_id": coin, "day": day, "close": close}
            for n, need in ((7, 7), (30, 27), (200, 180)):
                w = s[(s["day"] > day - dt.timedelta(days=n)) & (s["day"] <= day)]["close"]
                row[f"ma_{n}d"] = w.mean() if len(w) >= need else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def drawdowns(closes: pd.DataFrame) -> pd.DataFrame:
    out = closes.sort_values(["coin_id", "day"]).copy()
    out["peak"] = out.groupby("coin_id")["close"].cummax()
    out["drawdown"] = out["close"] / out["peak"] - 1
    return out[["coin_id", "day", "close", "peak", "drawdown"]].reset_index(drop=True)


def max_drawdown(closes: pd.DataFrame) -> pd.DataFrame:
    dd = drawdowns(closes)
    idx = dd.groupby("coin_id")["drawdown"].idxmin()
    return (
        dd.loc[idx, ["coin_id", "drawdown", "day"]]
        .rename(columns={"drawdown": "max_drawdown", "day": "trough_day"})
        .reset_index(drop=True)
    )


def correlation(closes: pd.DataFrame, first_day: dt.date) -> pd.DataFrame:
    rets = daily_returns(closes)
    rets = rets[rets["day"] >= first_day]
    wide = rets.pivot(index="day", columns="coin_id", values="r")
    rows = []
    for a in wide.columns:
        for b in wide.columns:
            both = wide[a].notna() & wide[b].notna()
            x, y = wide.loc[both, a].to_numpy(), wide.loc[both, b].to_numpy()
            rows.append({"coin_a": a, "coin_b": b, "correlation": np.corrcoef(x, y)[0, 1], "days": int(both.sum())})
    return pd.DataFrame(rows)


def cumulative(closes: pd.DataFrame, first_day: dt.date) -> pd.DataFrame:
    inrange = closes[closes["day"] >= first_day]
    wide = inrange.pivot(index="day", columns="coin_id", values="close")
    common = wide.dropna().index.min()
    rows = []
    for coin in wide.columns:
        base = wide.loc[common, coin]
        for day, close in wide[coin].dropna().items():
            if day >= common:
                rows.append({"coin_id": coin, "day": day, "close": close, "cumulative_return": close / base - 1})
    return pd.DataFrame(rows)


def cap_index(closes: pd.DataFrame, first_day: dt.date) -> pd.DataFrame:
    rows = []
    by = {(r.coin_id, r.day): r for r in closes.itertuples()}
    for day in sorted({d for d in closes["day"] if d >= first_day}):
        num = den = 0.0
        n = 0
        for coin in sorted(set(closes["coin_id"])):
            today, prev = by.get((coin, day)), by.get((coin, day - dt.timedelta(days=1)))
            if today is None or prev is None or prev.market_cap is None or not prev.market_cap > 0:
                continue
            num += prev.market_cap * (today.close / prev.close - 1)
            den += prev.market_cap
            n += 1
        if n:
            rows.append({"day": day, "index_return": num / den, "coins": n})
    out = pd.DataFrame(rows)
    out["index_level"] = 100 * (1 + out["index_return"]).cumprod()
    return out
