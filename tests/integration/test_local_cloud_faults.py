"""Faults at start-up each give one clear message and a non-zero exit, and leave nothing behind."""

import socket
import subprocess

import pytest

from p300_ops import paths
from p300_ops.localcloud import lifecycle
from p300_ops.localcloud.localstack import start_localstack
from p300_ops.localcloud.mlflow_server import start_mlflow, wait_for_mlflow
from p300_ops.localcloud.processes import LocalCloudError, free_port

pytestmark = [pytest.mark.cloud, pytest.mark.timeout(900)]


def run_cli(*args, home):
    return subprocess.run(
        [str(paths.PROJECT_BIN / "p300"), *args, "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_up_on_a_busy_port_fails_clearly_and_starts_nothing(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        result = run_cli(
            "up", "--port", str(port), "--mlflow-port", str(free_port()), home=tmp_path
        )
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use, so LocalStack cannot listen" in (
        result.stderr
    )
    assert not (tmp_path / "cloud.json").exists()


def test_localstack_failing_to_start_shows_the_tail_of_its_log(tmp_path):
    with pytest.raises(LocalCloudError, match="did not become healthy") as failure:
        # A listen address LocalStack cannot parse makes its start-up fail.
        start_localstack(
            tmp_path,
            port=free_port(),
            env_overrides={"GATEWAY_LISTEN": "127.0.0.1:notaport"},
            timeout=60,
        )
    assert "Last lines of" in str(failure.value)
    assert "notaport" in str(failure.value)


def test_mlflow_failing_to_start_shows_the_tail_of_its_log(tmp_path):
    server = start_mlflow(
        tmp_path,
        port=free_port(),
        backend_store_uri="nosuchscheme://nowhere",
        localstack_port=free_port(),
    )
    with pytest.raises(LocalCloudError, match="MLflow server did not become healthy") as failure:
        wait_for_mlflow(server, timeout=60)
    assert "nosuchscheme" in str(failure.value)
    assert not server.is_running()


def test_down_and_status_when_nothing_runs(tmp_path):
    down = run_cli("down", home=tmp_path)
    assert down.returncode == 0
    assert "nothing is running" in down.stderr
    status = run_cli("status", home=tmp_path)
    assert status.returncode == 1
    assert "not running" in status.stdout
    with pytest.raises(lifecycle.NothingRunning):
        lifecycle.down(tmp_path)
