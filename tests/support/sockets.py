"""Which addresses a running service listens on, read from the kernel (psutil), not from config."""

from __future__ import annotations

import psutil

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every listening TCP socket of `pid` and its descendants."""
    root = psutil.Process(pid)
    out = []
    for proc in [root, *root.children(recursive=True)]:
        try:
            conns = proc.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        out += [(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN]
    return sorted(set(out))


def beyond_loopback(pid: int) -> list[tuple[str, int]]:
    """Listening sockets reachable from other machines (a wildcard or a real interface)."""
    return [(ip, port) for ip, port in listening(pid) if ip not in LOOPBACK]
