"""Errors of market data sources, each saying what the user can do about it."""

from __future__ import annotations

from coinstream.errors import OperationalError, UserInputError


class SourceError(OperationalError):
    """A source could not deliver; the feed loop logs it and tries again next cycle."""


class RetryableError(SourceError):
    """Worth another try: 429, 5xx, timeouts, truncated bodies."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(SourceError, UserInputError):
    """Missing or wrong API key, or a key for the other host (CoinGecko 10010/10011)."""


class KeyHostError(AuthError):
    """The API key would go to a host nobody allowed: refused before any request is made."""


class UnknownCoinsError(SourceError, UserInputError):
    def __init__(self, unknown: list[str]) -> None:
        super().__init__(
            f"unknown CoinGecko coin ids: {', '.join(unknown)} "
            "(ids are the API ids such as 'bitcoin', not symbols such as 'btc'; see GET /coins/list)"
        )
        self.unknown = unknown


class HistoryLimitError(SourceError, UserInputError):
    """The plan does not allow this much history (demo and public keys: 365 days)."""


class MalformedResponseError(RetryableError):
    """The body was not the JSON we expected (truncated, HTML error page, wrong shape)."""


class DeadlineExceeded(RetryableError):
    """The call's whole deadline (retries and body reads included) ran out."""


class ResponseTooLargeError(SourceError):
    """The answer was larger than any real CoinGecko answer; reading it on would only fill memory."""
