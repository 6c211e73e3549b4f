"""Entry point of the maintenance job: compaction, snapshot expiry, orphan-file cleanup.

Same configuration as the streaming job (flags or COINSTREAM_LAKE_* env); maintains
the quotes and quarantine tables. Logic: coinstream.lakehouse.maintain.
"""

from __future__ import annotations

import sys

from coinstream.lakehouse.cli_args import config_from_argv
from coinstream.lakehouse.maintain import maintain
from coinstream.lakehouse.session import get_spark
from coinstream.logs import configure_logging


def main(argv: list[str]) -> int:
    configure_logging()
    cfg = config_from_argv(argv, "Compact, expire snapshots of and clean the lakehouse tables")
    spark = get_spark(cfg, "coinstream-maintain-tables")
    for table in (cfg.table, cfg.quarantine_table):
        result = maintain(spark, cfg, table)
        print(result)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
