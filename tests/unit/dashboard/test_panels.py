"""Number formatting on the page, and the exact values kept beside the rounded text."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from coinstream.dashboard.panels import _raw, fmt_age, fmt_amount, fmt_pct, fmt_price


def test_formats() -> None:
    assert fmt_price(67432.123456) == "67,432.1"
    assert fmt_price(0.000123456789) == "0.000123457"
    assert fmt_price(None) == fmt_price(float("nan")) == "n/a"
    assert fmt_pct(0.01234) == "+1.23%"
    assert fmt_pct(-0.5) == "-50.00%"
    assert fmt_amount(1.76e12) == "1.76T"
    assert fmt_amount(9_080_000) == "9.08M"
    assert fmt_age(11.4) == "11 s"
    assert fmt_age(138) == "2.3 min"
    assert fmt_age(86900) == "24.1 h"
    assert fmt_age(2_592_000) == "30.0 d"


def test_raw_values_round_trip() -> None:
    assert float(_raw(500847.5174393547)) == 500847.5174393547
    assert _raw(2914) == "2914"
    ts = pd.Timestamp("2026-11-30 08:08:03", tz="UTC")
    assert dt.datetime.fromisoformat(_raw(ts)) == ts.to_pydatetime()
    assert _raw(None) == "" and _raw(float("nan")) == ""
