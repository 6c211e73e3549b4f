"""One reader of COINSTREAM_* variables: every name the tree mentions is one it reads."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from coinfeed_operator.config import OperatorConfig
from coinstream.lakehouse.config import LakeConfig
from coinstream.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
#: Read by the Makefile and the test harness only: where the pinned third-party CRDs are, and
#: a switch for kopf's debug log in the operator tests, where the dashboard test saves its screenshot.
HARNESS_ONLY = {"COINSTREAM_SHARED", "COINSTREAM_OPERATOR_VERBOSE", "COINSTREAM_SCREENSHOT"}


def _env_names(model: type) -> set[str]:
    prefix = model.model_config["env_prefix"]
    return {(f.alias or prefix + name).upper() for name, f in model.model_fields.items()}


def test_every_coinstream_variable_in_the_tree_is_read_by_a_settings_class():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    mentioned: set[str] = set()
    for name in files:
        path = ROOT / name
        if path.suffix in {".py", ".yaml", ".tpl", ".sh", ".mk", ".ipynb", ".md", ""} and path.is_file():
            mentioned |= set(re.findall(r"\bCOINSTREAM_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(errors="replace")))
    known = _env_names(Settings) | _env_names(LakeConfig) | _env_names(OperatorConfig) | HARNESS_ONLY
    prefixes = ("COINSTREAM_LAKE", "COINSTREAM_OPERATOR", "COINSTREAM_TRINO", "COINSTREAM_COINGECKO_API_KEY")
    unknown = {n for n in mentioned - known if n not in prefixes}
    assert unknown == set(), "mentioned but read by no settings class"
    assert "COINSTREAM_LOG_FORMAT" in mentioned and "COINSTREAM_LOG_FORMAT" in known


def test_log_format_reaches_the_logger(monkeypatch, capsys):
    from coinstream.logs import configure_logging, get_logger

    monkeypatch.setenv("COINSTREAM_LOG_FORMAT", "json")
    configure_logging()
    get_logger("t").warning("hello", coin="bitcoin")
    assert '"coin": "bitcoin"' in capsys.readouterr().err
    monkeypatch.setenv("COINSTREAM_LOG_FORMAT", "console")
    from coinstream.settings import get_settings

    get_settings.cache_clear()
    configure_logging()
    get_logger("t").warning("hello", coin="bitcoin")
    assert "coin=bitcoin" in capsys.readouterr().err


def test_hdfs_ports_have_one_default():
    from coinstream.devstack.hdfs import LocalHDFS
    from coinstream.platform.hdfs_config import HdfsPorts

    assert Settings().hdfs_ports() == HdfsPorts() == LocalHDFS(Path("/nonexistent")).ports
