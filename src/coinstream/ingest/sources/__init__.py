"""Market data sources: CoinGecko (live and history) and a deterministic simulated market."""

from __future__ import annotations

from coinstream.ingest.sources.base import MarketSource
from coinstream.ingest.sources.coingecko import CoinGeckoClient
from coinstream.ingest.sources.simulated import SimulatedMarket
from coinstream.metrics import Metrics
from coinstream.models import CoinFeed
from coinstream.settings import Settings


def make_source(feed: CoinFeed, settings: Settings, metrics: Metrics) -> MarketSource:
    """The source a feed asks for; env settings override the spec's base URL (tests, proxies)."""
    src = feed.spec.source
    if src.type == "simulated":
        return SimulatedMarket(src.seed, metrics=metrics)
    return CoinGeckoClient(
        plan=src.plan,
        api_key=settings.api_key(),
        base_url=settings.coingecko_base_url or src.base_url,
        key_hosts=settings.key_hosts(),
        metrics=metrics,
        connect_timeout=settings.http_connect_timeout,
        read_timeout=settings.http_read_timeout,
        deadline=settings.http_deadline,
    )


__all__ = ["CoinGeckoClient", "MarketSource", "SimulatedMarket", "make_source"]
