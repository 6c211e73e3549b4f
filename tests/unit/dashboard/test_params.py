"""The page's URL parameters: what is accepted, and the sentence a bad one gets."""

from __future__ import annotations

import pytest

from coinstream.dashboard.params import ViewParams, parse_params
from coinstream.sql import QueryError


def test_defaults_and_a_full_query() -> None:
    assert parse_params("") == ViewParams()
    assert parse_params(None) == ViewParams()
    p = parse_params("?vs=EUR&coins=bitcoin,%20ethereum,bitcoin&source=simulated&interval=1h&candle=ethereum&hours=24")
    assert p == ViewParams("eur", ("bitcoin", "ethereum"), "simulated", "1h", "ethereum", 24)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("vs=u$d", "vs must be a currency code like 'usd'"),
        ("coins=", "coins is empty"),
        ("coins=Bitcoin", "coin 'Bitcoin' is not a valid id"),
        ("coins=a;drop table quotes", "is not a valid id"),
        ("interval=2m", "interval '2m' is not one of 1m, 5m, 1h"),
        ("hours=-3", "hours must be a whole number from 1 to 168"),
        ("hours=169", "hours must be a whole number from 1 to 168"),
        ("vs=usd&vs=eur", "parameter 'vs' given 2 times"),
        ("colour=red&size=9", "unknown parameter(s) 'colour', 'size'"),
    ],
)
def test_bad_parameters_are_refused_with_a_sentence(query: str, message: str) -> None:
    with pytest.raises(QueryError) as exc:
        parse_params(query)
    assert message in str(exc.value)
