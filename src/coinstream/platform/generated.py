"""How every generator writes its file: `python -m <generator> OUT`, the path given by the Makefile
(`make generate`, `make check-generated`), so no module knows where the checkout keeps it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


def write_generated(render: Callable[[], str], argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit(f"usage: python -m {sys.argv[0]} OUT  (run by `make generate`)")
    out = Path(args[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render())
