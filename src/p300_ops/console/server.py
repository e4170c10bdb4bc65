"""Serving the console: uvicorn on a socket bound to 127.0.0.1 only (never another address)."""

import errno
import socket
from collections.abc import Callable
from pathlib import Path

from p300_ops.services.errors import ServiceError

HOST = "127.0.0.1"
DEFAULT_PORT = 8300


class PortInUse(ServiceError):
    """The console's port is taken on 127.0.0.1."""


def bind(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1:``port`` (0: any free port).

    Raises
    ------
    PortInUse
        When another process listens on that port.
    ValueError
        When ``port`` is not in 0–65535.
    """
    if not (isinstance(port, int) and 0 <= port <= 65535):
        raise ValueError(f"port must be an integer in 0-65535, got {port!r}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} on {HOST} is already in use: stop what listens there or choose "
                "another with --port (--port 0 picks a free one)"
            ) from None
        raise
    sock.listen(128)
    return sock


def url(sock: socket.socket) -> str:
    return f"http://{HOST}:{sock.getsockname()[1]}/"


def serve(home: str | Path | None, *, port: int, announce: Callable[[str], None]) -> None:
    """Serve the console of the cloud in ``home`` until interrupted; ``announce`` gets its URL
    once the socket listens."""
    import uvicorn

    from p300_ops.console.app import create_app

    sock = bind(port)
    config = uvicorn.Config(create_app(home), log_level="warning", access_log=False)
    announce(url(sock))
    uvicorn.Server(config).run(sockets=[sock])
