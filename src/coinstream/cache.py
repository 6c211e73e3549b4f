"""The one download cache (COINSTREAM_CACHE, default ~/.cache/coinstream).

Every artifact is keyed by pinned version and verified against a checksum before
use, so a CI clone reuses a warm cache safely and a cold one still works.
Maven artifacts are checked against the SHA-1 Maven Central publishes next to
each file, or a pinned SHA-256 where we have one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import requests

from coinstream.errors import OperationalError
from coinstream.settings import get_settings


def cache_dir() -> Path:
    return get_settings().cache_dir


def maven_central() -> str:
    return get_settings().maven_url.rstrip("/")


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class DownloadError(OperationalError):
    pass


def fetch(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    sha1: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Download `url` to `dest` once; verify; atomic rename so a killed run leaves no half file.

    A cached file is verified again against `sha256` before it is used: the cache is shared and
    writable, so its content proves nothing by itself."""
    if dest.exists():
        if sha256 and _digest(dest, "sha256") != sha256.lower():
            raise DownloadError(
                f"{dest}: cached file does not match the pinned sha256 {sha256}; delete it to download it again"
            )
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        resp = requests.get(url, stream=True, timeout=(10, 120))
        resp.raise_for_status()
    except requests.RequestException as exc:
        raise DownloadError(f"cannot download {url}: {exc}") from None
    total = int(resp.headers.get("content-length", 0))
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    done = 0
    with os.fdopen(fd, "wb") as out:
        for chunk in resp.iter_content(1 << 20):
            out.write(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    tmp_path = Path(tmp)
    for algo, want in (("sha256", sha256), ("sha1", sha1)):
        if want and _digest(tmp_path, algo) != want.lower():
            tmp_path.unlink()
            raise DownloadError(f"{url}: {algo} mismatch (expected {want})")
    tmp_path.rename(dest)
    return dest


def maven_url(coords: str) -> str:
    """`group:artifact:version[:ext[:classifier]]` -> its Maven Central URL."""
    parts = coords.split(":")
    group, artifact, version = parts[:3]
    ext = parts[3] if len(parts) > 3 else "jar"
    classifier = f"-{parts[4]}" if len(parts) > 4 else ""
    return f"{maven_central()}/{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}{classifier}.{ext}"


def fetch_maven(coords: str, *, sha256: str | None = None, progress: Callable[[int, int], None] | None = None) -> Path:
    """A Maven Central artifact; with `sha256` (pinned in the repository) it is checked against that,
    on download and every later use, else only against the server's own .sha1."""
    url = maven_url(coords)
    dest = cache_dir() / "maven" / url.removeprefix(maven_central() + "/")
    if dest.exists():
        return fetch(url, dest, sha256=sha256)
    sha1 = None
    if sha256 is None:
        try:
            r = requests.get(url + ".sha1", timeout=(10, 30))
            r.raise_for_status()
            sha1 = r.text.split()[0]
        except requests.RequestException as exc:
            raise DownloadError(f"cannot fetch checksum for {coords}: {exc}") from None
    return fetch(url, dest, sha256=sha256, sha1=sha1, progress=progress)
