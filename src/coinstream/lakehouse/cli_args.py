"""argv → LakeConfig for the Spark jobs: one flag per field, env as the fallback.

Jobs run under spark-submit in the cluster, where a flag list from the
SparkApplication is the natural interface; unset flags fall back to
COINSTREAM_LAKE_* env and then to the defaults.
"""

from __future__ import annotations

import argparse
import json

from coinstream.lakehouse.config import LakeConfig

_JSON_FIELDS = {"hadoop_conf", "spark_conf", "jars"}


def config_from_argv(argv: list[str], description: str) -> LakeConfig:
    parser = argparse.ArgumentParser(description=description)
    for name, info in LakeConfig.model_fields.items():
        flag = "--" + name.replace("_", "-")
        extra = " (JSON)" if name in _JSON_FIELDS else ""
        parser.add_argument(flag, dest=name, default=None, help=(info.description or name) + extra)
    args = parser.parse_args(argv)
    given = {}
    for name, value in vars(args).items():
        if value is None:
            continue
        given[name] = json.loads(value) if name in _JSON_FIELDS else value
    return LakeConfig(**given)


def config_to_argv(cfg: LakeConfig) -> list[str]:
    """The flags that reproduce `cfg` in a job subprocess (or a SparkApplication's arguments)."""
    out: list[str] = []
    for name in LakeConfig.model_fields:
        value = getattr(cfg, name)
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        out += [flag, json.dumps(value) if name in _JSON_FIELDS else str(value)]
    return out
