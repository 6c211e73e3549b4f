"""`python -m coinfeed_operator`: kopf, cluster-wide, no peering (one replica, Recreate).

Log lines follow COINSTREAM_LOG_FORMAT (the chart sets json): kopf's own and coinstream's.
"""

import sys

from kopf.cli import main

from coinstream.logs import configure_logging
from coinstream.settings import get_settings

if __name__ == "__main__":
    configure_logging()
    log_format = "json" if get_settings().log_format == "json" else "full"
    sys.exit(
        main(
            [
                "run",
                "--standalone",
                "--all-namespaces",
                f"--log-format={log_format}",
                "-m",
                "coinfeed_operator.handlers",
                *sys.argv[1:],
            ]
        )
    )
