"""Investor queries, written once in Trino SQL, run on Trino or embedded DuckDB.

from coinstream.sql import open_engine, Investor
inv = Investor(open_engine("duckdb", metastore_uri=..., warehouse=...))
inv.returns("usd", ["bitcoin", "ethereum"])
"""

from coinstream.sql.engines import DuckDBEngine, Engine, TrinoEngine, open_engine
from coinstream.sql.investor import WINDOWS, Investor, QueryError

__all__ = ["WINDOWS", "DuckDBEngine", "Engine", "Investor", "QueryError", "TrinoEngine", "open_engine"]
