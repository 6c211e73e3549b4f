"""`helm lint --strict` of every chart with every values profile."""

from __future__ import annotations

import pytest
from tests.support.chartlib import CASES, Helm, case_id


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_lint(helm: Helm, case: tuple[str, str | None]) -> None:
    chart, profile = case
    path = helm.chart(chart)
    args = ["lint", "--strict", str(path), "--namespace", "coinstream", "--kube-version", "1.34.4"]
    if profile:
        args += ["-f", str(path / profile)]
    out = helm.run(*args, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 chart(s) failed" in out.stdout, out.stdout
