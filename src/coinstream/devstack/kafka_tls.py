"""Key material of the local TLS servers (the secure broker, Trino), made once into their state
dirs with the JDK's keytool.

A private CA per service signs its server certificate (SAN 127.0.0.1, localhost and any other
address the server listens on); clients trust the CA's PEM. Passwords are random and live in
files readable by the user only. Nothing here is committed, cached or shared between state dirs.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from coinstream.devstack.jvm import java_bin
from coinstream.devstack.process import ServiceError, private_dir

BROKER_PRINCIPAL = "User:CN=coinstream-local-broker"


def _keytool() -> str:
    return str(Path(java_bin()).with_name("keytool"))


@dataclass(frozen=True)
class ServerTLS:
    root: Path
    #: The server's alias, file names and CN (`coinstream-local-<name>`).
    name: str = "broker"
    #: Addresses besides 127.0.0.1 the certificate names (a broker listening on another local
    #: address for clients that verify the hostname).
    ips: tuple[str, ...] = ()

    @property
    def ca_file(self) -> Path:
        return self.root / "ca.crt"

    @property
    def keystore(self) -> Path:
        return self.root / f"{self.name}.p12"

    @property
    def password_file(self) -> Path:
        return self.root / "keystore.password"

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    def ensure(self) -> None:
        """CA + server key pair and certificate, unless they exist already."""
        if self.keystore.exists() and self.ca_file.exists():
            return
        private_dir(self.root)
        secret = write_secret(self.password_file)
        ca_store = self.root / "ca.p12"
        san = ",".join(f"ip:{ip}" for ip in dict.fromkeys(("127.0.0.1", *self.ips)))
        name, csr, crt = self.name, str(self.root / f"{self.name}.csr"), str(self.root / f"{self.name}.crt")
        common = ["-storetype", "PKCS12", "-storepass", secret, "-keypass", secret]
        steps = [
            ["-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname", "secp256r1", "-validity", "3650",
             "-dname", "CN=coinstream-local-ca", "-ext", "bc:c", "-keystore", str(ca_store), *common],
            ["-exportcert", "-rfc", "-alias", "ca", "-keystore", str(ca_store), "-file", str(self.ca_file), *common],
            ["-genkeypair", "-alias", name, "-keyalg", "EC", "-groupname", "secp256r1", "-validity", "825",
             "-dname", f"CN=coinstream-local-{name}", "-keystore", str(self.keystore), *common],
            ["-certreq", "-alias", name, "-keystore", str(self.keystore), "-file", csr, *common],
            ["-gencert", "-rfc", "-alias", "ca", "-keystore", str(ca_store), "-validity", "825",
             "-infile", csr, "-outfile", crt,
             "-ext", f"SAN={san},dns:localhost", "-ext", "KU=digitalSignature",
             "-ext", "EKU=serverAuth,clientAuth", *common],
            ["-importcert", "-noprompt", "-alias", "ca", "-keystore", str(self.keystore), "-file", str(self.ca_file),
             *common],
            ["-importcert", "-noprompt", "-alias", name, "-keystore", str(self.keystore), "-file", crt, *common],
        ]  # fmt: skip
        for args in steps:
            proc = subprocess.run([_keytool(), *args], capture_output=True, text=True, check=False, umask=0o077)
            if proc.returncode != 0:
                raise ServiceError(f"keytool {args[0]} failed: {proc.stdout}{proc.stderr}")
        (self.root / "ca.p12").chmod(0o600)


def write_secret(path: Path) -> str:
    """A random secret in a 0600 file, created once; returns it."""
    if not path.exists():
        private_dir(path.parent)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()
