"""A Trino that has no worker yet (just started or restarted) refuses queries for a few seconds;
TrinoEngine sends such a query again instead of failing the dashboard or report, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from trino.exceptions import TrinoQueryError

from coinstream.sql import engines
from coinstream.sql.engines import TrinoEngine


def refusal(name: str) -> TrinoQueryError:
    return TrinoQueryError({"errorName": name, "errorType": "INTERNAL_ERROR", "message": name}, "q")


class Conn:
    """A DB-API connection whose first cursors fail as given, then answer one row."""

    def __init__(self, failures: list[TrinoQueryError]) -> None:
        self.failures, self.executed = failures, 0

    def cursor(self) -> Any:
        conn = self

        class Cursor:
            description = [("x",)]

            def execute(self, sql: str, params: Any = None) -> None:
                conn.executed += 1
                if conn.failures:
                    raise conn.failures.pop(0)

            def fetchall(self) -> list[tuple[int]]:
                return [(1,)]

        return Cursor()


def engine(conn: Conn) -> TrinoEngine:
    e = TrinoEngine.__new__(TrinoEngine)
    e._conn = conn
    return e


def test_no_worker_yet_is_waited_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines.time, "sleep", lambda _: None)
    conn = Conn([refusal("NO_NODES_AVAILABLE"), refusal("NO_NODES_AVAILABLE")])
    assert engine(conn).query("SELECT 1")["x"].tolist() == [1]
    assert conn.executed == 3


def test_other_errors_are_not_retried() -> None:
    conn = Conn([refusal("TABLE_NOT_FOUND")])
    with pytest.raises(TrinoQueryError, match="TABLE_NOT_FOUND"):
        engine(conn).rows("SELECT * FROM nowhere")
    assert conn.executed == 1


def test_no_worker_for_too_long_reaches_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(0, 1000, 5))
    monkeypatch.setattr(engines.time, "monotonic", lambda: float(next(clock)))
    monkeypatch.setattr(engines.time, "sleep", lambda _: None)
    conn = Conn([refusal("NO_NODES_AVAILABLE")] * 10)
    with pytest.raises(TrinoQueryError, match="NO_NODES_AVAILABLE"):
        engine(conn).query("SELECT 1")
    assert 1 < conn.executed < 10
