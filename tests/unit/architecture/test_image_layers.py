"""The Python images install their locked dependencies in a layer that only the lock feeds.

A README or pyproject.toml edit copied in before `pip install -r <lock>` invalidates that layer,
and every such edit then re-downloads and re-installs every dependency (minutes per image).
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
#: Files edited far more often than the locks.
OFTEN_EDITED = ("README.md", "pyproject.toml", "src", "operators")


def _build_stage(dockerfile: Path) -> list[str]:
    """The instructions of the first stage, continuation lines joined."""
    lines: list[str] = []
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1] + " " + line
        else:
            lines.append(line)
    froms = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    return lines[froms[0] : froms[1]] if len(froms) > 1 else lines[froms[0] :]


@pytest.mark.parametrize("image", ["app", "notebook"])
def test_dependency_layer_sees_only_the_lock(image: str) -> None:
    stage = _build_stage(REPO / "images" / image / "Dockerfile")
    install = next(i for i, line in enumerate(stage) if "--require-hashes" in line)
    copied_before = [
        src
        for line in stage[:install]
        if line.upper().startswith("COPY ") and "--from" not in line
        for src in line.split()[1:-1]
    ]
    assert copied_before == [f"images/{image}/requirements.lock"], copied_before
    later = " ".join(line for line in stage[install:] if line.upper().startswith("COPY "))
    assert all(name in later for name in OFTEN_EDITED), later
