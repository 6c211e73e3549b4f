"""The one root of coinstream's own errors, split by whose move it is.

`UserInputError`: the input is wrong (a CoinFeed file, a flag, a coin id, a key, a query
parameter); running again unchanged fails again, so the CLI exits 2. `OperationalError`: the
input was fine but the world was not (a service down, a download failed, Kafka did not
acknowledge); worth another try, so the CLI exits 1. Every error class in the package derives
from one of the two, so the CLI's error boundary (coinstream.cli) needs no list of classes.
"""

from __future__ import annotations


class CoinstreamError(Exception):
    """Root of every error coinstream raises on purpose; its message is meant for the user."""


class UserInputError(CoinstreamError, ValueError):
    """Bad input: the message says what to change."""


class OperationalError(CoinstreamError, RuntimeError):
    """A runtime failure of a service, a download or the network: the message says what failed."""


def exit_code(exc: BaseException) -> int:
    """The CLI's exit status for an error: 2 for bad input, 1 for everything else."""
    return 2 if isinstance(exc, UserInputError) else 1
