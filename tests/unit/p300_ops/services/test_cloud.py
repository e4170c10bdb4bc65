import os
import time

import psutil
import pytest

from p300_ops.localcloud.lifecycle import CloudState
from p300_ops.localcloud.processes import ServerProcess
from p300_ops.services.cloud import CloudNotRunning, connect


def test_no_state_file_means_not_running(tmp_path):
    with pytest.raises(CloudNotRunning, match=r"not running: run `p300 up` \(state home"):
        connect(str(tmp_path))


def test_a_state_file_left_by_a_dead_localstack_means_not_running(tmp_path):
    dead = ServerProcess(name="localstack", pid=2**22 - 1, create_time=time.time(), port=1,
                         log_path=str(tmp_path / "log"))  # fmt: skip
    CloudState(home=str(tmp_path), backend="sqlite", servers={"localstack": dead}).save()
    with pytest.raises(CloudNotRunning, match="the local cloud is not running"):
        connect(str(tmp_path))


def test_clients_point_at_the_recorded_port(tmp_path):
    me = ServerProcess(
        name="localstack",
        pid=os.getpid(),
        create_time=psutil.Process().create_time(),
        port=4999,
        log_path=str(tmp_path / "log"),
    )
    CloudState(home=str(tmp_path), backend="sqlite", servers={"localstack": me}).save()
    clients = connect(str(tmp_path))
    assert clients.endpoint_url == "http://127.0.0.1:4999"
    assert clients.s3.meta.endpoint_url == "http://127.0.0.1:4999"
