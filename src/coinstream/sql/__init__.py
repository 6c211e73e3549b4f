"""Investor queries, written once in Trino SQL, run on Trino or embedded DuckDB.

from coinstream.sql import open_engine, Investor
inv = Investor(open_engine("duckdb", metastore_uri=..., warehouse=...), source="simulated")
inv.returns("usd", ["bitcoin", "ethereum"])
"""

from coinstream.sql.engines import DuckDBEngine, Engine, TrinoEngine, open_engine
from coinstream.sql.investor import Investor, QueryError, Scope
from coinstream.sql.windows import INTERVALS, WINDOWS, Tolerance

__all__ = [
    "INTERVALS",
    "WINDOWS",
    "DuckDBEngine",
    "Engine",
    "Investor",
    "QueryError",
    "Scope",
    "Tolerance",
    "TrinoEngine",
    "open_engine",
]
