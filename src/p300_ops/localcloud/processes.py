"""Start background servers and stop exactly those, by PID.

A server is identified by its PID *and* its start time, so a recycled PID is never mistaken for it.
"""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


class LocalCloudError(RuntimeError):
    """A local-cloud operation failed; the message says what and what to do."""


@dataclass(frozen=True)
class ServerProcess:
    """A background server we started."""

    name: str
    pid: int
    create_time: float
    port: int
    log_path: str

    def to_dict(self) -> dict:
        return asdict(self)

    def process(self) -> psutil.Process | None:
        """The live process, or None when it is gone (or its PID now belongs to another)."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.5 or proc.status() == "zombie":
                return None
            return proc
        except psutil.NoSuchProcess:
            return None

    def is_running(self) -> bool:
        return self.process() is not None


def check_port_free(port: int, *, what: str) -> None:
    """Raise LocalCloudError naming `what` when 127.0.0.1:`port` is already taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Connections of a stopped server linger in TIME_WAIT; only a listener makes it busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        except OSError:
            raise LocalCloudError(
                f"port {port} on 127.0.0.1 is already in use, so {what} cannot listen there; "
                f"stop whatever uses it or choose another port"
            ) from None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path | None = None,
) -> ServerProcess:
    """Start `argv` in its own session, output appended to `log_path`; the PID is Popen's own."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    return ServerProcess(
        name=name,
        pid=proc.pid,
        create_time=psutil.Process(proc.pid).create_time(),
        port=port,
        log_path=str(log_path),
    )


def stop_server(server: ServerProcess, *, timeout: float = 30.0) -> bool:
    """Stop `server` and every process it started: SIGTERM, then SIGKILL after `timeout` s.

    Returns False when it was not running. Descendants are collected by PID before the signal, so
    only processes this server started are touched.
    """
    proc = server.process()
    if proc is None:
        return False
    family = [proc, *proc.children(recursive=True)]
    proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs([proc], timeout=timeout)
    for p in alive:
        p.kill()
    # Children that outlived their parent (e.g. a runtime environment mid-invocation).
    _, leftovers = psutil.wait_procs(family, timeout=5)
    for p in leftovers:
        p.kill()
    psutil.wait_procs(leftovers, timeout=5)
    return True


def kill_server(server: ServerProcess) -> None:
    """SIGKILL the server process alone, as a crash would (children are not touched)."""
    proc = server.process()
    if proc is not None:
        os.kill(server.pid, signal.SIGKILL)
        psutil.wait_procs([proc], timeout=10)


def tail(path: Path | str, *, lines: int = 30) -> str:
    """The last `lines` lines of a log file ('' when absent)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
    except FileNotFoundError:
        return ""


def wait_until(predicate, *, timeout: float, interval: float = 0.2, server: ServerProcess) -> bool:
    """Poll `predicate` until true; False on timeout or when `server` died meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if not server.is_running():
            return False
        time.sleep(interval)
    return False
