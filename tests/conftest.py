"""Every test starts from the environment as it is: settings are read afresh per test, so a
test that sets COINSTREAM_* variables (monkeypatch) sees them and leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from coinstream.settings import get_settings


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
