"""The two checks of `make e2e-kind` that need Python: rows visible in Trino, and the notebook runs.

Both reach Trino over https as the read-only analyst: kind/run.sh exports COINSTREAM_TRINO_*
(the password file and CA it copied from the release's Secret and ConfigMap).

    python kind/e2e_check.py wait-rows --port 18080 --timeout 900
    python kind/e2e_check.py run-notebook --port 18080 src/coinstream/report/notebooks/cluster-quickstart.ipynb
"""

from __future__ import annotations

import argparse
import os
import sys
import time

TABLE = "lake.coinstream.quotes"


def count_rows(port: int) -> int:
    from coinstream.settings import Settings

    cur = Settings().trino_auth().connect("localhost", port).cursor()
    cur.execute(f"SELECT count(*) FROM {TABLE}")  # noqa: S608 - a constant
    return int(cur.fetchall()[0][0])


def wait_rows(port: int, timeout: float) -> int:
    """Poll until the streaming job has committed rows (the table appears with its first commit)."""
    deadline, last = time.monotonic() + timeout, "no answer yet"
    while time.monotonic() < deadline:
        try:
            n = count_rows(port)
            if n > 0:
                print(f"{n} rows in {TABLE}")
                return 0
            last = "0 rows"
        except Exception as exc:  # Trino starting, table not created yet, port-forward reconnecting
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(10)
    print(f"no rows in {TABLE} after {timeout:.0f}s (last: {last})", file=sys.stderr)
    return 1


def run_notebook(port: int, path: str) -> int:
    import nbformat
    from nbclient import NotebookClient

    os.environ.update(COINSTREAM_TRINO_HOST="localhost", COINSTREAM_TRINO_PORT=str(port))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    print(f"{path}: {len(nb.cells)} cells executed")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    rows = sub.add_parser("wait-rows")
    rows.add_argument("--port", type=int, required=True)
    rows.add_argument("--timeout", type=float, default=900)
    nb = sub.add_parser("run-notebook")
    nb.add_argument("--port", type=int, required=True)
    nb.add_argument("notebook")
    args = parser.parse_args()
    if args.cmd == "wait-rows":
        return wait_rows(args.port, args.timeout)
    return run_notebook(args.port, args.notebook)


if __name__ == "__main__":
    sys.exit(main())
