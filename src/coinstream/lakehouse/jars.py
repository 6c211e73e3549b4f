"""The extra jars Spark needs (Kafka source, Iceberg runtime), resolved once, never at job start.

Maven resolves them into the cache; jars whose artifact pyspark already bundles
(Hadoop client, Scala, snappy, slf4j…) are left out so one class never has two
versions on the classpath. The result goes to `spark.jars` as explicit paths.
"""

from __future__ import annotations

import re
from pathlib import Path

from coinstream.devstack.jars import resolve_jars
from coinstream.devstack.metastore import pyspark_jars
from coinstream.versions import ICEBERG_VERSION, SPARK_VERSION

# artifact-1.2.3[-classifier].jar; a version has dots and no underscore (unlike `_2.13` suffixes).
_VERSIONED = re.compile(r"^(?P<artifact>.+?)-\d+(?:\.\d+)+(?:[-.][A-Za-z0-9]+)*\.jar$")


def artifact_name(jar: str) -> str:
    m = _VERSIONED.match(jar)
    return m.group("artifact") if m else jar.removesuffix(".jar")


def lakehouse_jars() -> list[str]:
    extra = resolve_jars("spark-lakehouse", SPARK_VERSION, package="coinstream.lakehouse", iceberg=ICEBERG_VERSION)
    bundled = {artifact_name(p.name) for p in pyspark_jars().glob("*.jar")}
    return [str(p) for p in sorted(extra.glob("*.jar")) if artifact_name(p.name) not in bundled]


def iceberg_runtime_jar() -> Path:
    return next(Path(j) for j in lakehouse_jars() if "iceberg-spark-runtime" in j)
