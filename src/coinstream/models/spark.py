"""Spark schema of a model, derived from its fields so it cannot drift.

Kept free of a pyspark import at module level: the DDL string is enough for
`from_json` and lets unit tests check the mapping without a JVM.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel

_SCALARS: dict[type, str] = {
    str: "STRING",
    float: "DOUBLE",
    int: "INT",
    bool: "BOOLEAN",
    dt.datetime: "TIMESTAMP",
}


def _spark_type(annotation: Any) -> tuple[str, bool]:
    """(Spark SQL type, nullable) of one pydantic field annotation."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _spark_type(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported union {annotation!r}")
        return _spark_type(args[0])[0], True
    if origin is Literal:
        kinds = {type(v) for v in get_args(annotation)}
        if len(kinds) != 1:
            raise TypeError(f"mixed Literal {annotation!r}")
        return _SCALARS[kinds.pop()], False
    if annotation is AwareDatetime:
        return "TIMESTAMP", False
    for py, spark in _SCALARS.items():
        if isinstance(annotation, type) and issubclass(annotation, py):
            return spark, False
    raise TypeError(f"no Spark type for {annotation!r}")


def spark_columns(model: type[BaseModel]) -> list[tuple[str, str, bool]]:
    """(name, Spark SQL type, nullable) per field, in declaration order."""
    hints = typing.get_type_hints(model, include_extras=True)
    out = []
    for name in model.model_fields:
        spark, nullable = _spark_type(hints[name])
        out.append((name, spark, nullable))
    return out


def spark_ddl(model: type[BaseModel], *, all_nullable: bool = False) -> str:
    """DDL for `StructType.fromDDL` / `from_json`.

    Parsing raw Kafka values wants `all_nullable=True`: a missing field must arrive as
    null so validation can quarantine the record, not fail the batch.
    """
    return ", ".join(
        f"{name} {spark}" + ("" if nullable or all_nullable else " NOT NULL")
        for name, spark, nullable in spark_columns(model)
    )


def spark_schema(model: type[BaseModel], *, all_nullable: bool = False) -> Any:
    """The same columns as a pyspark StructType (no SparkSession needed)."""
    from pyspark.sql import types as T

    types_ = {
        "STRING": T.StringType(),
        "DOUBLE": T.DoubleType(),
        "INT": T.IntegerType(),
        "BOOLEAN": T.BooleanType(),
        "TIMESTAMP": T.TimestampType(),
    }
    return T.StructType(
        [T.StructField(name, types_[spark], nullable or all_nullable) for name, spark, nullable in spark_columns(model)]
    )
