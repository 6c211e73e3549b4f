"""Investor reports: the notebooks (package data) executed headless and rendered to HTML."""

from coinstream.report.notebook import NOTEBOOK, execute, notebook_text, render

__all__ = ["NOTEBOOK", "execute", "notebook_text", "render"]
