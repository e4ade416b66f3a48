"""Small socket helpers shared by the demo, the benchmarks and the tests."""

from __future__ import annotations

import socket


def bound_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening-ready TCP socket bound to `port` (0: a free one), to hand to a server without a race."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now (for programs that insist on binding themselves; a small race is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def split_host_port(text: str, *, default_host: str = "127.0.0.1") -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: expected HOST:PORT")
    return host or default_host, int(port)


def listen_address(text: str) -> tuple[str, int]:
    """A server's `listen` setting, HOST:PORT (an IPv6 host in brackets, `[::]:5023`; no host: every address; port 0:
    a free one), as (host, port); ValueError naming the value otherwise."""
    try:
        if ":" not in text:
            raise ValueError(text)
        host, port = split_host_port(text, default_host="0.0.0.0")
    except ValueError:
        raise ValueError(f"listen {text!r} must be HOST:PORT") from None
    return host.strip("[]"), port
