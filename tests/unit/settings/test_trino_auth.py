"""Where a Trino client's credentials come from, and that its CA cannot be swapped by the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from coinstream.platform.trino_auth import ADMIN, ANALYST, TrinoAuth, TrinoAuthError, local_password_file
from coinstream.settings import Settings


def _local_stack_files(state: Path) -> Path:
    home = state / "trino"
    for user, pw in ((ANALYST, "analyst-pw"), (ADMIN, "admin-pw")):
        local_password_file(home, user).parent.mkdir(parents=True, exist_ok=True)
        local_password_file(home, user).write_text(pw + "\n")
    (home / "tls").mkdir()
    (home / "tls" / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    return home


def test_clients_default_to_the_local_stacks_analyst(tmp_path: Path) -> None:
    home = _local_stack_files(tmp_path)
    auth = Settings(state_dir=tmp_path).trino_auth()
    assert (auth.user, auth.password.get_secret_value(), auth.ca_file) == (ANALYST, "analyst-pw", home / "tls/ca.crt")
    assert Settings(state_dir=tmp_path).trino_auth(ADMIN).password.get_secret_value() == "admin-pw"
    assert "analyst-pw" not in repr(auth) and "analyst-pw" not in str(auth)  # never in a log line


def test_a_mounted_secret_file_wins_and_belongs_to_its_user(tmp_path: Path) -> None:
    _local_stack_files(tmp_path)
    mounted = tmp_path / "secret" / "analyst"
    mounted.parent.mkdir()
    mounted.write_text("from-the-secret\n")
    ca = tmp_path / "release-ca.crt"
    settings = Settings(state_dir=tmp_path, trino_password_file=mounted, trino_ca_file=ca)
    auth = settings.trino_auth()
    assert (auth.password.get_secret_value(), auth.ca_file) == ("from-the-secret", ca)
    # The analyst's file is not the admin's password.
    assert settings.trino_auth(ADMIN).password.get_secret_value() == "admin-pw"


def test_no_password_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TrinoAuthError, match="coinstream local up --trino"):
        Settings(state_dir=tmp_path).trino_auth()
    with pytest.raises(TrinoAuthError, match="cannot read the Trino password file"):
        Settings(state_dir=tmp_path, trino_password_file=tmp_path / "missing").trino_auth()


def test_requests_ca_bundle_cannot_replace_trinos_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain requests lets REQUESTS_CA_BUNDLE override a session's `verify`; ours keeps the pinned CA."""
    import requests

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    ca = tmp_path / "ca.crt"
    plain = requests.Session()
    plain.verify = str(ca)
    assert plain.merge_environment_settings("https://x", {}, None, None, None)["verify"] != str(ca)
    pw = tmp_path / "pw"
    pw.write_text("a-password\n")
    ours = TrinoAuth.from_parts(ANALYST, None, pw, ca).session()
    assert ours.merge_environment_settings("https://x", {}, None, None, None)["verify"] == str(ca)
    # An explicit per-request choice still applies.
    assert ours.merge_environment_settings("https://x", {}, None, False, None)["verify"] is False
