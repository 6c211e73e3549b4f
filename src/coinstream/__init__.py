"""coinstream: real-time crypto market data into an open lakehouse."""

__version__ = "0.1.0"
