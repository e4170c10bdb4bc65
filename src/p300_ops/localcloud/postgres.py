"""A real local PostgreSQL server for MLflow's metadata (`p300 up --backend postgres`).

Installed from Debian's `postgresql` package when missing. PostgreSQL refuses to run as root, so
as root the server runs as the `postgres` user; `setpriv` execs it in place, so the PID we record
is the postmaster's own.
"""

import glob
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from p300_ops.localcloud.processes import (
    LocalCloudError,
    ServerProcess,
    check_port_free,
    start_server,
    stop_server,
    tail,
    wait_until,
)

DEFAULT_PORT = 5433
DATABASE = "mlflow"
USER = "mlflow"


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


def ensure_installed() -> Path:
    """The PostgreSQL binaries folder, installing Debian's package when needed."""
    bindir = _bindir()
    if bindir:
        return bindir
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise LocalCloudError(
            "PostgreSQL is not installed and cannot be installed automatically here "
            "(needs root and apt-get). Install the 'postgresql' package, or use --backend sqlite."
        )
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "postgresql"]):
        result = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if result.returncode != 0:
            raise LocalCloudError(f"`{' '.join(cmd)}` failed:\n{result.stderr[-2000:]}")
    bindir = _bindir()
    if not bindir:
        raise LocalCloudError("the postgresql package installed no server binary")
    return bindir


def _as_db_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]


def _check_reachable_by_db_user(folder: Path) -> None:
    reachable = subprocess.run(_as_db_user(["test", "-x", str(folder.parent)])).returncode == 0
    if not reachable:
        raise LocalCloudError(
            f"the postgres user cannot reach {folder.parent} (a parent folder is private to "
            f"root); PostgreSQL refuses to run as root, so choose a state home it can reach"
        )


def store_uri(port: int) -> str:
    return f"postgresql+psycopg://{USER}@127.0.0.1:{port}/{DATABASE}"


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def start_postgres(home: Path, *, port: int, timeout: float = 60.0) -> ServerProcess:
    """Start (initialising on first use) a PostgreSQL server on 127.0.0.1:`port`."""
    check_port_free(port, what="PostgreSQL")
    bindir = ensure_installed()
    root = home / "postgres"
    data = root / "data"
    sockets = root / "run"
    sockets.mkdir(parents=True, exist_ok=True)
    fresh = not (data / "PG_VERSION").exists()
    if fresh:
        data.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        _check_reachable_by_db_user(root)
        shutil.chown(root, "postgres", "postgres")
        for path in (data, sockets):
            shutil.chown(path, "postgres", "postgres")
        data.chmod(0o700)
    if fresh:
        result = subprocess.run(
            _as_db_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    USER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise LocalCloudError(f"initdb failed:\n{result.stderr[-2000:]}")
    server = start_server(
        "postgres",
        _as_db_user(
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
                "-k",
                str(sockets),
            ]
        ),
        port=port,
        log_path=home / "logs" / "postgres.log",
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        cwd=root,
    )
    if not wait_until(lambda: _accepts_connections(port), timeout=timeout, server=server):
        stop_server(server, timeout=5)
        raise LocalCloudError(
            f"PostgreSQL did not start on port {port}. Last lines of {server.log_path}:\n"
            f"{tail(server.log_path)}"
        )
    _ensure_database(bindir, port)
    return server


def _ensure_database(bindir: Path, port: int) -> None:
    import psycopg

    for _ in range(50):
        try:
            with psycopg.connect(
                f"host=127.0.0.1 port={port} user={USER} dbname=postgres", autocommit=True
            ) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
                ).fetchone()
                if not exists:
                    conn.execute(f"CREATE DATABASE {DATABASE}")
                return
        except psycopg.OperationalError:  # still starting up
            time.sleep(0.2)
    raise LocalCloudError(f"PostgreSQL on port {port} accepts no connections")
