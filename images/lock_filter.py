"""Select packages from a uv `--generate-hashes` lock file, keeping their hashes.

Why: each image needs a different slice of the one lock (the app image has no use for the 450 MB
pyspark; the Spark image only needs pydantic and PyYAML on top of Spark's own Python), and
`pip install --require-hashes` must still verify every file. Standard library only: it runs in
the images' build stages before anything is installed.

    python lock_filter.py drop pyspark py4j < requirements.lock > app.lock
    python lock_filter.py keep pydantic pyyaml < requirements.lock > spark.lock
    python lock_filter.py minus requirements.lock < notebook.lock > extra.lock
"""

import re
import sys

_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def stanzas(text: str) -> list[tuple[str | None, str]]:
    """(normalized package name or None for comments, its lines) in file order."""
    out: list[tuple[str | None, str]] = []
    for line in text.splitlines(keepends=True):
        m = _NAME.match(line)
        if m:
            out.append((norm(m.group(1)), line))
        elif line[:1].isspace() and out and out[-1][0] is not None:
            out[-1] = (out[-1][0], out[-1][1] + line)
        else:
            out.append((None, line))
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in {"drop", "keep", "minus"}:
        print(__doc__, file=sys.stderr)
        return 2
    mode, args = argv[0], argv[1:]
    if mode == "minus":
        with open(args[0]) as fh:
            names = {n for n, _ in stanzas(fh.read()) if n}
    else:
        names = {norm(a) for a in args}
    items = stanzas(sys.stdin.read())
    found = {n for n, _ in items if n}
    missing = sorted(names - found) if mode != "minus" else []
    if missing:
        print(f"not in the lock: {', '.join(missing)}", file=sys.stderr)
        return 1
    for name, text in items:
        if name is None:
            continue
        if (mode == "keep") == (name in names):
            sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
