"""`python -m coinfeed_operator`: kopf, cluster-wide, no peering (one replica, Recreate)."""

import sys

from kopf.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "--standalone", "--all-namespaces", "-m", "coinfeed_operator.handlers", *sys.argv[1:]]))
