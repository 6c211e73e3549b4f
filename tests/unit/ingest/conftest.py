"""The CoinGecko client's tests share one fake server per test and one way to build a fast client."""

from __future__ import annotations

import pytest
from tests.support.fake_coingecko import FakeCoinGecko

KEY = "CG-test-key-123"


@pytest.fixture
def server():
    with FakeCoinGecko(plan="demo", api_key=KEY) as fake:
        yield fake
