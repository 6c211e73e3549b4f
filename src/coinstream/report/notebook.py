"""Render the investor notebook to a self-contained HTML report (headless, no Jupyter server).

Parameters are injected as a cell right after the notebook's `parameters` cell
(the papermill convention), so the notebook stays runnable by hand with its own
defaults. Connection settings travel as environment variables of the kernel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

NOTEBOOK = "investor_overview.ipynb"


def notebook_text(name: str = NOTEBOOK) -> str:
    """A notebook shipped as package data (coinstream/report/notebooks/)."""
    return resources.files("coinstream.report").joinpath("notebooks", name).read_text()


def _inject(nb: Any, params: Mapping[str, Any]) -> None:
    import nbformat

    lines = [f"{k} = {v!r}" for k, v in params.items()]
    cell = nbformat.v4.new_code_cell("# Injected by coinstream.report.render\n" + "\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    idx = next((i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), -1)
    nb.cells.insert(idx + 1, cell)


def execute(*, engine: str = "duckdb", coins: Sequence[str] | None = None, vs_currency: str = "usd",
            window_days: int = 90, env: Mapping[str, str] | None = None, timeout: int = 600,
            notebook: str | Path = NOTEBOOK, source: str | None = None, poll_seconds: float = 0.0) -> Any:  # fmt: skip
    """Run the notebook headless; returns the executed notebook (errors raise CellExecutionError)."""
    import nbformat
    from nbclient import NotebookClient

    text = Path(notebook).read_text() if isinstance(notebook, Path) else notebook_text(notebook)
    nb = nbformat.reads(text, as_version=4)
    _inject(nb, {"engine": engine, "coins": list(coins) if coins else None, "vs_currency": vs_currency,
                 "window_days": window_days, "source": source, "poll_seconds": poll_seconds})  # fmt: skip
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return nb


def render(output: Path, **kwargs: Any) -> Path:
    """Execute the notebook (see `execute` for parameters) and write it as HTML to `output`."""
    from nbconvert import HTMLExporter

    nb = execute(**kwargs)
    exporter = HTMLExporter()
    exporter.exclude_input = True
    html, _ = exporter.from_notebook_node(nb)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html)
    return output
