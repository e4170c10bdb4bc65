"""Run LocalStack 2026.3.0 on the host with our extension (Docker-free Lambda, durable S3, fixes).

Every instance gets private directories under its state home, because LocalStack (seeing the
machine's /.dockerenv) would otherwise share temporary and data folders with other instances.
"""

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from p300_ops import paths
from p300_ops.localcloud.processes import (
    LocalCloudError,
    ServerProcess,
    check_port_free,
    start_server,
    tail,
    wait_until,
)

DEFAULT_PORT = 4566
REGION = "us-east-1"
#: How the extension's durable logs start their report when they refuse damaged state
#: (`LogSchema.refusal` in the extension's durable_s3/recovery.py): durable S3 and the cloud state.
REFUSALS = ("durable S3 refused to start", "cloud state refused to start")
#: How coverage.py tells a Python subprocess to measure itself (its `process_startup`).
COVERAGE_ENV = ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START")
#: The credentials LocalStack accepts; not secrets.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def endpoint_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def client_env(port: int) -> dict[str, str]:
    """Environment for AWS clients (boto3, the CDK CLI) talking to the LocalStack on `port`."""
    url = endpoint_url(port)
    return {
        **CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": url,
        "AWS_ENDPOINT_URL_S3": url,
    }


def ensure_extension_installed(home: Path) -> None:
    """Install `localstack-extension/` into the LocalStack venv when its sources changed.

    plux caches entry points keyed by coarse file times, so its cache (private to our instances
    through XDG_CACHE_HOME) is dropped after every install, or the plugins would silently vanish.
    """
    source = paths.LOCALSTACK_EXTENSION
    digest = hashlib.sha256()
    for file in sorted(source.rglob("*")):
        if file.is_file() and "__pycache__" not in file.parts and ".egg-info" not in str(file):
            digest.update(str(file.relative_to(source)).encode())
            digest.update(file.read_bytes())
    stamp = paths.LOCALSTACK_PYTHON.parent.parent / ".p300-extension-stamp"
    # Clouds starting at once (other homes, parallel test workers) install one at a time.
    with open(stamp.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.exists() and stamp.read_text() == digest.hexdigest()):
            _install_extension(source, home)
            stamp.write_text(digest.hexdigest())


def _install_extension(source: Path, home: Path) -> None:
    uv = paths.LOCALSTACK_PYTHON.parent / "uv"
    result = subprocess.run(
        [
            str(uv),
            "pip",
            "install",
            "-q",
            "--python",
            str(paths.LOCALSTACK_PYTHON),
            "--reinstall-package",
            "p300-localstack",
            "--no-deps",
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise LocalCloudError(f"installing the LocalStack extension failed:\n{result.stderr}")
    shutil.rmtree(home / "localstack" / "cache" / "plux", ignore_errors=True)


def localstack_env(home: Path, port: int, overrides: Mapping[str, str] | None = None) -> dict:
    state = home / "localstack"
    for sub in ("fs", "tmp", "cache"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(home)),
        "LANG": "C.UTF-8",
        # Machine quirks (see docs/local-cloud.md): private dirs, no DNS server, no downloads.
        "OVERRIDE_IN_DOCKER": "0",
        "FILESYSTEM_ROOT": str(state / "fs"),
        "TMPDIR": str(state / "tmp"),
        "XDG_CACHE_HOME": str(state / "cache"),
        "DNS_ADDRESS": "0",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "DISABLE_EVENTS": "1",
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "LOCALSTACK_HOST": f"127.0.0.1:{port}",
        # Presigned URLs are checked as on AWS: the upload API's URLs must not be forgeable.
        "S3_SKIP_SIGNATURE_VALIDATION": "0",
        # Our extension.
        "LAMBDA_RUNTIME_EXECUTOR": "local",
        # Ten cold starts at once (a pipeline run) on 2 cores take longer than the default 20 s.
        "LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT": "120",
        "P300_LAMBDA_PYTHON": str(paths.LAMBDA_PYTHON),
        "P300_LAMBDA_WORKDIR": str(state / "lambda"),
        "P300_S3_DATA_DIR": str(home / "s3"),
        "P300_CLOUD_STATE_DIR": str(cloud_state_dir(home)),
        # 'salvage' after durable S3 or the cloud state refused damaged state (reports say when).
        "P300_S3_RECOVERY": os.environ.get("P300_S3_RECOVERY", ""),
        "P300_CLOUD_STATE_RECOVERY": os.environ.get("P300_CLOUD_STATE_RECOVERY", ""),
    }
    # A test run measuring coverage measures our extension in LocalStack too (`[run] patch`).
    env.update({k: v for k, v in os.environ.items() if k in COVERAGE_ENV})
    env.update(overrides or {})
    return env


def cloud_state_dir(home: Path) -> Path:
    """Where the extension keeps API ids and keys, Lambda versions and aliases, executions and
    alarm states across restarts (docs/local-cloud.md)."""
    return home / "cloud-state"


def health(port: int, *, timeout: float = 2.0) -> dict | None:
    """LocalStack's health document, or None when it does not answer."""
    try:
        with urllib.request.urlopen(
            f"{endpoint_url(port)}/_localstack/health", timeout=timeout
        ) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


def start_localstack(
    home: Path,
    *,
    port: int = DEFAULT_PORT,
    env_overrides: Mapping[str, str] | None = None,
    timeout: float = 90.0,
) -> ServerProcess:
    """Start LocalStack on 127.0.0.1:`port` and wait until it is healthy.

    Raises LocalCloudError with the tail of its log when it does not come up.
    """
    check_port_free(port, what="LocalStack")
    home.mkdir(parents=True, exist_ok=True)
    ensure_extension_installed(home)
    server = start_server(
        "localstack",
        [str(paths.LOCALSTACK_PYTHON), "-m", "localstack.runtime.main"],
        port=port,
        log_path=home / "logs" / "localstack.log",
        env=localstack_env(home, port, env_overrides),
        cwd=home,
    )
    if not wait_until(lambda: _is_ready(port), timeout=timeout, server=server):
        from p300_ops.localcloud.processes import stop_server

        stop_server(server, timeout=5)
        raise LocalCloudError(_start_failure(server.log_path, port, timeout))
    return server


def _start_failure(log_path: Path, port: int, timeout: float) -> str:
    """Why LocalStack did not come up: the report of durable S3 or the cloud state when one
    refused the stored state, else the last lines of the log."""
    text = tail(log_path, lines=200)
    at = max(text.rfind(refusal) for refusal in REFUSALS)
    if at >= 0:
        return f"LocalStack did not start: {text[at:]}\n(whole log: {log_path})"
    return (
        f"LocalStack did not become healthy on port {port} within {timeout:.0f} s. "
        f"Last lines of {log_path}:\n{tail(log_path)}"
    )


def _is_ready(port: int) -> bool:
    doc = health(port)
    return bool(doc and doc.get("services"))


def aws_client(service: str, port: int, *, config=None):
    """A boto3 client for `service` on the LocalStack listening on `port`.

    `config`: an optional `botocore.config.Config` (retries, timeouts, pool size).
    """
    import boto3

    env = client_env(port)
    return boto3.client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        config=config,
    )
