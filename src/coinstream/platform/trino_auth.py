"""How every coinstream Trino client connects: HTTPS, verified, with a password.

Trino answers only over TLS and only to a user of its password file, in both modes: the
embedded stack's Trino (`coinstream local up --trino`) and the chart's. Every client the
package opens (the SQL engine, the dashboard, the notebooks, the stack's own probes) is built
here from one description, so none of them can drift to plain http or skip the certificate
check. The password comes from a mounted Secret file, the environment or the local stack's
state dir (0600), and is sent only as the Basic authorization header, never logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, SecretStr

from coinstream.errors import UserInputError
from coinstream.platform.secret_files import password_from

#: Reads the lake's `coinstream` schema, nothing else (the dashboard, notebooks, reports).
ANALYST = "analyst"
#: Maintenance: creates, writes and drops tables, runs procedures.
ADMIN = "admin"
USERS = (ANALYST, ADMIN)


class TrinoAuthError(UserInputError):
    """Trino client settings that cannot work (no password, unreadable file)."""


def local_ca_file(trino_home: Path) -> Path:
    """The local CA certificate a local Trino's server certificate chains to."""
    return trino_home / "tls" / "ca.crt"


def local_password_file(trino_home: Path, user: str) -> Path:
    """Where the local stack keeps `user`'s Trino password (0600, made at Trino's first start)."""
    return trino_home / "users" / f"{user}.password"


class TrinoAuth(BaseModel):
    model_config = ConfigDict(frozen=True)

    user: str
    password: SecretStr
    #: The CA to verify the server against; None: the system's trust store.
    ca_file: Path | None = None

    @classmethod
    def from_parts(
        cls, user: str, password: SecretStr | None, password_file: Path | None, ca_file: Path | None
    ) -> TrinoAuth:
        password = password_from(password, password_file, "Trino", TrinoAuthError)
        if password is None:
            raise TrinoAuthError(
                f"Trino needs a password for user {user!r}: start the local Trino (`coinstream local up --trino`, "
                "it writes one into the state dir) or set COINSTREAM_TRINO_PASSWORD_FILE (a mounted Secret)"
            )
        return cls(user=user, password=password, ca_file=ca_file)

    @classmethod
    def local(cls, trino_home: Path, user: str) -> TrinoAuth:
        """`user` of the local Trino whose state is under `trino_home`."""
        return cls.from_parts(user, None, local_password_file(trino_home, user), local_ca_file(trino_home))

    @property
    def verify(self) -> str | bool:
        return str(self.ca_file) if self.ca_file is not None else True

    def session(self) -> requests.Session:
        """An https session that verifies against `ca_file` (REQUESTS_CA_BUNDLE cannot replace it)."""
        session = _PinnedCASession()
        session.verify = self.verify
        return session

    def connect(self, host: str, port: int, *, catalog: str | None = None, schema: str | None = None) -> Any:
        """A DB-API connection over https, the server's certificate checked, as `user`."""
        import trino

        return trino.dbapi.connect(
            host=host,
            port=port,
            user=self.user,
            catalog=catalog,
            schema=schema,
            http_scheme="https",
            auth=trino.auth.BasicAuthentication(self.user, self.password.get_secret_value()),
            http_session=self.session(),
        )


class _PinnedCASession(requests.Session):
    """requests lets REQUESTS_CA_BUNDLE override a session's `verify`; Trino's CA must win."""

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None:
            settings["verify"] = self.verify
        return settings
