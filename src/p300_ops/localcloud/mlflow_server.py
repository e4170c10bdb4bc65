"""The MLflow tracking server: metadata in SQLite or PostgreSQL, artifacts in LocalStack S3.

The server proxies artifacts (`--serve-artifacts`), so clients, Lambdas included, only need the
tracking URI; the bytes land in `s3://p300-mlflow-artifacts`.
"""

import os
import urllib.request
from pathlib import Path

from p300_aws.names import MLFLOW_ARTIFACTS_BUCKET
from p300_aws.telemetry import TELEMETRY_OFF
from p300_ops import paths
from p300_ops.localcloud.localstack import CREDENTIALS, REGION, endpoint_url
from p300_ops.localcloud.processes import (
    LocalCloudError,
    ServerProcess,
    check_port_free,
    start_server,
    stop_server,
    tail,
    wait_until,
)

DEFAULT_PORT = 5050
ARTIFACT_BUCKET = MLFLOW_ARTIFACTS_BUCKET


def tracking_uri(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def sqlite_store_uri(home: Path) -> str:
    db = home / "mlflow" / "mlflow.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{db}"


def is_healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"{tracking_uri(port)}/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def start_mlflow(
    home: Path,
    *,
    port: int,
    backend_store_uri: str,
    localstack_port: int,
) -> ServerProcess:
    """Start `mlflow server` on 127.0.0.1:`port`; `wait_for_mlflow` waits until it answers."""
    check_port_free(port, what="the MLflow server")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(home)),
        "LANG": "C.UTF-8",
        **CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "MLFLOW_S3_ENDPOINT_URL": endpoint_url(localstack_port),
        # The GenAI job runner (a dozen worker processes) serves nothing we use.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        **TELEMETRY_OFF,
    }
    server = start_server(
        "mlflow",
        [
            str(paths.PROJECT_BIN / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            backend_store_uri,
            "--serve-artifacts",
            "--artifacts-destination",
            f"s3://{ARTIFACT_BUCKET}",
        ],
        port=port,
        log_path=home / "logs" / "mlflow.log",
        env=env,
        cwd=home,
    )
    return server


def wait_for_mlflow(server: ServerProcess, *, timeout: float = 90.0) -> ServerProcess:
    """Wait for the server's /health; stop it and raise LocalCloudError if it never answers."""
    if not wait_until(
        lambda: is_healthy(server.port), timeout=timeout, server=server, interval=0.3
    ):
        stop_server(server, timeout=5)
        raise LocalCloudError(
            f"the MLflow server did not become healthy on port {server.port} within "
            f"{timeout:.0f} s. Last lines of {server.log_path}:\n{tail(server.log_path)}"
        )
    return server
