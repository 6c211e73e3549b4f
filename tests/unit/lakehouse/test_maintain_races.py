"""Maintenance beside a live stream: a procedure that loses a commit race is re-run, anything else
surfaces at once (a broken table must not be retried into the log)."""

from __future__ import annotations

from typing import Any

import pytest

from coinstream.lakehouse import maintain


class Procedures:
    """Answers `spark.sql(...).collect()` from a script of outcomes, recording each call."""

    def __init__(self, *outcomes: Exception | list[Any]) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[str] = []

    def sql(self, text: str) -> Procedures:
        self.calls.append(text)
        return self

    def collect(self) -> list[Any]:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


RACE = RuntimeError(
    "org.apache.iceberg.exceptions.ValidationException: Deleted manifest s3://m.avro could not be found "
    "in the latest snapshot"
)


@pytest.fixture(autouse=True)
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maintain.time, "sleep", lambda _s: None)


def test_a_lost_race_is_rerun_until_it_commits() -> None:
    spark = Procedures(RACE, RuntimeError("CommitFailedException: metadata changed"), [{"ok": 1}])
    assert maintain._call(spark, "CALL rewrite_manifests") == [{"ok": 1}]
    assert spark.calls == ["CALL rewrite_manifests"] * 3


def test_other_failures_are_not_retried() -> None:
    spark = Procedures(RuntimeError("Table not found: lake.coinstream.quotes"), [])
    with pytest.raises(RuntimeError, match="Table not found"):
        maintain._call(spark, "CALL rewrite_manifests")
    assert len(spark.calls) == 1


def test_retries_are_bounded() -> None:
    spark = Procedures(*([RACE] * maintain.RACE_RETRIES))
    with pytest.raises(RuntimeError, match="ValidationException"):
        maintain._call(spark, "CALL rewrite_manifests")
    assert len(spark.calls) == maintain.RACE_RETRIES
