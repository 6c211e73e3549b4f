"""Entry point of the streaming job (spark-submit / SparkApplication / local subprocess).

All configuration comes from arguments or COINSTREAM_LAKE_* env (see
coinstream.lakehouse.config.LakeConfig); the logic lives in coinstream.lakehouse.stream.
"""

from __future__ import annotations

import sys

from coinstream.lakehouse.cli_args import config_from_argv
from coinstream.lakehouse.session import get_spark
from coinstream.lakehouse.stream import start_stream
from coinstream.logs import configure_logging
from coinstream.metrics import StreamMetrics


def main(argv: list[str]) -> int:
    configure_logging()
    cfg = config_from_argv(argv, "Stream quotes from Kafka into the Iceberg quotes table")
    spark = get_spark(cfg, "coinstream-stream-quotes")
    metrics = StreamMetrics()
    metrics.serve(cfg.metrics_port, cfg.metrics_host)
    query = start_stream(spark, cfg, metrics=metrics)
    query.awaitTermination()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
