"""Two `up` on the same state home: the second refuses at once and starts nothing."""

import fcntl
import os

import pytest

from p300_ops.localcloud import lifecycle
from p300_ops.localcloud.localstack import cloud_state_dir, localstack_env


def test_a_second_up_refuses_while_the_first_holds_the_state_home(tmp_path):
    fd = os.open(tmp_path / "up.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"4242")
        config = lifecycle.CloudConfig(home=tmp_path, localstack_port=1, mlflow_port=2)
        with pytest.raises(lifecycle.AlreadyRunning, match=r"another `p300 up` \(PID 4242\)"):
            lifecycle.up(config, progress=lambda _: None)
    finally:
        os.close(fd)
    assert not (tmp_path / "cloud.json").exists()
    assert not (tmp_path / "localstack").exists()


def test_the_cloud_state_folder_and_its_recovery_setting_reach_localstack(tmp_path, monkeypatch):
    monkeypatch.setenv("P300_CLOUD_STATE_RECOVERY", "salvage")
    env = localstack_env(tmp_path, 4566)
    assert env["P300_CLOUD_STATE_DIR"] == str(cloud_state_dir(tmp_path))
    assert env["P300_CLOUD_STATE_RECOVERY"] == "salvage"


def test_the_configs_localstack_environment_is_what_localstack_is_started_with(
    tmp_path, monkeypatch
):
    started = {}

    def start_localstack(home, *, port, env_overrides=None):
        started.update(home=home, port=port, env=env_overrides)
        raise lifecycle.LocalCloudError("stop here")

    monkeypatch.setattr(lifecycle.localstack, "start_localstack", start_localstack)
    config = lifecycle.CloudConfig(
        home=tmp_path, localstack_port=1, mlflow_port=2, localstack_env={"P300_TRACEMALLOC": "4"}
    )
    with pytest.raises(lifecycle.LocalCloudError, match="stop here"):
        lifecycle.up(config, progress=lambda _: None)
    assert started == {"home": tmp_path, "port": 1, "env": {"P300_TRACEMALLOC": "4"}}
