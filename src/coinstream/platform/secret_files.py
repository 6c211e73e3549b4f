"""Passwords handed to a process as files (a mounted Secret, or the local state dir's 0600 file).

Kafka and Trino clients take them the same way: a value given directly wins, else the file is
read once, stripped of its trailing newline, and wrapped so it never reaches a log or a repr.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from coinstream.errors import CoinstreamError


def password_from(
    password: SecretStr | None, password_file: Path | None, service: str, error: type[CoinstreamError]
) -> SecretStr | None:
    """`password`, else the content of `password_file`; `error` names `service` when it is unreadable."""
    if password is not None or password_file is None:
        return password
    try:
        return SecretStr(password_file.read_text().strip())
    except OSError as exc:
        raise error(f"cannot read the {service} password file {password_file}: {exc.strerror}") from None
